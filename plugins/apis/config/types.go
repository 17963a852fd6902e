package config

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResolverConfig is the image-platform resolver's configuration: one type,
// with one set of names, defaults (v1.SetDefaults_ResolverConfig) and
// validation (validation.ValidateResolverConfig), for the scheduler
// plugin's args (inline in ArchFitArgs) and the expander's and placement's
// command-line flags (internal/resolverflags). See v1.ResolverConfig for
// each field's meaning and default.
type ResolverConfig struct {
	UnknownImagePolicy               string
	FallbackArchitectures            []string
	InsecureRegistries               []string
	AllowedPrivateRegistries         []string
	DockerHubMirror                  string
	RequestTimeout                   metav1.Duration
	TagTTL                           metav1.Duration
	NegativeTTL                      metav1.Duration
	MaxConcurrentRequestsPerRegistry int32
	CacheSize                        int32
	RollbackRecords                  string
}

// ArchFitArgs configures the ArchFit plugin. See v1.ArchFitArgs for the
// meaning of each field and its default.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ArchFitArgs struct {
	metav1.TypeMeta

	ResolverConfig

	ArchitectureWeights map[string]float64
	PriceTable          string
	PriceAnnotation     string
	LookupBudget        metav1.Duration
	UsePullSecrets      bool
	DockerConfigFile    string
	SkipNamespaces      []string
	NamespaceSelector   *metav1.LabelSelector
	PlacementEvents     string
}

// PlacementEvents values.
const (
	PlacementEventsPerWorkload = "PerWorkload"
	PlacementEventsPerPod      = "PerPod"
	PlacementEventsNone        = "None"
)

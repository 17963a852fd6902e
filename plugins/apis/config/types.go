package config

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ArchFitArgs configures the ArchFit plugin. See v1.ArchFitArgs for the
// meaning of each field and its default.
type ArchFitArgs struct {
	metav1.TypeMeta

	UnknownImagePolicy               string
	FallbackArchitectures            []string
	ArchitectureWeights              map[string]float64
	PriceTable                       string
	PriceAnnotation                  string
	InsecureRegistries               []string
	AllowedPrivateRegistries         []string
	DockerHubMirror                  string
	LookupBudget                     metav1.Duration
	TagTTL                           metav1.Duration
	NegativeTTL                      metav1.Duration
	RequestTimeout                   metav1.Duration
	MaxConcurrentRequestsPerRegistry int32
	CacheSize                        int32
	UsePullSecrets                   bool
	DockerConfigFile                 string
	SkipNamespaces                   []string
	NamespaceSelector                *metav1.LabelSelector
	PlacementEvents                  string
}

// PlacementEvents values.
const (
	PlacementEventsPerWorkload = "PerWorkload"
	PlacementEventsPerPod      = "PerPod"
	PlacementEventsNone        = "None"
)

// DeepCopyInto copies the receiver into out.
func (in *ArchFitArgs) DeepCopyInto(out *ArchFitArgs) {
	*out = *in
	out.FallbackArchitectures = append([]string(nil), in.FallbackArchitectures...)
	out.InsecureRegistries = append([]string(nil), in.InsecureRegistries...)
	out.AllowedPrivateRegistries = append([]string(nil), in.AllowedPrivateRegistries...)
	out.SkipNamespaces = append([]string(nil), in.SkipNamespaces...)
	if in.ArchitectureWeights != nil {
		out.ArchitectureWeights = make(map[string]float64, len(in.ArchitectureWeights))
		for k, v := range in.ArchitectureWeights {
			out.ArchitectureWeights[k] = v
		}
	}
	if in.NamespaceSelector != nil {
		out.NamespaceSelector = in.NamespaceSelector.DeepCopy()
	}
}

// DeepCopy returns a copy.
func (in *ArchFitArgs) DeepCopy() *ArchFitArgs {
	if in == nil {
		return nil
	}
	out := new(ArchFitArgs)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ArchFitArgs) DeepCopyObject() runtime.Object { return in.DeepCopy() }

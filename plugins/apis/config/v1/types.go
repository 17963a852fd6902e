package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResolverConfig configures the image-platform resolver. The scheduler
// plugin takes it inline in ArchFitArgs; archfit-expander and
// archfit-placement take the same settings, with the same defaults, as
// flags (--unknown-image-policy, --fallback-architectures,
// --insecure-registry, --allowed-private-registry, --docker-hub-mirror,
// --request-timeout, --tag-ttl, --negative-ttl,
// --max-concurrent-requests-per-registry, --cache-size, --rollback-records).
type ResolverConfig struct {
	// UnknownImagePolicy applies when an image's platforms cannot be learned
	// (registry down, unauthorised, timed out, malformed reference):
	// Fallback (default) restricts the pod to FallbackArchitectures;
	// AllowAll lets it run anywhere (fail open); Deny keeps it off every
	// node until the image is known (fail closed).
	UnknownImagePolicy *string `json:"unknownImagePolicy,omitempty"`
	// FallbackArchitectures for the Fallback policy. Default [amd64].
	FallbackArchitectures []string `json:"fallbackArchitectures,omitempty"`
	// InsecureRegistries are host:port values reachable over plain HTTP.
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`
	// AllowedPrivateRegistries may resolve to loopback or link-local
	// addresses (refused otherwise, against SSRF).
	AllowedPrivateRegistries []string `json:"allowedPrivateRegistries,omitempty"`
	// DockerHubMirror looks Docker Hub images up in this registry instead
	// (air-gapped clusters with a containerd mirror).
	DockerHubMirror *string `json:"dockerHubMirror,omitempty"`
	// RequestTimeout bounds one registry lookup. Default 10s.
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`
	// TagTTL is how long a tag→digest answer is fresh. Default 1h.
	TagTTL *metav1.Duration `json:"tagTTL,omitempty"`
	// NegativeTTL is how long a failed lookup is remembered. Default 30s.
	NegativeTTL *metav1.Duration `json:"negativeTTL,omitempty"`
	// MaxConcurrentRequestsPerRegistry bounds lookups in flight to one
	// registry. Default 8.
	MaxConcurrentRequestsPerRegistry *int32 `json:"maxConcurrentRequestsPerRegistry,omitempty"`
	// CacheSize bounds each resolver cache, in entries. Default 10000.
	CacheSize *int32 `json:"cacheSize,omitempty"`
	// RollbackRecords is the ConfigMap, as namespace/name, of migration's
	// rollback records: image digests found not to run on an arch (exec
	// format error, or a crash loop on that arch only). A lookup whose
	// digest has a record treats the image as lacking that arch. Empty
	// reads none. Default archfit/archfit-rollbacks.
	RollbackRecords *string `json:"rollbackRecords,omitempty"`
}

// ArchFitArgs configures the ArchFit plugin.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ArchFitArgs struct {
	metav1.TypeMeta `json:",inline"`

	// ResolverConfig's fields sit at the top level of the args.
	ResolverConfig `json:",inline"`

	// ArchitectureWeights are relative prices per arch, used for nodes the
	// price annotation and table do not know. Default arm64: 0.8, amd64: 1.0.
	ArchitectureWeights map[string]float64 `json:"architectureWeights,omitempty"`
	// PriceTable is the path of an instance-type price table (YAML or JSON;
	// a mounted ConfigMap works). Empty: the shipped table.
	PriceTable *string `json:"priceTable,omitempty"`
	// PriceAnnotation on a node holds its hourly price and wins over the
	// table. Default archfit.dev/hourly-price.
	PriceAnnotation *string `json:"priceAnnotation,omitempty"`
	// LookupBudget is how long PreFilter waits for a pending lookup before
	// sending the pod back to the queue. The scheduling cycle is serial, so
	// keep it short. Default 100ms, at most 1s.
	LookupBudget *metav1.Duration `json:"lookupBudget,omitempty"`
	// UsePullSecrets reads pods' imagePullSecrets (and their service
	// accounts') to authenticate lookups. Off by default: it needs RBAC to
	// read Secrets. Default false.
	UsePullSecrets *bool `json:"usePullSecrets,omitempty"`
	// DockerConfigFile is a docker config.json whose credentials are used
	// for every lookup after the pod's own.
	DockerConfigFile *string `json:"dockerConfigFile,omitempty"`
	// SkipNamespaces are never constrained (PreFilter returns Skip).
	SkipNamespaces []string `json:"skipNamespaces,omitempty"`
	// NamespaceSelector, when set, limits ArchFit to namespaces whose labels
	// match; pods elsewhere are skipped.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// PlacementEvents says how often the informational Events
	// ArchFitPlacedOnCheaperArch and ArchFitImageLacksArch are written:
	// PerWorkload (default) once an hour per reason for the pods of one
	// controller (a ReplicaSet, StatefulSet, Job...), and per pod for pods
	// without one; PerPod on every pod; None never (the metrics still
	// count). Warnings (ArchFitImageUnknown, ArchFitInvalidOverride) are
	// always per pod.
	PlacementEvents *string `json:"placementEvents,omitempty"`
}

// Package v1 holds the versioned ArchFitArgs that users write in a
// KubeSchedulerConfiguration (apiVersion kubescheduler.config.k8s.io/v1,
// kind ArchFitArgs). Field names are a contract: scripts outside this
// repository set them.
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ArchFitArgs configures the ArchFit plugin.
type ArchFitArgs struct {
	metav1.TypeMeta `json:",inline"`

	// UnknownImagePolicy applies when an image's platforms cannot be learned
	// (registry down, unauthorised, timed out, malformed reference):
	// Fallback (default) restricts the pod to FallbackArchitectures;
	// AllowAll lets it run anywhere (fail open); Deny keeps it off every
	// node until the image is known (fail closed).
	UnknownImagePolicy *string `json:"unknownImagePolicy,omitempty"`
	// FallbackArchitectures for the Fallback policy. Default [amd64].
	FallbackArchitectures []string `json:"fallbackArchitectures,omitempty"`
	// ArchitectureWeights are relative prices per arch, used for nodes the
	// price annotation and table do not know. Default arm64: 0.8, amd64: 1.0.
	ArchitectureWeights map[string]float64 `json:"architectureWeights,omitempty"`
	// PriceTable is the path of an instance-type price table (YAML or JSON;
	// a mounted ConfigMap works). Empty: the shipped table.
	PriceTable *string `json:"priceTable,omitempty"`
	// PriceAnnotation on a node holds its hourly price and wins over the
	// table. Default archfit.dev/hourly-price.
	PriceAnnotation *string `json:"priceAnnotation,omitempty"`
	// InsecureRegistries are host:port values reachable over plain HTTP.
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`
	// AllowedPrivateRegistries may resolve to loopback or link-local
	// addresses (refused otherwise, against SSRF).
	AllowedPrivateRegistries []string `json:"allowedPrivateRegistries,omitempty"`
	// DockerHubMirror looks Docker Hub images up in this registry instead
	// (air-gapped clusters with a containerd mirror).
	DockerHubMirror *string `json:"dockerHubMirror,omitempty"`
	// LookupBudget is how long PreFilter waits for a pending lookup before
	// sending the pod back to the queue. The scheduling cycle is serial, so
	// keep it short. Default 100ms, at most 1s.
	LookupBudget *metav1.Duration `json:"lookupBudget,omitempty"`
	// TagTTL is how long a tag→digest answer is fresh. Default 1h.
	TagTTL *metav1.Duration `json:"tagTTL,omitempty"`
	// NegativeTTL is how long a failed lookup is remembered. Default 30s.
	NegativeTTL *metav1.Duration `json:"negativeTTL,omitempty"`
	// RequestTimeout bounds one registry lookup. Default 10s.
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`
	// MaxConcurrentRequestsPerRegistry. Default 8.
	MaxConcurrentRequestsPerRegistry *int32 `json:"maxConcurrentRequestsPerRegistry,omitempty"`
	// CacheSize bounds each resolver cache, in entries. Default 10000.
	CacheSize *int32 `json:"cacheSize,omitempty"`
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

// DeepCopyInto copies the receiver into out.
func (in *ArchFitArgs) DeepCopyInto(out *ArchFitArgs) {
	*out = *in
	cp := func(s *string) *string {
		if s == nil {
			return nil
		}
		v := *s
		return &v
	}
	cpd := func(d *metav1.Duration) *metav1.Duration {
		if d == nil {
			return nil
		}
		v := *d
		return &v
	}
	cpi := func(i *int32) *int32 {
		if i == nil {
			return nil
		}
		v := *i
		return &v
	}
	out.UnknownImagePolicy = cp(in.UnknownImagePolicy)
	out.PriceTable = cp(in.PriceTable)
	out.PriceAnnotation = cp(in.PriceAnnotation)
	out.DockerConfigFile = cp(in.DockerConfigFile)
	out.DockerHubMirror = cp(in.DockerHubMirror)
	out.PlacementEvents = cp(in.PlacementEvents)
	out.LookupBudget = cpd(in.LookupBudget)
	out.TagTTL = cpd(in.TagTTL)
	out.NegativeTTL = cpd(in.NegativeTTL)
	out.RequestTimeout = cpd(in.RequestTimeout)
	out.MaxConcurrentRequestsPerRegistry = cpi(in.MaxConcurrentRequestsPerRegistry)
	out.CacheSize = cpi(in.CacheSize)
	if in.UsePullSecrets != nil {
		v := *in.UsePullSecrets
		out.UsePullSecrets = &v
	}
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

package v1

import (
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/archfit/archfit/plugins/apis/config"
)

// RegisterConversions registers the v1 ⇄ internal conversions. They are
// written by hand: the type is small and conversion-gen would add a build
// step for one struct.
func RegisterConversions(s *runtime.Scheme) error {
	if err := s.AddConversionFunc((*ArchFitArgs)(nil), (*config.ArchFitArgs)(nil), func(a, b interface{}, _ conversion.Scope) error {
		Convert_v1_ArchFitArgs_To_config_ArchFitArgs(a.(*ArchFitArgs), b.(*config.ArchFitArgs))
		return nil
	}); err != nil {
		return err
	}
	return s.AddConversionFunc((*config.ArchFitArgs)(nil), (*ArchFitArgs)(nil), func(a, b interface{}, _ conversion.Scope) error {
		Convert_config_ArchFitArgs_To_v1_ArchFitArgs(a.(*config.ArchFitArgs), b.(*ArchFitArgs))
		return nil
	})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// Convert_v1_ArchFitArgs_To_config_ArchFitArgs converts to the internal type.
func Convert_v1_ArchFitArgs_To_config_ArchFitArgs(in *ArchFitArgs, out *config.ArchFitArgs) {
	c := in.DeepCopy()
	out.UnknownImagePolicy = deref(c.UnknownImagePolicy)
	out.FallbackArchitectures = c.FallbackArchitectures
	out.ArchitectureWeights = c.ArchitectureWeights
	out.PriceTable = deref(c.PriceTable)
	out.PriceAnnotation = deref(c.PriceAnnotation)
	out.InsecureRegistries = c.InsecureRegistries
	out.AllowedPrivateRegistries = c.AllowedPrivateRegistries
	out.LookupBudget = deref(c.LookupBudget)
	out.TagTTL = deref(c.TagTTL)
	out.NegativeTTL = deref(c.NegativeTTL)
	out.RequestTimeout = deref(c.RequestTimeout)
	out.MaxConcurrentRequestsPerRegistry = deref(c.MaxConcurrentRequestsPerRegistry)
	out.CacheSize = deref(c.CacheSize)
	out.UsePullSecrets = deref(c.UsePullSecrets)
	out.DockerConfigFile = deref(c.DockerConfigFile)
	out.DockerHubMirror = deref(c.DockerHubMirror)
	out.SkipNamespaces = c.SkipNamespaces
	out.NamespaceSelector = c.NamespaceSelector
	out.PlacementEvents = deref(c.PlacementEvents)
}

// Convert_config_ArchFitArgs_To_v1_ArchFitArgs converts from the internal type.
func Convert_config_ArchFitArgs_To_v1_ArchFitArgs(in *config.ArchFitArgs, out *ArchFitArgs) {
	c := in.DeepCopy()
	out.UnknownImagePolicy = ptr(c.UnknownImagePolicy)
	out.FallbackArchitectures = c.FallbackArchitectures
	out.ArchitectureWeights = c.ArchitectureWeights
	out.PriceTable = ptr(c.PriceTable)
	out.PriceAnnotation = ptr(c.PriceAnnotation)
	out.InsecureRegistries = c.InsecureRegistries
	out.AllowedPrivateRegistries = c.AllowedPrivateRegistries
	out.LookupBudget = ptr(c.LookupBudget)
	out.TagTTL = ptr(c.TagTTL)
	out.NegativeTTL = ptr(c.NegativeTTL)
	out.RequestTimeout = ptr(c.RequestTimeout)
	out.MaxConcurrentRequestsPerRegistry = ptr(c.MaxConcurrentRequestsPerRegistry)
	out.CacheSize = ptr(c.CacheSize)
	out.UsePullSecrets = ptr(c.UsePullSecrets)
	out.DockerConfigFile = ptr(c.DockerConfigFile)
	out.DockerHubMirror = ptr(c.DockerHubMirror)
	out.SkipNamespaces = c.SkipNamespaces
	out.NamespaceSelector = c.NamespaceSelector
	out.PlacementEvents = ptr(c.PlacementEvents)
}

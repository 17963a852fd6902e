package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
)

// Defaults, exported so docs and tests can name them. The resolver's are
// the resolver's own, so a setting left out means the same thing whether it
// was left out of the args, the flags or the code.
const (
	DefaultUnknownImagePolicy               = string(imageplatform.PolicyFallback)
	DefaultFallbackArchitecture             = "amd64"
	DefaultRequestTimeout                   = imageplatform.DefaultRequestTimeout
	DefaultTagTTL                           = imageplatform.DefaultTagTTL
	DefaultNegativeTTL                      = imageplatform.DefaultNegativeTTL
	DefaultMaxConcurrentRequestsPerRegistry = imageplatform.DefaultMaxPerRegistry
	DefaultCacheSize                        = imageplatform.DefaultCacheSize
	DefaultRollbackRecords                  = "archfit/archfit-rollbacks"
	DefaultPriceAnnotation                  = cost.DefaultPriceAnnotation
	DefaultLookupBudget                     = 100 * time.Millisecond
	DefaultPlacementEvents                  = config.PlacementEventsPerWorkload
)

// SetDefaults_ResolverConfig fills unset resolver settings.
func SetDefaults_ResolverConfig(obj *ResolverConfig) {
	setString(&obj.UnknownImagePolicy, DefaultUnknownImagePolicy)
	setString(&obj.DockerHubMirror, "")
	if len(obj.FallbackArchitectures) == 0 {
		obj.FallbackArchitectures = []string{DefaultFallbackArchitecture}
	}
	setDuration(&obj.RequestTimeout, DefaultRequestTimeout)
	setDuration(&obj.TagTTL, DefaultTagTTL)
	setDuration(&obj.NegativeTTL, DefaultNegativeTTL)
	setInt32(&obj.MaxConcurrentRequestsPerRegistry, DefaultMaxConcurrentRequestsPerRegistry)
	setInt32(&obj.CacheSize, DefaultCacheSize)
	setString(&obj.RollbackRecords, DefaultRollbackRecords)
}

// SetDefaults_ArchFitArgs fills the plugin's own unset fields; the
// generated SetObjectDefaults_ArchFitArgs also applies
// SetDefaults_ResolverConfig to the inlined resolver settings.
func SetDefaults_ArchFitArgs(obj *ArchFitArgs) {
	setString(&obj.PriceTable, "")
	setString(&obj.PriceAnnotation, DefaultPriceAnnotation)
	setString(&obj.DockerConfigFile, "")
	setString(&obj.PlacementEvents, DefaultPlacementEvents)
	setDuration(&obj.LookupBudget, DefaultLookupBudget)
	if obj.UsePullSecrets == nil {
		f := false
		obj.UsePullSecrets = &f
	}
	if obj.ArchitectureWeights == nil {
		obj.ArchitectureWeights = cost.DefaultArchitectureWeights()
	}
}

// DefaultResolverConfig is the resolver configuration with every default
// applied, in the internal type the commands' flags bind to.
func DefaultResolverConfig() config.ResolverConfig {
	var v ResolverConfig
	SetDefaults_ResolverConfig(&v)
	var out config.ResolverConfig
	// Cannot fail: the generated conversion of these types returns no error.
	_ = Convert_v1_ResolverConfig_To_config_ResolverConfig(&v, &out, nil)
	return out
}

// DefaultArchFitArgs is ArchFitArgs with every default applied, in the
// internal type: what a profile that enables ArchFit without args gets.
func DefaultArchFitArgs() *config.ArchFitArgs {
	var v ArchFitArgs
	SetObjectDefaults_ArchFitArgs(&v)
	out := &config.ArchFitArgs{}
	_ = Convert_v1_ArchFitArgs_To_config_ArchFitArgs(&v, out, nil)
	return out
}

func setString(p **string, v string) {
	if *p == nil {
		*p = &v
	}
}

func setDuration(p **metav1.Duration, v time.Duration) {
	if *p == nil {
		*p = &metav1.Duration{Duration: v}
	}
}

func setInt32(p **int32, v int32) {
	if *p == nil {
		*p = &v
	}
}

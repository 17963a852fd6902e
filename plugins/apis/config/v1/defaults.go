package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults, exported so docs and tests can name them.
const (
	DefaultUnknownImagePolicy               = "Fallback"
	DefaultPriceAnnotation                  = "archfit.dev/hourly-price"
	DefaultLookupBudget                     = 100 * time.Millisecond
	DefaultTagTTL                           = time.Hour
	DefaultNegativeTTL                      = 30 * time.Second
	DefaultRequestTimeout                   = 10 * time.Second
	DefaultMaxConcurrentRequestsPerRegistry = 8
	DefaultCacheSize                        = 10000
	DefaultPlacementEvents                  = "PerWorkload"
)

// SetDefaults_ArchFitArgs fills unset fields.
func SetDefaults_ArchFitArgs(obj *ArchFitArgs) {
	str := func(p **string, v string) {
		if *p == nil {
			*p = &v
		}
	}
	dur := func(p **metav1.Duration, v time.Duration) {
		if *p == nil {
			*p = &metav1.Duration{Duration: v}
		}
	}
	i32 := func(p **int32, v int32) {
		if *p == nil {
			*p = &v
		}
	}
	str(&obj.UnknownImagePolicy, DefaultUnknownImagePolicy)
	str(&obj.PriceTable, "")
	str(&obj.PriceAnnotation, DefaultPriceAnnotation)
	str(&obj.DockerConfigFile, "")
	str(&obj.DockerHubMirror, "")
	str(&obj.PlacementEvents, DefaultPlacementEvents)
	dur(&obj.LookupBudget, DefaultLookupBudget)
	dur(&obj.TagTTL, DefaultTagTTL)
	dur(&obj.NegativeTTL, DefaultNegativeTTL)
	dur(&obj.RequestTimeout, DefaultRequestTimeout)
	i32(&obj.MaxConcurrentRequestsPerRegistry, DefaultMaxConcurrentRequestsPerRegistry)
	i32(&obj.CacheSize, DefaultCacheSize)
	if obj.UsePullSecrets == nil {
		f := false
		obj.UsePullSecrets = &f
	}
	if len(obj.FallbackArchitectures) == 0 {
		obj.FallbackArchitectures = []string{"amd64"}
	}
	if obj.ArchitectureWeights == nil {
		obj.ArchitectureWeights = map[string]float64{"arm64": 0.8, "amd64": 1.0}
	}
}

// RegisterDefaults registers the defaulting function with a scheme.
func RegisterDefaults(scheme *runtime.Scheme) error {
	scheme.AddTypeDefaultingFunc(&ArchFitArgs{}, func(obj interface{}) { SetDefaults_ArchFitArgs(obj.(*ArchFitArgs)) })
	return nil
}

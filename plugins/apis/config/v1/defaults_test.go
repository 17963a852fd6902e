package v1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/plugins/apis/config"
)

// defaulted is ArchFitArgs with every default, written out by hand: a
// default that changes must change here too.
func defaulted() ArchFitArgs {
	return ArchFitArgs{
		ResolverConfig: ResolverConfig{
			UnknownImagePolicy:               ptr.To("Fallback"),
			FallbackArchitectures:            []string{"amd64"},
			DockerHubMirror:                  ptr.To(""),
			RequestTimeout:                   &metav1.Duration{Duration: 10 * time.Second},
			TagTTL:                           &metav1.Duration{Duration: time.Hour},
			NegativeTTL:                      &metav1.Duration{Duration: 30 * time.Second},
			MaxConcurrentRequestsPerRegistry: ptr.To[int32](8),
			CacheSize:                        ptr.To[int32](10000),
			RollbackRecords:                  ptr.To("archfit/archfit-rollbacks"),
		},
		ArchitectureWeights: map[string]float64{"arm64": 0.8, "amd64": 1.0},
		PriceTable:          ptr.To(""),
		PriceAnnotation:     ptr.To("archfit.dev/hourly-price"),
		LookupBudget:        &metav1.Duration{Duration: 100 * time.Millisecond},
		UsePullSecrets:      ptr.To(false),
		DockerConfigFile:    ptr.To(""),
		PlacementEvents:     ptr.To("PerWorkload"),
	}
}

func TestSetObjectDefaults(t *testing.T) {
	set := func(a *ArchFitArgs) {
		a.UnknownImagePolicy = ptr.To("Deny")
		a.FallbackArchitectures = []string{"arm64"}
		a.InsecureRegistries = []string{"registry.local:5000"}
		a.CacheSize = ptr.To[int32](5)
		a.ArchitectureWeights = map[string]float64{"arm64": 0.5}
		a.UsePullSecrets = ptr.To(true)
		a.PlacementEvents = ptr.To("None")
	}
	var partial ArchFitArgs
	set(&partial)
	wantPartial := defaulted()
	set(&wantPartial)
	for name, tc := range map[string]struct {
		in, want ArchFitArgs
	}{
		"empty args get every default":            {ArchFitArgs{}, defaulted()},
		"set values are kept, the rest defaulted": {partial, wantPartial},
	} {
		t.Run(name, func(t *testing.T) {
			got := tc.in.DeepCopy()
			SetObjectDefaults_ArchFitArgs(got)
			if d := cmp.Diff(&tc.want, got); d != "" {
				t.Fatalf("defaults (-want +got):\n%s", d)
			}
		})
	}
}

// The commands' flags and the plugin's args start from the same values.
func TestDefaultResolverConfigIsTheArgsDefault(t *testing.T) {
	args := DefaultArchFitArgs()
	if d := cmp.Diff(args.ResolverConfig, DefaultResolverConfig()); d != "" {
		t.Fatalf("flags' defaults differ from the args' (-args +flags):\n%s", d)
	}
	want := config.ResolverConfig{
		UnknownImagePolicy:               "Fallback",
		FallbackArchitectures:            []string{"amd64"},
		RequestTimeout:                   metav1.Duration{Duration: 10 * time.Second},
		TagTTL:                           metav1.Duration{Duration: time.Hour},
		NegativeTTL:                      metav1.Duration{Duration: 30 * time.Second},
		MaxConcurrentRequestsPerRegistry: 8,
		CacheSize:                        10000,
		RollbackRecords:                  "archfit/archfit-rollbacks",
	}
	if d := cmp.Diff(want, DefaultResolverConfig()); d != "" {
		t.Fatalf("DefaultResolverConfig (-want +got):\n%s", d)
	}
}

// A deep copy shares nothing mutable with its original.
func TestDeepCopyIsDeep(t *testing.T) {
	in := &ArchFitArgs{
		ResolverConfig:      ResolverConfig{UnknownImagePolicy: ptr.To("Deny"), InsecureRegistries: []string{"a:1"}},
		ArchitectureWeights: map[string]float64{"arm64": 0.8},
		NamespaceSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
	}
	out := in.DeepCopy()
	*out.UnknownImagePolicy = "AllowAll"
	out.InsecureRegistries[0] = "b:2"
	out.ArchitectureWeights["arm64"] = 9
	out.NamespaceSelector.MatchLabels["a"] = "c"
	if *in.UnknownImagePolicy != "Deny" || in.InsecureRegistries[0] != "a:1" || in.ArchitectureWeights["arm64"] != 0.8 || in.NamespaceSelector.MatchLabels["a"] != "b" {
		t.Fatalf("changing the copy changed the original: %+v", in)
	}
}

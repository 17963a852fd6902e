package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
)

// Each bad resolver setting is reported at its own field, under the path
// of whatever holds it: the args (inline) or nothing (a command's flags).
func TestValidateResolverConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*config.ResolverConfig)
		want   []string
	}{
		"defaults":       {func(*config.ResolverConfig) {}, nil},
		"policy":         {func(c *config.ResolverConfig) { c.UnknownImagePolicy = "Sometimes" }, []string{"args.unknownImagePolicy"}},
		"empty fallback": {func(c *config.ResolverConfig) { c.FallbackArchitectures = nil }, []string{"args.fallbackArchitectures"}},
		"fallback name":  {func(c *config.ResolverConfig) { c.FallbackArchitectures = []string{"ARM"} }, []string{"args.fallbackArchitectures[0]"}},
		"registries": {func(c *config.ResolverConfig) {
			c.InsecureRegistries = []string{"ok:5000", "http://x/"}
			c.AllowedPrivateRegistries = []string{"a b"}
			c.DockerHubMirror = "/"
		}, []string{"args.insecureRegistries[1]", "args.allowedPrivateRegistries[0]", "args.dockerHubMirror"}},
		"durations and sizes": {func(c *config.ResolverConfig) {
			c.RequestTimeout.Duration, c.TagTTL.Duration, c.NegativeTTL.Duration = 0, -1, 0
			c.MaxConcurrentRequestsPerRegistry, c.CacheSize = 0, -3
		}, []string{"args.requestTimeout", "args.tagTTL", "args.negativeTTL", "args.maxConcurrentRequestsPerRegistry", "args.cacheSize"}},
		"rollback records":      {func(c *config.ResolverConfig) { c.RollbackRecords = "archfit-rollbacks" }, []string{"args.rollbackRecords"}},
		"rollback records name": {func(c *config.ResolverConfig) { c.RollbackRecords = "archfit/Not_A_Name" }, []string{"args.rollbackRecords"}},
		"no rollback records":   {func(c *config.ResolverConfig) { c.RollbackRecords = "" }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			c := v1.DefaultResolverConfig()
			tc.mutate(&c)
			var got []string
			for _, e := range ValidateResolverConfig(field.NewPath("args"), &c) {
				got = append(got, e.Field)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("errors at %q, want %q", got, tc.want)
			}
		})
	}
}

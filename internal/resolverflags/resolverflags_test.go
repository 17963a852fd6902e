package resolverflags

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Each setting has a flag, at the args' default; the old names still work
// and add to the new ones.
func TestFlags(t *testing.T) {
	f := Defaults()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs, "Fallback, AllowAll or Deny")
	for flag, def := range map[string]string{
		"unknown-image-policy": "Fallback", "fallback-architectures": "[amd64]", "insecure-registry": "[]",
		"allowed-private-registry": "[]", "docker-hub-mirror": "", "request-timeout": "10s", "tag-ttl": "1h0m0s",
		"negative-ttl": "30s", "max-concurrent-requests-per-registry": "8", "cache-size": "10000",
		"rollback-records": "archfit/archfit-rollbacks",
	} {
		fl := fs.Lookup(flag)
		if fl == nil {
			t.Errorf("no --%s", flag)
			continue
		}
		if fl.DefValue != def {
			t.Errorf("--%s defaults to %q, want %q", flag, fl.DefValue, def)
		}
	}
	err := fs.Parse([]string{"--allowed-private-registry=a:1", "--allow-private-registry=b:2", "--allowed-private-registry=c:3",
		"--registry-request-timeout=3s", "--cache-size=5", "--insecure-registry=r:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.AllowedPrivateRegistries, []string{"a:1", "b:2", "c:3"}) {
		t.Errorf("allowed private registries %q, want all three names' values", f.AllowedPrivateRegistries)
	}
	if f.RequestTimeout.Duration != 3*time.Second || f.CacheSize != 5 || !slices.Equal(f.InsecureRegistries, []string{"r:5000"}) {
		t.Errorf("parsed %+v", f.ResolverConfig)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("valid flags refused: %v", err)
	}
	f.CacheSize, f.InsecureRegistries, f.RollbackRecords = 0, []string{"http://x/"}, "nope"
	err = f.Validate()
	for _, want := range []string{"--cache-size: Invalid value: 0", `--insecure-registry: Invalid value: "http://x/"`, `--rollback-records: Invalid value: "nope"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}

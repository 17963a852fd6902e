// Tests of the shipped KubeSchedulerConfiguration files
// with kube-scheduler's own strict loader, so a typo here fails CI rather
// than a scheduler start in someone's cluster.
package schedulerconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	"github.com/archfit/archfit/plugins/apis/config"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/apis/config/validation"
	"github.com/archfit/archfit/plugins/archfit"
)

func load(t *testing.T, path string) (*schedconfig.KubeSchedulerConfiguration, error) {
	logger, _ := ktesting.NewTestContext(t)
	return options.LoadConfigFromFile(logger, path)
}

func archFitArgs(cfg *schedconfig.KubeSchedulerConfiguration) []*config.ArchFitArgs {
	var out []*config.ArchFitArgs
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			if pc.Name == archfit.Name {
				if a, ok := pc.Args.(*config.ArchFitArgs); ok {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func TestShippedConfigsLoadAndValidate(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want 3 shipped configs and a kustomization, found %v (%v)", files, err)
	}
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		t.Run(f, func(t *testing.T) {
			cfg, err := load(t, f)
			if err != nil {
				t.Fatalf("strict load: %v", err)
			}
			if err := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
				t.Fatalf("kube-scheduler validation: %v", err)
			}
			args := archFitArgs(cfg)
			if len(args) == 0 {
				t.Fatal("no ArchFitArgs decoded: the args did not reach archfit's types")
			}
			for _, a := range args {
				if err := validation.ValidateArchFitArgs(nil, a); err != nil {
					t.Fatalf("ArchFit args: %v", err)
				}
				if a.UnknownImagePolicy != "Fallback" || len(a.FallbackArchitectures) != 1 || a.FallbackArchitectures[0] != "amd64" {
					t.Errorf("unexpected policy %q %v", a.UnknownImagePolicy, a.FallbackArchitectures)
				}
				if a.LookupBudget.Duration <= 0 || a.RequestTimeout.Duration <= 0 {
					t.Errorf("defaults not applied: %+v", a)
				}
			}
		})
	}
}

func TestSecondaryProfileShape(t *testing.T) {
	cfg, err := load(t, "archfit-scheduler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Profiles) != 1 || cfg.Profiles[0].SchedulerName != "archfit-scheduler" {
		t.Fatalf("profiles = %+v", cfg.Profiles)
	}
	if !cfg.LeaderElection.LeaderElect || cfg.LeaderElection.ResourceName != "archfit-scheduler" {
		t.Errorf("leader election = %+v", cfg.LeaderElection)
	}
	// multiPoint is expanded by the framework at start-up; the integration
	// tests prove each extension point runs.
	var weight int32
	found := false
	for _, p := range cfg.Profiles[0].Plugins.MultiPoint.Enabled {
		if p.Name == archfit.Name {
			found, weight = true, p.Weight
		}
	}
	if !found || weight != 2 {
		t.Errorf("ArchFit in multiPoint: %v with weight %d, want weight 2", found, weight)
	}
	// Named at filter too, so the framework runs it before the multiPoint
	// filters.
	if f := cfg.Profiles[0].Plugins.Filter.Enabled; len(f) == 0 || f[0].Name != archfit.Name {
		t.Errorf("ArchFit is not the first explicitly enabled filter: %v", f)
	}
}

func TestFilterOnlyVariantDoesNotScore(t *testing.T) {
	cfg, err := load(t, "archfit-filter-only.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Profiles[0].Plugins.Score.Enabled {
		if p.Name == archfit.Name {
			t.Fatal("the filter-only variant enables ArchFit's Score")
		}
	}
}

// A typo or a bad value in a shipped file must fail: prove the loader and
// the validation catch both on copies of the real files.
func TestTyposAndBadValuesFail(t *testing.T) {
	orig, err := os.ReadFile("archfit-scheduler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, tc := range map[string]struct{ from, to, want string }{
		"typo in an args field": {"unknownImagePolicy: Fallback", "unknownImagePolicyy: Fallback", "unknown field"},
		"bad policy value":      {"unknownImagePolicy: Fallback", "unknownImagePolicy: Sometimes", "unknownImagePolicy"},
		"bad duration":          {"lookupBudget: 100ms", "lookupBudget: 5s", "lookupBudget"},
	} {
		t.Run(name, func(t *testing.T) {
			body := strings.Replace(string(orig), tc.from, tc.to, 1)
			if body == string(orig) {
				t.Fatalf("%q not found in the shipped file", tc.from)
			}
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := load(t, p)
			if err == nil {
				for _, a := range archFitArgs(cfg) {
					if err = validation.ValidateArchFitArgs(nil, a); err != nil {
						break
					}
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The pull-secrets variant must stay the secondary profile plus one switch;
// a change to archfit-scheduler.yaml that is not carried over fails here.
func TestPullSecretsVariantDiffersOnlyInUsePullSecrets(t *testing.T) {
	base, err := os.ReadFile("archfit-scheduler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	variant, err := os.ReadFile("archfit-scheduler-pull-secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	strip := func(b []byte) []string {
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "#") {
				out = append(out, l)
			}
		}
		return out
	}
	b, v := strip(base), strip(variant)
	var extra []string
	i := 0
	for _, l := range v {
		if i < len(b) && l == b[i] {
			i++
			continue
		}
		extra = append(extra, l)
	}
	if i != len(b) || len(extra) != 1 || strings.TrimSpace(extra[0]) != "usePullSecrets: true" {
		t.Fatalf("the variant must be archfit-scheduler.yaml plus one line usePullSecrets: true; matched %d/%d lines, extra %q", i, len(b), extra)
	}
	cfg, err := load(t, "archfit-scheduler-pull-secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	args := archFitArgs(cfg)
	if len(args) != 1 || !args[0].UsePullSecrets {
		t.Fatalf("usePullSecrets did not decode as true: %+v", args)
	}
}

func TestPluginNameIsThePlugins(t *testing.T) {
	if pluginName != archfit.Name {
		t.Fatalf("pluginName %q, the plugin is %q", pluginName, archfit.Name)
	}
}

// The loopback variant is the shipped file with the registry allowed, and
// kube-scheduler's strict loader accepts it.
func TestForLoopbackRegistry(t *testing.T) {
	b, err := ForLoopbackRegistry("127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range cfg.Profiles {
		names = append(names, p.SchedulerName)
	}
	if strings.Join(names, ",") != "archfit-scheduler,default-scheduler" {
		t.Fatalf("profiles %v, want archfit-scheduler and default-scheduler", names)
	}
	args := archFitArgs(cfg)
	if len(args) != 1 || len(args[0].InsecureRegistries) != 1 || args[0].InsecureRegistries[0] != "127.0.0.1:5000" || args[0].DockerHubMirror != "127.0.0.1:5000" {
		t.Fatalf("ArchFit args %+v, want the registry insecure and as the mirror", args)
	}
}

// Package tiers checks that imports follow the project's tiers, so that the
// tree keeps showing the architecture: shared domain packages import no
// app, components build on them, commands and their features on both, and
// the test harness stays apart. No import runs back up, and nothing but a
// test driver imports a command's feature.
package tiers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/archfit/archfit/"

type tier int

const (
	shared    tier = iota // domain packages every part uses: the resolver, cost, API types
	deploy                // shipped configuration and manifests, embedded
	component             // the scheduler plugin, the expander, placement, and their servers
	harness               // what tests, benchmarks and the demo run against
	feature               // commands and what only a command uses
	driver                // the integration, e2e, bench and soak drivers under test/, which exercise everything
)

var tierName = map[tier]string{shared: "shared", deploy: "deploy", component: "component", harness: "harness", feature: "feature", driver: "driver"}

// tiers maps a package, or a tree when it ends in "/...", to its tier. A
// package in none of them fails the test: a new package gets a tier on
// purpose, not by accident.
var tiers = []struct {
	pattern string
	tier    tier
}{
	{"internal/cost", shared},
	{"internal/imageplatform", shared},
	{"internal/k8sbuild", shared},
	{"internal/metricsutil", shared},
	{"internal/migration", shared},
	{"internal/planner", shared},
	{"internal/resolverflags", shared},
	{"internal/tlsfiles", shared},
	{"expander/protos", shared},
	{"plugins/apis/...", shared},
	{"scheduler-config", deploy},
	{"manifests", deploy},
	{"plugins/archfit", component},
	{"expander", component},
	{"expander/app", component},
	{"internal/placement", component},
	{"internal/placement/app", component},
	{"internal/placement/controller", component},
	{"internal/migration/controller", component},
	{"test/harness/...", harness},
	{"test/...", driver},
	{"cmd/...", feature},
}

// allowed is what each tier's code may import; its tests may also import
// the harness (and deploy's tests the components, whose flags and args
// they check the shipped files against).
var allowed = map[tier][]tier{
	shared:    {shared},
	deploy:    {shared, deploy}, // manifests/base deploys scheduler-config
	component: {shared, component},
	harness:   {shared, deploy, component, harness},
	feature:   {shared, deploy, component, harness, feature},
	driver:    {shared, deploy, component, harness, feature, driver},
}

var allowedInTests = map[tier][]tier{
	shared:    {shared, harness},
	deploy:    {shared, deploy, component, harness},
	component: {shared, deploy, component, harness},
	harness:   {shared, deploy, component, harness},
	feature:   {shared, deploy, component, harness, feature},
	driver:    {shared, deploy, component, harness, feature, driver},
}

func tierOf(pkg string) (tier, bool) {
	rel := strings.TrimPrefix(pkg, module)
	for _, t := range tiers {
		if tree, ok := strings.CutSuffix(t.pattern, "/..."); ok {
			if rel == tree || strings.HasPrefix(rel, tree+"/") {
				return t.tier, true
			}
		} else if rel == t.pattern {
			return t.tier, true
		}
	}
	return 0, false
}

type pkg struct {
	Name         string
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func goList(t *testing.T) []pkg {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "list", "-json", module+"...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func contains(ts []tier, t tier) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// violations lists the imports of pkgs that the tiers forbid.
func violations(pkgs []pkg) []string {
	var out []string
	commands := map[string]bool{}
	for _, p := range pkgs {
		commands[p.ImportPath] = p.Name == "main"
	}
	check := func(from string, ft tier, imports []string, ok []tier, where string) {
		for _, imp := range imports {
			if !strings.HasPrefix(imp, module) || imp == from {
				continue
			}
			it, known := tierOf(imp)
			switch {
			case !known:
				continue // reported as unclassified below
			case commands[imp]:
				out = append(out, fmt.Sprintf("%s%s imports the command %s", from, where, imp))
			case !contains(ok, it):
				out = append(out, fmt.Sprintf("%s (%s)%s imports %s (%s)", from, tierName[ft], where, imp, tierName[it]))
			}
		}
	}
	for _, p := range pkgs {
		t, ok := tierOf(p.ImportPath)
		if !ok {
			out = append(out, fmt.Sprintf("%s has no tier: add it to tiers in test/tiers", p.ImportPath))
			continue
		}
		check(p.ImportPath, t, p.Imports, allowed[t], "")
		check(p.ImportPath, t, append(append([]string{}, p.TestImports...), p.XTestImports...), allowedInTests[t], "'s tests")
	}
	sort.Strings(out)
	return out
}

func TestImportsFollowTheTiers(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// The check itself catches what it is for.
func TestViolationsAreFound(t *testing.T) {
	got := violations([]pkg{
		{ImportPath: module + "internal/imageplatform", Imports: []string{module + "plugins/archfit"}},
		{ImportPath: module + "plugins/archfit", TestImports: []string{module + "cmd/archfit/demo"}},
		{ImportPath: module + "expander", Imports: []string{module + "cmd/archfit"}},
		{ImportPath: module + "cmd/archfit", Name: "main"},
		{ImportPath: module + "internal/newthing"},
		{ImportPath: module + "internal/placement", Imports: []string{module + "internal/imageplatform"}, XTestImports: []string{module + "test/harness/registrytest"}},
	})
	want := []string{
		module + "expander imports the command " + module + "cmd/archfit",
		module + "internal/imageplatform (shared) imports " + module + "plugins/archfit (component)",
		module + "internal/newthing has no tier: add it to tiers in test/tiers",
		module + "plugins/archfit (component)'s tests imports " + module + "cmd/archfit/demo (feature)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The planner is pure: it imports no Kubernetes package at all (client-go
// least of all), so that it can be fuzzed and benchmarked alone and fed by
// the controller, the report, the demo and the bench alike.
func TestPlannerIsPure(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-deps", module+"internal/planner").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !contains2(deps, module+"internal/planner") {
		t.Fatalf("go list -deps did not list the planner itself: %v", deps)
	}
	for _, d := range deps {
		first, _, _ := strings.Cut(d, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(d, module) {
			t.Errorf("internal/planner depends on %s; it must stay standard library only", d)
		}
	}
}

func contains2(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

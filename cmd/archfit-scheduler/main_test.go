package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestVersionRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"--config=x.yaml", "--version=true"}, true},
		{[]string{"--version=raw"}, false},
		{[]string{"--version=false"}, false},
		{[]string{"--config=x.yaml"}, false},
		{[]string{"--", "--version"}, false},
	} {
		if got := versionRequested(tc.args); got != tc.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestPrintVersion(t *testing.T) {
	var b bytes.Buffer
	code := printVersion(&b)
	if code != 0 {
		// A test binary records no modules; make test passes the version
		// stamps that stand in for them.
		t.Skipf("the build's Kubernetes release is unknown here (%q): run it as make test does, with K8S_LDFLAGS", b.String())
	}
	if !regexp.MustCompile(`^archfit-scheduler built on Kubernetes 1\.\d+ \(kube-scheduler v1\.\d+\.\d+\); needs kube-apiserver 1\.\d+ or newer\n$`).MatchString(b.String()) {
		t.Errorf("--version printed %q", b.String())
	}
}

// TestBuildModules checks each older minor's build module against the
// Makefile and against each other, so that a module added, dropped or
// drifted by `go get` fails here rather than in a cluster: every
// k8s1.MINOR directory is in SCHEDULER_MINORS and the other way round;
// each replaces k8s.io/kubernetes with a v1.MINOR release and every staging
// module it replaces with v0.MINOR of the same patch; and all share one
// deps.go and one build.go.
func TestBuildModules(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SCHEDULER_MINORS \?= (.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no SCHEDULER_MINORS")
	}
	listed := strings.Fields(string(m[1]))
	dirs, err := filepath.Glob("k8s1.*")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range dirs {
		found = append(found, strings.TrimPrefix(d, "k8s"))
	}
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Fatalf("build modules %v, but SCHEDULER_MINORS is %v", found, listed)
	}
	var deps []byte
	for _, minor := range found {
		dir := "k8s" + minor
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		mod := string(b)
		if !strings.Contains(mod, "module github.com/archfit/archfit/cmd/archfit-scheduler/"+dir+"\n") {
			t.Errorf("%s/go.mod: the module path does not name %s", dir, dir)
		}
		if !strings.Contains(mod, "replace github.com/archfit/archfit => ../../..\n") {
			t.Errorf("%s/go.mod does not build this tree's source (replace github.com/archfit/archfit => ../../..)", dir)
		}
		k := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes => k8s\.io/kubernetes v1\.(\d+)\.(\d+)$`).FindStringSubmatch(mod)
		if k == nil || "1."+k[1] != minor {
			t.Fatalf("%s/go.mod: k8s.io/kubernetes is not replaced with a %s release (%v)", dir, minor, k)
		}
		staging := regexp.MustCompile(`(?m)^\s*(k8s\.io/[a-z-]+) => (k8s\.io/[a-z-]+) (v\S+)$`).FindAllStringSubmatch(mod, -1)
		if len(staging) < 25 {
			t.Errorf("%s/go.mod replaces %d staging modules; k8s.io/kubernetes needs every one it requires at v0.0.0 replaced", dir, len(staging))
		}
		for _, r := range staging {
			if r[1] == "k8s.io/kubernetes" {
				continue
			}
			if r[1] != r[2] || r[3] != "v0."+k[1]+"."+k[2] {
				t.Errorf("%s/go.mod: %s => %s %s, want %s v0.%s.%s", dir, r[1], r[2], r[3], r[1], k[1], k[2])
			}
		}
		var d []byte
		for _, f := range []string{"deps.go", "build.go"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			d = append(d, b...)
		}
		if deps == nil {
			deps = d
		} else if !bytes.Equal(d, deps) {
			t.Errorf("%s/deps.go or build.go differs from k8s%s's: every build module compiles the same packages", dir, found[0])
		}
		if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
			t.Errorf("%s: no go.sum committed: %v", dir, err)
		}
	}
}

//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/archfit/archfit/test/harness/registrytest"
)

// artifacts is what every e2e test runs: the control plane's binaries,
// archfit's image in a loopback registry with the binaries taken back out
// of it, and the app images the tests' pods use. Building it is most of a
// cold run's time, so one run builds it once for all tests.
type artifacts struct {
	tools   string // etcd, kube-apiserver, kwok (and cluster-autoscaler)
	reg     *registrytest.Registry
	archfit string // archfit's image reference
	bins    string // archfit's binaries, out of the image
	// App images: an index for linux/amd64 and linux/arm64, and an
	// image for linux/amd64 alone.
	multi, amd string
}

var shared struct {
	once sync.Once
	art  *artifacts
}

// The registry must outlive every test that pulls from it, so it closes
// here rather than in the first test's cleanup.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.art != nil {
		shared.art.reg.Close()
		os.RemoveAll(shared.art.bins)
	}
	os.Exit(code)
}

// sharedArtifacts builds the artifacts in the first test that asks. A
// failure there fails that test (t.Fatal ends the Once too), and every later
// test fails fast instead of building again.
func sharedArtifacts(t *testing.T) *artifacts {
	t.Helper()
	shared.once.Do(func() { shared.art = buildArtifacts(t) })
	if shared.art == nil {
		t.Fatal("building the e2e artifacts failed in an earlier test: see its log")
	}
	return shared.art
}

func buildArtifacts(t *testing.T) *artifacts {
	t.Helper()
	ctx := context.Background()
	tools, err := filepath.Abs(filepath.Join(repoRoot, "bin", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	a := &artifacts{tools: tools}

	// The control plane's processes, from the module proxy.
	goBuild(t, ctx, "etcd", nil, "build", "-o", filepath.Join(tools, "etcd"), "go.etcd.io/etcd/server/v3")
	goBuild(t, ctx, "kube-apiserver", nil, "build", "-ldflags", k8sLDFlags, "-o", filepath.Join(tools, "kube-apiserver"), "k8s.io/kubernetes/cmd/kube-apiserver")
	goBuild(t, ctx, "kwok", []string{"GOBIN=" + tools, "GOFLAGS="}, "install", strings.Replace(kwokModule, "@", "/cmd/kwok@", 1))

	// archfit's image, by make images, into a loopback registry.
	a.reg = registrytest.New()
	a.archfit = a.reg.Host + "/archfit/archfit:e2e"
	imgStart := time.Now()
	// The main image alone: its archfit-scheduler is the newest minor's,
	// and TestOlderMinor builds an older minor's for this host only, where
	// the per-minor images would cross-compile every minor twice more.
	mk := exec.CommandContext(ctx, "make", "images", "IMAGE="+a.archfit, "INSECURE=1", "IMAGE_MINORS=")
	mk.Dir = repoRoot
	if b, err := mk.CombinedOutput(); err != nil {
		a.reg.Close()
		t.Fatalf("make images: %v\n%s", err, b)
	}
	t.Logf("make images: %s", time.Since(imgStart).Round(time.Second))
	dir, err := os.MkdirTemp("", "archfit-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	a.bins = extractBinaries(t, a.archfit, dir)
	a.multi, a.amd = a.reg.Host+"/app/multi:1", a.reg.Host+"/app/amd:1"
	for _, err := range []error{
		second(a.reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(a.reg.PushImage("app/amd:1", "linux/amd64", false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return a
}

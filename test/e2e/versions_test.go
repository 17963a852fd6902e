//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestOlderMinor runs archfit on an older Kubernetes minor's control plane,
// ARCHFIT_E2E_KUBE_MINOR (make e2e-versions sets it to each older minor):
// kube-apiserver and archfit-scheduler built from that minor's build module
// (cmd/archfit-scheduler/k8s<minor>), with the one build of
// archfit-placement every minor runs, all under the RBAC, config and flags
// the Helm chart installs for that minor. It checks that
//   - the chart chose the minor's archfit-scheduler image;
//   - the newest minor's archfit-scheduler (the image's) refuses to start
//     against this API server and names the build to run;
//   - the minor's own build takes the lease and places pods: Filter keeps an
//     amd64-only image off arm64, Score puts a multi-arch image on the
//     cheaper arm64, each explained in an Event;
//   - archfit-placement's webhook and gate write the image's platforms onto
//     a pod as required node affinity against this API server;
//   - archfit-expander, the one build too, answers CA's gRPC call with the
//     group each image can run on.
func TestOlderMinor(t *testing.T) {
	minor := os.Getenv("ARCHFIT_E2E_KUBE_MINOR")
	if minor == "" {
		t.Skip("ARCHFIT_E2E_KUBE_MINOR is not set: make e2e-versions runs this against each older minor's control plane")
	}
	ctx := context.Background()
	art := sharedArtifacts(t)
	mod, err := filepath.Abs(filepath.Join(repoRoot, "cmd", "archfit-scheduler", "k8s"+minor))
	if err != nil {
		t.Fatal(err)
	}
	release := minorRelease(t, mod)
	ldflags := fmt.Sprintf("-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=%s",
		release, strings.TrimPrefix(minor, "1."))
	bins := filepath.Join(art.tools, "k8s"+minor)
	c := &cluster{dir: t.TempDir(), schedPort: map[*proc]int{}, reg: art.reg, archfit: art.archfit, bins: art.bins,
		apiserverBin: filepath.Join(bins, "kube-apiserver"), schedBin: filepath.Join(bins, "archfit-scheduler"), chartKubeVersion: release}
	goBuildIn(t, ctx, mod, c.apiserverBin, nil, "build", "-ldflags", ldflags, "-o", c.apiserverBin, "k8s.io/kubernetes/cmd/kube-apiserver")
	goBuildIn(t, ctx, mod, c.schedBin, nil, "build", "-tags", "k8s"+minor, "-ldflags", ldflags, "-o", c.schedBin, "github.com/archfit/archfit/cmd/archfit-scheduler")
	keepLogsOnFailure(t, c.dir)

	c.startControlPlane(t, art.tools)
	v, err := c.cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != release {
		t.Fatalf("kube-apiserver reports %s, want %s", v.GitVersion, release)
	}
	c.install(t)
	dep, err := c.cs.AppsV1().Deployments("archfit").Get(ctx, "archfit-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "-k8s"+minor) {
		t.Errorf("the chart installed archfit-scheduler's image %s on a %s cluster, want the k8s%s build", img, release, minor)
	}
	c.startKwok(t, art.tools)
	for i, arch := range []string{"amd64", "arm64"} {
		it := map[string]string{"amd64": "m6i.large", "arm64": "m7g.large"}[arch]
		c.createNode(t, fmt.Sprintf("kwok-%s-%d", arch, i), arch, it)
	}
	c.prepareScheduler(t)

	t.Run("the newest minor's scheduler refuses this API server, naming the build to run", func(t *testing.T) {
		args := append([]string{"--config=" + c.schedCfg, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freePort(t)),
			"--authentication-kubeconfig=" + c.schedKC, "--authorization-kubeconfig=" + c.schedKC}, c.schedArgs...)
		p := start(t, c.dir, "archfit-scheduler-newest", filepath.Join(c.bins, "archfit-scheduler"), args...)
		deadline := time.Now().Add(60 * time.Second)
		for !p.exited() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if !p.exited() {
			p.stop(9, time.Second)
			t.Fatalf("archfit-scheduler built on the newest minor still runs after 60 s against kube-apiserver %s:\n%s", release, p.tail(20))
		}
		log, _ := os.ReadFile(p.log)
		for _, want := range []string{"kube-apiserver is " + minor, "Run the k8s" + minor + " build"} {
			if !strings.Contains(string(log), want) {
				t.Errorf("its log does not say %q:\n%s", want, p.tail(20))
			}
		}
	})

	c.waitLeader(t, c.startScheduler(t, "archfit-scheduler-"+minor))
	c.startPlacement(t)
	exp := c.startExpander(t)
	ns := "e2e"
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"archfit.dev/placement": "enabled"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("the minor's scheduler and placement place pods on their images' arch", func(t *testing.T) {
		for _, tc := range []struct {
			pod, image, arch, reason string
			allowed                  []string
		}{
			{"multi", c.reg.Host + "/app/multi:1", "arm64", "ArchFitPlacedOnCheaperArch", []string{"amd64", "arm64"}},
			{"amd-only", c.reg.Host + "/app/amd:1", "amd64", "", []string{"amd64"}},
		} {
			c.createPod(t, ns, tc.pod, tc.image, "archfit-scheduler")
			if got := c.waitRunningOn(t, ns, tc.pod); got != tc.arch {
				t.Errorf("%s (%s) runs on %s, want %s", tc.pod, tc.image, got, tc.arch)
			}
			pod, err := c.cs.CoreV1().Pods(ns).Get(ctx, tc.pod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := requiredArches(pod); !slices.Equal(got, tc.allowed) {
				t.Errorf("%s: placement wrote required arches %v, want %v", tc.pod, got, tc.allowed)
			}
			if tc.reason != "" {
				if n := c.countEvents(t, ns, tc.pod, tc.reason); n != 1 {
					t.Errorf("pod %s: %d %s Events, want 1", tc.pod, n, tc.reason)
				}
			}
		}
	})

	t.Run("the expander answers CA on this API server", func(t *testing.T) {
		for image, want := range map[string]string{c.reg.Host + "/app/amd:1": "ng-amd64", c.reg.Host + "/app/multi:1": "ng-arm64"} {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: ns},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}
			got := exp.bestOptions(t, pod, map[string]*corev1.Node{"ng-amd64": c.template(t, "kwok-amd64-0"), "ng-arm64": c.template(t, "kwok-arm64-1")})
			if strings.Join(got, ",") != want {
				t.Errorf("%s: answer %v, want %s", image, got, want)
			}
		}
	})
}

// minorRelease is the k8s.io/kubernetes release a build module replaces
// the main module's with.
func minorRelease(t *testing.T, mod string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mod, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "k8s.io/kubernetes" && f[1] == "=>" {
			return f[3]
		}
	}
	t.Fatalf("%s/go.mod replaces no k8s.io/kubernetes", mod)
	return ""
}

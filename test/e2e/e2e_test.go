//go:build e2e

// Package e2e runs archfit's shipped binaries as processes against a
// process-level control plane: etcd v3.7 and kube-apiserver built from the
// module proxy, and kwok v0.8 for Ready nodes and Running pods. The
// archfit-scheduler, archfit-expander and archfit-placement binaries are the linux/amd64 (or
// host-arch) ones taken out of the image `make images` pushed to a
// loopback registry, and they run with the manifests' RBAC, config and
// flags. `make e2e` runs it.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/archfit/archfit/cmd/archfit-images/imagebuild"
	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/manifests"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

const (
	repoRoot   = "../.."
	k8sLDFlags = "-X k8s.io/component-base/version.gitVersion=v1.37.1 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
	kwokModule = "sigs.k8s.io/kwok@v0.8.0"
	adminToken = "e2e-admin-token"
)

type cluster struct {
	dir       string
	server    string
	cs        kubernetes.Interface
	reg       *registrytest.Registry
	bins      string // archfit's binaries, out of the image
	archfit   string // archfit's image reference
	scheduler []*proc
	schedPort map[*proc]int
	schedCfg  string
	schedArgs []string
	schedKC   string
	placement *proc
	// An older minor's kube-apiserver and archfit-scheduler
	// (TestOlderMinor); else tools' and bins' own.
	apiserverBin, schedBin string
	// chartKubeVersion, when set, makes install apply the Helm chart
	// rendered for that Kubernetes version instead of manifests/base.
	chartKubeVersion string
}

func TestE2E(t *testing.T) {
	ctx := context.Background()
	began := time.Now()
	// Installed from the Helm chart, as most teams install; the CA tests
	// install manifests/base, and the manifests tests check both agree.
	c := &cluster{dir: t.TempDir(), schedPort: map[*proc]int{}, chartKubeVersion: "v1.37.1"}
	art := sharedArtifacts(t)
	tools := art.tools
	c.reg, c.archfit, c.bins = art.reg, art.archfit, art.bins

	c.startControlPlane(t, tools)
	c.install(t)
	c.startKwok(t, tools)
	for i, arch := range []string{"amd64", "amd64", "arm64", "arm64"} {
		it := map[string]string{"amd64": "m6i.large", "arm64": "m7g.large"}[arch]
		c.createNode(t, fmt.Sprintf("kwok-%s-%d", arch, i), arch, it)
	}
	c.prepareScheduler(t)
	a, b := c.startScheduler(t, "scheduler-a"), c.startScheduler(t, "scheduler-b")
	exp := c.startExpander(t)
	t.Logf("set-up done in %s", time.Since(began).Round(time.Second))

	ns := "e2e"
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("placement by arch, explained in Events", func(t *testing.T) {
		for _, tc := range []struct{ pod, image, arch string }{
			{"multi", c.reg.Host + "/app/multi:1", "arm64"},
			{"amd-only", c.reg.Host + "/app/amd:1", "amd64"},
			{"archfit-itself", c.archfit, "arm64"},
		} {
			c.createPod(t, ns, tc.pod, tc.image, "archfit-scheduler")
			if got := c.waitRunningOn(t, ns, tc.pod); got != tc.arch {
				t.Errorf("%s (%s) runs on %s, want %s", tc.pod, tc.image, got, tc.arch)
			}
		}
		for pod, reason := range map[string]string{"multi": "ArchFitPlacedOnCheaperArch", "archfit-itself": "ArchFitPlacedOnCheaperArch", "amd-only": "ArchFitImageLacksArch"} {
			if n := c.countEvents(t, ns, pod, reason); n != 1 {
				t.Errorf("pod %s: %d %s Events, want 1", pod, n, reason)
			}
			if n := c.countEvents(t, ns, pod, "Scheduled"); n != 1 {
				t.Errorf("pod %s: %d Scheduled Events, want 1", pod, n)
			}
		}
	})

	t.Run("archfit's own image is seen with both architectures", func(t *testing.T) {
		out, err := exec.Command(filepath.Join(c.bins, "archfit"), "inspect", "--insecure-registry", c.reg.Host, c.archfit, "-o", "json").Output()
		if err != nil {
			t.Fatalf("archfit inspect: %v", err)
		}
		var rows []struct {
			Platforms []string `json:"platforms"`
		}
		if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 1 {
			t.Fatalf("inspect output %s: %v", out, err)
		}
		sort.Strings(rows[0].Platforms)
		if strings.Join(rows[0].Platforms, ",") != "linux/amd64,linux/arm64" {
			t.Errorf("platforms %v", rows[0].Platforms)
		}
	})

	t.Run("the expander answers CA over TLS and counts its decisions", func(t *testing.T) {
		ask := func(image string) []string {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: ns},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}
			return exp.bestOptions(t, pod, map[string]*corev1.Node{
				"ng-amd64": c.template(t, "kwok-amd64-0"), "ng-arm64": c.template(t, "kwok-arm64-2")})
		}
		if got := ask(c.reg.Host + "/app/amd:1"); strings.Join(got, ",") != "ng-amd64" {
			t.Errorf("amd64-only image: answer %v, want ng-amd64", got)
		}
		if got := ask(c.archfit); strings.Join(got, ",") != "ng-arm64" {
			t.Errorf("archfit's own image: answer %v, want ng-arm64", got)
		}
		_, body, err := get(exp.metrics+"/metrics", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, series := range []string{`archfit_expander_decisions_total{arch="amd64"}`, `archfit_expander_decisions_total{arch="arm64"}`} {
			if v := metricValue(body, series); v != 1 {
				t.Errorf("%s = %v, want 1", series, v)
			}
		}
		if v := metricValue(body, `archfit_expander_calls_total{code="OK"}`); v != 2 {
			t.Errorf("calls OK = %v, want 2", v)
		}
	})

	leader := c.waitLeader(t, a, b)
	t.Run("the scheduler's metrics show its decisions, to an authorised caller only", func(t *testing.T) {
		url := fmt.Sprintf("https://127.0.0.1:%d/metrics", c.schedPort[leader])
		if code, _, err := get(url, ""); err != nil || code == http.StatusOK {
			t.Errorf("anonymous /metrics: %d %v, want refused", code, err)
		}
		_, body, err := get(url, adminToken)
		if err != nil {
			t.Fatal(err)
		}
		if v := metricValue(body, `archfit_scheduler_decisions_total{arch="arm64",profile="archfit-scheduler"}`); v != 2 {
			t.Errorf("arm64 decisions = %v, want 2", v)
		}
		if v := metricValue(body, `archfit_scheduler_decisions_total{arch="amd64",profile="archfit-scheduler"}`); v != 1 {
			t.Errorf("amd64 decisions = %v, want 1", v)
		}
	})

	t.Run("a scheduler restart loses nothing and binds nothing twice", func(t *testing.T) {
		standby := a
		if leader == a {
			standby = b
		}
		var names []string
		create := func(prefix string, n int, midway func()) {
			for i := 0; i < n; i++ {
				if i == n/3 && midway != nil {
					midway()
				}
				name := fmt.Sprintf("%s-%d", prefix, i)
				c.createPod(t, ns, name, c.reg.Host+"/app/multi:1", "archfit-scheduler")
				names = append(names, name)
			}
		}
		// The leader dies without a word while pods arrive: the standby
		// must take the lease once it expires and schedule the rest.
		killed := time.Now()
		create("crash", 15, func() { leader.stop(syscall.SIGKILL, 5*time.Second) })
		c.waitAllBound(t, ns, names, 90*time.Second)
		t.Logf("after SIGKILL of the leader, all pods bound within %s", time.Since(killed).Round(100*time.Millisecond))
		if got := c.waitLeader(t, standby); got != standby {
			t.Fatal("the standby did not lead")
		}
		// The killed replica comes back as standby; then the leader is
		// stopped gracefully (a rolling update), releasing its lease.
		replacement := c.startScheduler(t, leader.name+"-restarted")
		time.Sleep(2 * time.Second)
		stopped := time.Now()
		create("rollout", 15, func() { standby.stop(syscall.SIGTERM, 20*time.Second) })
		c.waitAllBound(t, ns, names, 90*time.Second)
		t.Logf("after SIGTERM of the leader, all pods bound within %s", time.Since(stopped).Round(100*time.Millisecond))
		if got := c.waitLeader(t, replacement); got != replacement {
			t.Fatal("the restarted replica did not lead")
		}
		// A second binding of a bound pod is refused by the API server
		// ("already assigned"), and the scheduler would report it as an
		// Event and in its log: neither may appear. The Scheduled Event of
		// a binding made just before a leader dies can be lost (Events are
		// sent asynchronously and a stopping kube-scheduler exits without
		// flushing them), so it is at most one per pod, and one for all
		// but the few bound in the instant of each stop.
		exactlyOne := 0
		for _, n := range names {
			switch got := c.countEvents(t, ns, n, "Scheduled"); {
			case got == 1:
				exactlyOne++
			case got > 1:
				t.Errorf("pod %s: %d Scheduled Events: bound twice?", n, got)
			}
			if arch := c.nodeArchOf(t, ns, n); arch != "arm64" {
				t.Errorf("pod %s on %s, want arm64", n, arch)
			}
		}
		if exactlyOne < len(names)-6 {
			t.Errorf("only %d of %d pods have their Scheduled Event", exactlyOne, len(names))
		}
		t.Logf("%d of %d pods have exactly one Scheduled Event, none has more", exactlyOne, len(names))
		evs, err := c.cs.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Note, "already assigned") || strings.Contains(e.Note, "already bound") {
				t.Errorf("pod %s: %s %q", e.Regarding.Name, e.Reason, e.Note)
			}
		}
		for _, p := range c.scheduler {
			b, _ := os.ReadFile(p.log)
			if strings.Contains(string(b), "already assigned") {
				t.Errorf("%s logged a binding conflict:\n%s", p.name, p.tail(30))
			}
		}
	})
	t.Logf("e2e total %s", time.Since(began).Round(time.Second))
}

func second[T any](_ T, err error) error { return err }

// extractBinaries pulls the image for this machine's architecture back out
// of the registry and writes /usr/local/bin/* into dir.
func extractBinaries(t *testing.T, ref, dir string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var arches []string
	for _, d := range im.Manifests {
		arches = append(arches, d.Platform.OS+"/"+d.Platform.Architecture)
		if d.Platform.OS != runtime.GOOS || d.Platform.Architecture != runtime.GOARCH {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := imagebuild.ReadFiles(img, func(n string) bool { return path.Dir(n) == "usr/local/bin" })
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, f := range fs {
			if err := os.WriteFile(filepath.Join(dir, path.Base(n)), f.Body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	sort.Strings(arches)
	if strings.Join(arches, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("make images pushed %v, want linux/amd64 and linux/arm64", arches)
	}
	for _, b := range []string{"archfit", "archfit-scheduler", "archfit-expander"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("the %s/%s image lacks %s: %v", runtime.GOOS, runtime.GOARCH, b, err)
		}
	}
	return dir
}

func (c *cluster) startControlPlane(t *testing.T, tools string) {
	t.Helper()
	client, peer := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	etcd := start(t, c.dir, "etcd", filepath.Join(tools, "etcd"),
		"--data-dir", filepath.Join(c.dir, "etcd"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL,
		"--log-level", "warn")
	waitHTTP(t, etcd, etcdURL+"/health", "", 30*time.Second)

	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(adminToken+",admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(c.dir, "sa.key")
	writeServiceAccountKey(t, saKey)
	port := freePort(t)
	c.server = fmt.Sprintf("https://127.0.0.1:%d", port)
	apiBin := filepath.Join(tools, "kube-apiserver")
	if c.apiserverBin != "" {
		apiBin = c.apiserverBin
	}
	api := start(t, c.dir, "kube-apiserver", apiBin,
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port), "--cert-dir", filepath.Join(c.dir, "apiserver"),
		"--token-auth-file", tokens, "--authorization-mode", "Node,RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey, "--service-cluster-ip-range", "10.0.0.0/24",
		"--endpoint-reconciler-type", "none", "--disable-admission-plugins", "ServiceAccount,TaintNodesByCondition")
	waitHTTP(t, api, c.server+"/readyz", adminToken, 90*time.Second)
	cs, err := kubernetes.NewForConfig(c.restConfig(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	c.cs = cs
}

func (c *cluster) restConfig(token string) *rest.Config {
	return &rest.Config{Host: c.server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
}

// install applies manifests/base, or the Helm chart, for real, so the
// binaries run with the shipped ServiceAccounts and RBAC. Nothing runs the Deployments (no
// controller-manager or kubelet): the test runs their containers itself.
func (c *cluster) install(t *testing.T) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.restConfig(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	ap := &manifests.Applier{Dynamic: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.cs.Discovery())), FieldManager: "archfit-e2e"}
	var objs []*unstructured.Unstructured
	if c.chartKubeVersion != "" {
		objs = chartObjects(t, c.chartKubeVersion)
	} else if objs, err = manifests.Build(filepath.Join(repoRoot, "manifests", "base")); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].GetKind() == "Namespace" && objs[j].GetKind() != "Namespace" })
	for _, o := range objs {
		if err := ap.Apply(context.Background(), o, false); err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// mountedConfigMap is the installed ConfigMap a Deployment's pods mount
// (each of archfit's Deployments mounts one), with kustomize's hashed name.
func (c *cluster) mountedConfigMap(t *testing.T, dep *appsv1.Deployment) *corev1.ConfigMap {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, err := c.cs.CoreV1().ConfigMaps(dep.Namespace).Get(context.Background(), v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm
	}
	t.Fatalf("Deployment %s mounts no ConfigMap", dep.Name)
	return nil
}

// serviceAccountKubeconfig is what a pod of the Deployment would
// authenticate as.
func (c *cluster) serviceAccountKubeconfig(t *testing.T, sa string) string {
	t.Helper()
	exp := int64(3600)
	tr, err := c.cs.CoreV1().ServiceAccounts("archfit").CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.dir, sa+".kubeconfig")
	writeKubeconfig(t, p, c.server, tr.Status.Token)
	return p
}

func (c *cluster) startKwok(t *testing.T, tools string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	stageDir := filepath.Join(strings.TrimSpace(string(out)), kwokModule, "kustomize", "stage")
	var stages []string
	for _, f := range []string{"node/fast/node-initialize.yaml", "node/heartbeat/node-heartbeat.yaml", "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"} {
		b, err := os.ReadFile(filepath.Join(stageDir, f))
		if err != nil {
			t.Fatal(err)
		}
		stages = append(stages, strings.TrimSpace(string(b)))
	}
	cfg := filepath.Join(c.dir, "kwok-stages.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Join(stages, "\n---\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(c.dir, "admin.kubeconfig")
	writeKubeconfig(t, kc, c.server, adminToken)
	start(t, c.dir, "kwok", filepath.Join(tools, "kwok"), "--kubeconfig", kc, "--config", cfg,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--server-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// edit lets a test add what its nodes also need (a node group's marks).
func (c *cluster) createNode(t *testing.T, name, arch, instanceType string, edit ...func(*corev1.Node)) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels: map[string]string{"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
			cost.LabelInstanceType: instanceType, "type": "kwok"}}}
	for _, e := range edit {
		e(n)
	}
	if _, err := c.cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A real size, so prices per vCPU are real. kwok keeps an allocatable it
	// finds, but its first status patch can race ours: set it until it
	// sticks.
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		cur, err := c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cur.Status.Allocatable.Cpu().Value() != 2 {
			cur.Status.Capacity, cur.Status.Allocatable = res, res
			if _, err := c.cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
				return false, err
			}
			return false, nil
		}
		for _, cond := range cur.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node %s did not become Ready with 2 CPUs (kwok): %v", name, err)
	}
}

// prepareScheduler takes the config from the ConfigMap the manifests
// installed and the args from the Deployment, and changes only what a
// process on loopback needs: the kubeconfig (the ServiceAccount's token),
// the loopback registry over plain HTTP, and shorter lease timings so the
// test does not wait 15 s for a dead leader's lease.
func (c *cluster) prepareScheduler(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	dep, err := c.cs.AppsV1().Deployments("archfit").Get(ctx, "archfit-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	var cfgPath string
	for _, a := range ctr.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		} else {
			c.schedArgs = append(c.schedArgs, a)
		}
	}
	cm := c.mountedConfigMap(t, dep)
	body, ok := cm.Data[path.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Name, path.Base(cfgPath))
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	c.schedKC = c.serviceAccountKubeconfig(t, dep.Spec.Template.Spec.ServiceAccountName)
	doc["clientConnection"] = map[string]any{"kubeconfig": c.schedKC}
	le := doc["leaderElection"].(map[string]any)
	le["leaseDuration"], le["renewDeadline"], le["retryPeriod"] = "6s", "4s", "1s"
	for _, p := range doc["profiles"].([]any) {
		for _, pc := range p.(map[string]any)["pluginConfig"].([]any) {
			if pcm := pc.(map[string]any); pcm["name"] == "ArchFit" {
				pcm["args"].(map[string]any)["insecureRegistries"] = []string{c.reg.Host}
			}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c.schedCfg = filepath.Join(c.dir, "archfit-scheduler.yaml")
	if err := os.WriteFile(c.schedCfg, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) startScheduler(t *testing.T, name string) *proc {
	t.Helper()
	port := freePort(t)
	args := append([]string{"--config=" + c.schedCfg, "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--authentication-kubeconfig=" + c.schedKC, "--authorization-kubeconfig=" + c.schedKC}, c.schedArgs...)
	bin := filepath.Join(c.bins, "archfit-scheduler")
	if c.schedBin != "" {
		bin = c.schedBin
	}
	p := start(t, c.dir, name, bin, args...)
	c.schedPort[p] = port
	c.scheduler = append(c.scheduler, p)
	waitHTTP(t, p, fmt.Sprintf("https://127.0.0.1:%d/readyz", port), "", 60*time.Second)
	return p
}

// waitLeader returns which of ps took the lease, from client-go's log line
// in each process's own log.
func (c *cluster) waitLeader(t *testing.T, ps ...*proc) *proc {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range ps {
			if p.exited() {
				continue
			}
			b, _ := os.ReadFile(p.log)
			if strings.Contains(string(b), `Successfully acquired lease" lock="archfit/archfit-scheduler"`) {
				return p
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("no scheduler took the lease archfit/archfit-scheduler")
	return nil
}

type expanderProc struct {
	*proc
	grpcAddr, metrics, caFile string
}

func (c *cluster) startExpander(t *testing.T) *expanderProc {
	t.Helper()
	ctx := context.Background()
	dep, err := c.cs.AppsV1().Deployments("archfit").Get(ctx, "archfit-expander", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testcerts.NewCA("archfit-e2e")
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(c.dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cm := c.mountedConfigMap(t, dep)
	policy := filepath.Join(c.dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(cm.Data["policy.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	kc := c.serviceAccountKubeconfig(t, dep.Spec.Template.Spec.ServiceAccountName)
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// The Deployment's args, with files and addresses of this machine.
	replace := map[string]string{"--grpc-address": grpcAddr, "--metrics-address": metricsAddr, "--tls-cert-file": certFile,
		"--tls-private-key-file": keyFile, "--policy-file": policy}
	var args []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		flag, _, _ := strings.Cut(a, "=")
		switch {
		case a == "--in-cluster":
			args = append(args, "--kubeconfig="+kc)
		case replace[flag] != "":
			args = append(args, flag+"="+replace[flag])
			delete(replace, flag)
		default:
			args = append(args, a)
		}
	}
	if len(replace) != 0 {
		t.Fatalf("the Deployment no longer sets %v", replace)
	}
	args = append(args, "--insecure-registry="+c.reg.Host)
	p := start(t, c.dir, "archfit-expander", filepath.Join(c.bins, "archfit-expander"), args...)
	waitHTTP(t, p, "http://"+metricsAddr+"/readyz", "", 60*time.Second)
	return &expanderProc{proc: p, grpcAddr: grpcAddr, metrics: "http://" + metricsAddr, caFile: caFile}
}

// bestOptions calls the expander as cluster-autoscaler does: TLS with the
// CA file as the only root, pods and template nodes as protobuf bytes.
func (e *expanderProc) bestOptions(t *testing.T, pod *corev1.Pod, groups map[string]*corev1.Node) []string {
	t.Helper()
	creds, err := credentials.NewClientTLSFromFile(e.caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pb, err := pod.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
	for id, n := range groups {
		nb, err := n.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		req.NodeBytesMap[id] = nb
		req.Options = append(req.Options, &protos.Option{NodeGroupId: id, NodeCount: 1, PodBytes: [][]byte{pb}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // CA's deadline
	defer cancel()
	resp, err := protos.NewExpanderClient(conn).BestOptions(ctx, req)
	if err != nil {
		t.Fatalf("BestOptions: %v\n%s", err, e.tail(20))
	}
	var out []string
	for _, o := range resp.Options {
		out = append(out, o.NodeGroupId)
	}
	sort.Strings(out)
	return out
}

// template is a node group's template node as CA builds it from a real
// node.
func (c *cluster) template(t *testing.T, node string) *corev1.Node {
	t.Helper()
	n, err := c.cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := n.DeepCopy()
	tmpl.Name = "template-node-for-" + node
	tmpl.ResourceVersion, tmpl.UID = "", ""
	tmpl.Labels["cluster-autoscaler.kubernetes.io/template-node"] = "true"
	return tmpl
}

func (c *cluster) createPod(t *testing.T, ns, name, image, scheduler string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
		SchedulerName: scheduler,
		Containers: []corev1.Container{{Name: "app", Image: image, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
	}}
	if _, err := c.cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) nodeArchOf(t *testing.T, ns, pod string) string {
	t.Helper()
	p, err := c.cs.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName == "" {
		return ""
	}
	n, err := c.cs.CoreV1().Nodes().Get(context.Background(), p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Labels["kubernetes.io/arch"]
}

// waitRunningOn waits until kwok reports the pod Running and returns its
// node's architecture.
func (c *cluster) waitRunningOn(t *testing.T, ns, name string) string {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod %s not Running: %v (node %q, phase %s, conditions %+v)", name, err, last.Spec.NodeName, last.Status.Phase, last.Status.Conditions)
	}
	return c.nodeArchOf(t, ns, name)
}

func (c *cluster) waitAllBound(t *testing.T, ns string, names []string, timeout time.Duration) {
	t.Helper()
	var unbound []string
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		unbound = unbound[:0]
		for _, n := range names {
			p, err := c.cs.CoreV1().Pods(ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if p.Spec.NodeName == "" {
				unbound = append(unbound, n)
			}
		}
		return len(unbound) == 0, nil
	})
	if err != nil {
		t.Fatalf("%d pods never bound (%v): %v", len(unbound), unbound, err)
	}
}

// countEvents counts Events about a pod with a reason, in both Event APIs'
// storage (they are one resource).
func (c *cluster) countEvents(t *testing.T, ns, pod, reason string) int {
	t.Helper()
	var n int
	// Events are written asynchronously: wait briefly for a first one.
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		n = 0
		for _, e := range evs.Items {
			if e.Regarding.Name == pod && e.Reason == reason {
				n++
				if e.Series != nil {
					n += int(e.Series.Count) - 1
				}
			}
		}
		return n > 0, nil
	})
	return n
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)`)

// metricValue reads one series from a Prometheus text page; -1 if absent.
func metricValue(page, series string) float64 {
	for _, line := range strings.Split(page, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != series {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}

// chartObjects renders manifests/charts/archfit as helm install would on a
// cluster of kubeVersion, with test/chart's renderer (the Helm SDK lives in
// that module, not this one), owning its namespace since nothing here runs
// helm's --create-namespace.
func chartObjects(t *testing.T, kubeVersion string) []*unstructured.Unstructured {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", "run", "./cmd/render", "--kube-version", kubeVersion, "--set", "namespace.create=true")
	cmd.Dir = filepath.Join(repoRoot, "test", "chart")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rendering the chart: %v\n%s", err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("the rendered chart: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	t.Logf("rendered the chart for %s: %d objects in %s", kubeVersion, len(objs), time.Since(start).Round(time.Second))
	return objs
}

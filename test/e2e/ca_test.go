//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/archfit/archfit/internal/cost"
)

// The real cluster-autoscaler runs from a source tree outside the project
// (its license and size are its own): the tests take its path and skip
// without it.
const caSrcEnv = "ARCHFIT_CA_SRC"

// What the kwok cloud provider and the kwok controller agree on. The
// provider puts a Node in a group by the label (our kwok-provider-config
// says fromNodeLabelKey) but lists a group's Nodes by the name annotation,
// and claims a Node only when its providerID starts with "kwok"; the kwok
// controller manages Nodes with the fake annotation. Nodes the provider
// creates from a template get all of these itself; Nodes a test creates
// must carry them all, or CA counts them in no group or in a group that
// does not list them.
const (
	groupLabel       = "kwok-nodegroup"
	groupNameAnn     = "cluster-autoscaler.kwok.nodegroup/name"
	kwokManagedAnn   = "kwok.x-k8s.io/node"
	kwokProviderIDPx = "kwok:"
)

type nodeGroup struct{ name, arch, instanceType string }

// Instance types archfit's price table knows, arm64 the cheaper per vCPU,
// as in the field.
var (
	ngAMD64 = nodeGroup{"ng-amd64", "amd64", "m6i.large"}
	ngARM64 = nodeGroup{"ng-arm64", "arm64", "m7g.large"}
)

// A node (template or created) has 2 CPUs; CA's template also holds its
// own 100m kube-proxy. 800m pods then fit two to a node in CA's
// simulation and on the real node alike, so node counts are exact.
const (
	nodeCPU = "2"
	podCPU  = "800m"
	// fillCPU leaves 500m: room for no 800m pod.
	fillCPU = "1500m"
)

var caBuild struct {
	once sync.Once
	bin  string
}

// caBinary builds cluster-autoscaler once per run with the tree's own
// build.sh, or reuses a binary newer than every file of the tree.
func caBinary(t *testing.T) string {
	t.Helper()
	src := os.Getenv(caSrcEnv)
	if src == "" {
		t.Skipf("the real cluster-autoscaler is not configured: set %s to a cluster-autoscaler 1.36.1 source directory holding build.sh and src/ (make e2e sets it to ../shared/cluster-autoscaler when that exists)", caSrcEnv)
	}
	if !filepath.IsAbs(src) {
		t.Skipf("%s=%s is relative, and go test runs in test/e2e: set it to an absolute path", caSrcEnv, src)
	}
	for _, f := range []string{"build.sh", "src/main.go"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			t.Skipf("%s=%s is not a cluster-autoscaler source directory (%v): set it to a directory holding build.sh and src/", caSrcEnv, src, err)
		}
	}
	caBuild.once.Do(func() {
		out, err := filepath.Abs(filepath.Join(repoRoot, "bin", "e2e", "cluster-autoscaler"))
		if err != nil {
			t.Fatal(err)
		}
		if fresh(out, src) {
			t.Logf("cluster-autoscaler: reusing %s", out)
			caBuild.bin = out
			return
		}
		began := time.Now()
		cmd := exec.Command(filepath.Join(src, "build.sh"), out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s/build.sh: %v\n%s", src, err, b)
		}
		t.Logf("built cluster-autoscaler in %s", time.Since(began).Round(time.Second))
		caBuild.bin = out
	})
	if caBuild.bin == "" {
		t.Fatal("building cluster-autoscaler failed in an earlier test: see its log")
	}
	return caBuild.bin
}

// fresh reports whether bin exists and is newer than every file under src.
func fresh(bin, src string) bool {
	st, err := os.Stat(bin)
	if err != nil {
		return false
	}
	newer := false
	_ = filepath.WalkDir(src, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			newer = true // unreadable: build rather than trust an old binary
		}
		if newer {
			return fs.SkipAll
		}
		if info, err := d.Info(); err == nil && !d.IsDir() && info.ModTime().After(st.ModTime()) {
			newer = true
		}
		return nil
	})
	return !newer
}

// caEnv is a fresh control plane per test, with archfit-scheduler (one
// replica) and archfit-expander as in TestE2E, and what cluster-autoscaler
// with the kwok provider reads; CA itself starts once a test has made its
// nodes (and started placement), so its first loop sees the test's state.
type caEnv struct {
	*cluster
	caBin string
	exp   *expanderProc
	ns    string
	nodes map[string]int // per group, for the next initial node's name
}

func newCAEnv(t *testing.T) *caEnv {
	t.Helper()
	caBin := caBinary(t)
	art := sharedArtifacts(t)
	began := time.Now()
	c := &cluster{dir: t.TempDir(), schedPort: map[*proc]int{}, reg: art.reg, archfit: art.archfit, bins: art.bins}
	keepLogsOnFailure(t, c.dir)
	c.startControlPlane(t, art.tools)
	c.install(t)
	c.startKwok(t, art.tools)
	e := &caEnv{cluster: c, caBin: caBin, ns: "e2e", nodes: map[string]int{}}
	e.configureKwokProvider(t, ngAMD64, ngARM64)
	e.applyConfigMap(t, "kube-system", "cluster-autoscaler-priority-expander", map[string]string{
		"priorities": "20:\n  - .*arm64.*\n10:\n  - .*\n",
	})
	c.prepareScheduler(t)
	c.waitLeader(t, c.startScheduler(t, "archfit-scheduler"))
	e.exp = c.startExpander(t)
	if _, err := c.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("CA environment up in %s", time.Since(began).Round(100*time.Millisecond))
	return e
}

// keepLogsOnFailure copies the processes' logs out of the test's
// directory, which is removed, when the test fails: CA's reasons are in
// its log, and a tail is rarely enough. Registered after t.TempDir and
// before any process starts, it runs once they have stopped and before the
// directory goes.
func keepLogsOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		keep, err := os.MkdirTemp("", "archfit-e2e-"+regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")+"-")
		if err != nil {
			t.Logf("keeping logs: %v", err)
			return
		}
		for _, l := range logs {
			if b, err := os.ReadFile(l); err == nil {
				_ = os.WriteFile(filepath.Join(keep, filepath.Base(l)), b, 0o644)
			}
		}
		t.Logf("logs kept in %s", keep)
	})
}

// configureKwokProvider writes the two ConfigMaps the kwok provider reads
// at start: its config, and one template Node per group. A template is a
// Node as the group's nodes will be created, so it carries no hostname
// (every created node would copy it) and its status holds the size and
// platform CA simulates with.
func (e *caEnv) configureKwokProvider(t *testing.T, groups ...nodeGroup) {
	t.Helper()
	var items []runtime.RawExtension
	for _, g := range groups {
		res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(nodeCPU), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
		n := &corev1.Node{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: g.name,
				Labels: map[string]string{groupLabel: g.name, "kubernetes.io/arch": g.arch, "kubernetes.io/os": "linux",
					cost.LabelInstanceType: g.instanceType},
				Annotations: map[string]string{
					"cluster-autoscaler.kwok.nodegroup/min-count":     "0",
					"cluster-autoscaler.kwok.nodegroup/max-count":     "5",
					"cluster-autoscaler.kwok.nodegroup/desired-count": "0",
					kwokManagedAnn: "fake",
				}},
			Status: corev1.NodeStatus{Allocatable: res, Capacity: res,
				NodeInfo: corev1.NodeSystemInfo{Architecture: g.arch, OperatingSystem: "linux"}},
		}
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, runtime.RawExtension{Raw: b})
	}
	list, err := json.Marshal(&corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	e.applyConfigMap(t, "kube-system", "kwok-provider-templates", map[string]string{"templates": string(list)})
	e.applyConfigMap(t, "kube-system", "kwok-provider-config", map[string]string{"config": `apiVersion: v1alpha1
readNodesFrom: configmap
nodegroups:
  fromNodeLabelKey: ` + groupLabel + `
nodes:
  skipTaint: true
configmap:
  name: kwok-provider-templates
`})
}

func (e *caEnv) applyConfigMap(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
	if _, err := e.cs.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("ConfigMap %s/%s: %v", ns, name, err)
	}
}

// addGroupNode creates a Ready node already in a group, as if CA had made
// it earlier.
func (e *caEnv) addGroupNode(t *testing.T, g nodeGroup) string {
	t.Helper()
	name := fmt.Sprintf("%s-initial-%d", g.name, e.nodes[g.name])
	e.nodes[g.name]++
	e.createNode(t, name, g.arch, g.instanceType, func(n *corev1.Node) {
		n.Labels[groupLabel] = g.name
		n.Annotations[groupNameAnn] = g.name
		n.Spec.ProviderID = kwokProviderIDPx + name
	})
	return name
}

// fill binds a pod straight to the node (no scheduler, no placement), so
// the node has little room left in everyone's eyes.
func (e *caEnv) fill(t *testing.T, node, cpu string) {
	t.Helper()
	p := e.appPod("filler-"+node, e.reg.Host+"/app/multi:1", cpu)
	p.Spec.NodeName = node
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRunning(t, p.Name, 60*time.Second)
}

func (e *caEnv) appPod(name, image, cpu string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, Spec: corev1.PodSpec{
		SchedulerName: "archfit-scheduler",
		Containers: []corev1.Container{{Name: "app", Image: image, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
	}}
}

// createPods creates archfit-scheduler pods of podCPU each.
func (e *caEnv) createPods(t *testing.T, image string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), e.appPod(n, image, podCPU), metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod %s: %v", n, err)
		}
	}
}

func (e *caEnv) waitUnschedulable(t *testing.T, name string) {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s never marked Unschedulable: %v (%s)", name, err, podState(last))
	}
}

// waitRunning returns the node the pod runs on.
func (e *caEnv) waitRunning(t *testing.T, name string, timeout time.Duration) *corev1.Node {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod %s not Running after %s: %v (%s)\nnodes: %v", name, timeout, err, podState(last), e.groupSizes(t))
	}
	n, err := e.cs.CoreV1().Nodes().Get(context.Background(), last.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func podState(p *corev1.Pod) string {
	if p == nil {
		return "never read"
	}
	return fmt.Sprintf("node %q, phase %s, gates %v, conditions %+v", p.Spec.NodeName, p.Status.Phase, p.Spec.SchedulingGates, p.Status.Conditions)
}

func (e *caEnv) nodeOf(t *testing.T, pod string) string {
	t.Helper()
	p, err := e.cs.CoreV1().Pods(e.ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Spec.NodeName
}

// groupNodes lists a group's nodes by the group label, which initial and
// CA-made nodes both carry.
func (e *caEnv) groupNodes(t *testing.T, group string) []corev1.Node {
	t.Helper()
	l, err := e.cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: groupLabel + "=" + group})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func (e *caEnv) groupSizes(t *testing.T) map[string]int {
	t.Helper()
	return map[string]int{ngAMD64.name: len(e.groupNodes(t, ngAMD64.name)), ngARM64.name: len(e.groupNodes(t, ngARM64.name))}
}

func (e *caEnv) waitGroupSize(t *testing.T, group string, want int, timeout time.Duration, ca *caProc) {
	t.Helper()
	got := -1
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if ca.exited() {
			return false, fmt.Errorf("cluster-autoscaler exited: %v", ca.err)
		}
		got = len(e.groupNodes(t, group))
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("%s has %d nodes, want %d: %v\n%s", group, got, want, err, ca.tail(40))
	}
}

// podsOnNodes maps each node of the group to the pods bound to it.
func (e *caEnv) podsOnNodes(t *testing.T, group string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, n := range e.groupNodes(t, group) {
		out[n.Name] = nil
	}
	pods, err := e.cs.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if _, ok := out[p.Spec.NodeName]; ok {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
		}
	}
	return out
}

// caProc is a running cluster-autoscaler; its log is the proc's file.
type caProc struct {
	*proc
	metrics string
}

// startCA runs CA with the kwok provider against this control plane.
// It authenticates with the admin token: CA's own ClusterRole ships with
// its Helm chart, which is not part of the trimmed tree, and what this
// test checks is CA's decisions, not its RBAC.
func (e *caEnv) startCA(t *testing.T, expanders string) *caProc {
	t.Helper()
	kc := filepath.Join(e.dir, "cluster-autoscaler.kubeconfig")
	writeKubeconfig(t, kc, e.server, adminToken)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	// The kwok provider reads its mode, namespace and kubeconfig from the
	// environment, and start() passes the test's own: env(1) sets them for
	// this process alone and then is the process (it execs).
	p := start(t, e.dir, "cluster-autoscaler", env,
		"KWOK_PROVIDER_MODE=local", "POD_NAMESPACE=kube-system", "KUBECONFIG="+kc,
		e.caBin,
		"--cloud-provider=kwok", "--kubeconfig="+kc, "--namespace=kube-system", "--leader-elect=false",
		"--address="+addr,
		"--scan-interval=2s", "--scale-down-enabled=false",
		"--expander="+expanders, "--grpc-expander-url="+e.exp.grpcAddr, "--grpc-expander-cert="+e.exp.caFile,
		"--v=4")
	ca := &caProc{proc: p, metrics: "http://" + addr}
	waitHTTP(t, p, ca.metrics+"/health-check", "", 90*time.Second)
	// Both groups registered, from CA's own count (the kwok provider
	// drops a template it cannot place in a group, silently).
	err = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		_, body, err := get(ca.metrics+"/metrics", "")
		return err == nil && metricValue(body, `cluster_autoscaler_node_groups_count{node_group_type="autoscaled"}`) == 2, nil
	})
	if err != nil {
		t.Fatalf("cluster-autoscaler does not report 2 autoscaled node groups: %v\n%s", err, p.tail(60))
	}
	return ca
}

// mark is a position in the log; waitLog and logSince read from there.
func (ca *caProc) mark() int {
	b, _ := os.ReadFile(ca.log)
	return len(b)
}

func (ca *caProc) logSince(from int) string {
	b, _ := os.ReadFile(ca.log)
	if from > len(b) {
		from = len(b)
	}
	return string(b[from:])
}

// waitLog waits for a line matching re after from, and returns it.
func (ca *caProc) waitLog(t *testing.T, from int, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(ca.logSince(from), "\n") {
			if rx.MatchString(line) {
				t.Logf("CA: %s", line)
				return line
			}
		}
		if ca.exited() {
			t.Fatalf("cluster-autoscaler exited (%v) before logging %q\n%s", ca.err, re, ca.tail(60))
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster-autoscaler did not log %q within %s\n%s", re, timeout, ca.tail(60))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// loops waits for n more of CA's main loops after from: a settle point for
// asserting that something did not happen.
func (ca *caProc) loops(t *testing.T, from, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Duration(n)*10*time.Second + 30*time.Second)
	for strings.Count(ca.logSince(from), "Starting main loop") < n {
		if ca.exited() || time.Now().After(deadline) {
			t.Fatalf("cluster-autoscaler ran fewer than %d loops (exited: %v)\n%s", n, ca.exited(), ca.tail(60))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requiredArches is what a pod's required node affinity allows for
// kubernetes.io/arch, sorted; nil when it says nothing about arch.
func requiredArches(p *corev1.Pod) []string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	var out []string
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range term.MatchExpressions {
			if r.Key == "kubernetes.io/arch" && r.Operator == corev1.NodeSelectorOpIn {
				out = append(out, r.Values...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestCAWithoutPlacement reproduces, with the real cluster-autoscaler, the
// failures placement exists for, and checks the CA set-up the placement
// cases rely on: CA sees both groups, grows a group for an unschedulable
// pod, and asks archfit-expander. It needs no placement, and runs without
// its webhook even once placement is in manifests/base.
func TestCAWithoutPlacement(t *testing.T) {
	e := newCAEnv(t)
	e.removePlacementWebhook(t)
	amd0, arm0 := e.addGroupNode(t, ngAMD64), e.addGroupNode(t, ngARM64)
	e.fill(t, amd0, fillCPU)
	began := time.Now()
	ca := e.startCA(t, "grpc,priority")
	t.Logf("cluster-autoscaler up, 2 node groups, in %s", time.Since(began).Round(100*time.Millisecond))

	t.Run("an amd64-only pod stranded beside a roomy arm64 node: CA sees it fit and adds no node", func(t *testing.T) {
		from := ca.mark()
		e.createPods(t, e.reg.Host+"/app/amd:1", "stranded")
		e.waitUnschedulable(t, "stranded")
		ca.waitLog(t, from, `Pod e2e/stranded can be moved to `+arm0, 60*time.Second)
		// CA trusts its own simulation (in-tree plugins only), which
		// knows nothing of image platforms: it keeps waiting for a
		// scheduler that will never bind there.
		ca.loops(t, ca.mark(), 3)
		if got := e.groupSizes(t); got[ngAMD64.name] != 1 || got[ngARM64.name] != 1 {
			t.Errorf("after 3 loops, groups %v, want 1 node each: CA scaled up for a pod it thinks fits", got)
		}
		if n := e.nodeOf(t, "stranded"); n != "" {
			t.Errorf("stranded pod bound to %s", n)
		}
		if strings.Contains(ca.logSince(from), "Scale-up: setting group") {
			t.Errorf("CA scaled up:\n%s", ca.tail(40))
		}
	})

	t.Run("once the arm64 node is full too, CA asks archfit-expander, which keeps ng-amd64", func(t *testing.T) {
		from := ca.mark()
		e.fill(t, arm0, fillCPU)
		ca.waitLog(t, from, `GPRC call of best options to server with 2 options`, 60*time.Second)
		ca.waitLog(t, from, `Scale-up: setting group ng-amd64 size to 2`, 60*time.Second)
		e.waitGroupSize(t, ngAMD64.name, 2, 60*time.Second, ca)
		node := e.waitRunning(t, "stranded", 90*time.Second)
		if node.Labels[groupLabel] != ngAMD64.name || node.Name == amd0 {
			t.Errorf("stranded pod on %s (group %q), want a new ng-amd64 node", node.Name, node.Labels[groupLabel])
		}
		// The provider creates a Node with the template's status; kwok
		// keeps an allocatable it finds, or else sets 1000 CPUs, and every
		// node count in these tests would mean nothing.
		if cpu := node.Status.Allocatable.Cpu().Value(); cpu != 2 {
			t.Errorf("CA's node %s has %d allocatable CPUs, want the template's 2", node.Name, cpu)
		}
		if got := e.groupSizes(t); got[ngARM64.name] != 1 {
			t.Errorf("ng-arm64 has %d nodes, want 1", got[ngARM64.name])
		}
		_, body, err := get(e.exp.metrics+"/metrics", "")
		if err != nil {
			t.Fatal(err)
		}
		if v := metricValue(body, `archfit_expander_calls_total{code="OK"}`); v < 1 {
			t.Errorf("archfit-expander answered %v calls OK, want at least 1", v)
		}
		if v := metricValue(body, `archfit_expander_decisions_total{arch="amd64"}`); v < 1 {
			t.Errorf("archfit-expander decided amd64 %v times, want at least 1", v)
		}
	})

	t.Run("with archfit-expander down, the priority expander grows ng-arm64 for an amd64-only pod", func(t *testing.T) {
		e.exp.stop(syscall.SIGKILL, 5*time.Second)
		from := ca.mark()
		// 1500m fits no existing node, and both templates in CA's eyes.
		p := e.appPod("orphan", e.reg.Host+"/app/amd:1", fillCPU)
		if _, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitUnschedulable(t, "orphan")
		ca.waitLog(t, from, `GRPC call failed, no options filtered`, 60*time.Second)
		ca.waitLog(t, from, `Scale-up: setting group ng-arm64 size to 2`, 60*time.Second)
		e.waitGroupSize(t, ngARM64.name, 2, 60*time.Second, ca)
		// The new arm64 node is useless to the pod, and now CA believes
		// the pod fits there: the stranded loop again.
		ca.waitLog(t, from, `Pod e2e/orphan can be moved to ng-arm64-`, 60*time.Second)
		ca.loops(t, ca.mark(), 2)
		if n := e.nodeOf(t, "orphan"); n != "" {
			t.Errorf("orphan bound to %s", n)
		}
		if got := e.groupSizes(t); got[ngAMD64.name] != 2 {
			t.Errorf("ng-amd64 has %d nodes, want 2 (no scale-up for the orphan)", got[ngAMD64.name])
		}
	})
}

// Case a of the issue: with placement, the amd64-only pod carries
// kubernetes.io/arch In [amd64], so CA's own simulation no longer fits it
// on the arm64 node, and CA grows ng-amd64.
func TestCAStrandedPodWithPlacement(t *testing.T) {
	e := newCAEnv(t)
	amd0, arm0 := e.addGroupNode(t, ngAMD64), e.addGroupNode(t, ngARM64)
	e.fill(t, amd0, fillCPU)
	e.startPlacement(t)
	ca := e.startCA(t, "grpc,priority")
	from := ca.mark()

	e.createPods(t, e.reg.Host+"/app/amd:1", "stranded")
	e.checkPlaced(t, "stranded", "amd64")
	// ng-arm64 no longer fits the pod in CA's own simulation, so the
	// expander is offered ng-amd64 alone.
	ca.waitLog(t, from, `GPRC call of best options to server with 1 options`, 90*time.Second)
	ca.waitLog(t, from, `Scale-up: setting group ng-amd64 size to 2`, 90*time.Second)
	node := e.waitRunning(t, "stranded", 90*time.Second)
	if node.Labels[groupLabel] != ngAMD64.name || node.Name == amd0 {
		t.Errorf("stranded pod on %s (group %q), want a new ng-amd64 node", node.Name, node.Labels[groupLabel])
	}
	if got := e.groupSizes(t); got[ngAMD64.name] != 2 || got[ngARM64.name] != 1 {
		t.Errorf("groups %v, want ng-amd64 2, ng-arm64 1", got)
	}
	if strings.Contains(ca.logSince(from), "Pod e2e/stranded can be moved to "+arm0) {
		t.Errorf("CA still fits the pod on %s:\n%s", arm0, ca.tail(40))
	}
}

// Case b: multi-arch and amd64-only pods pending together, from empty
// groups. Each kind ends on nodes of its own arch, and every new node is
// used.
func TestCAMixedBatchWithPlacement(t *testing.T) {
	e := newCAEnv(t)
	e.startPlacement(t)
	ca := e.startCA(t, "grpc,priority")
	from := ca.mark()

	multi := []string{"multi-0", "multi-1", "multi-2", "multi-3"}
	amd := []string{"amd-0", "amd-1"}
	e.createPods(t, e.reg.Host+"/app/multi:1", multi...)
	e.createPods(t, e.reg.Host+"/app/amd:1", amd...)
	for _, n := range multi {
		e.checkPlaced(t, n, "amd64", "arm64")
	}
	for _, n := range amd {
		e.checkPlaced(t, n, "amd64")
	}
	for _, n := range append(append([]string{}, multi...), amd...) {
		want := map[bool]string{true: ngAMD64.name, false: ngARM64.name}[strings.HasPrefix(n, "amd-")]
		if node := e.waitRunning(t, n, 120*time.Second); node.Labels[groupLabel] != want {
			t.Errorf("pod %s on %s (group %q), want %s", n, node.Name, node.Labels[groupLabel], want)
		}
	}
	ca.waitLog(t, from, `Best option to resize: ng-arm64`, 10*time.Second)
	ca.waitLog(t, from, `Best option to resize: ng-amd64`, 10*time.Second)
	// A few more loops show CA does not add a node late.
	ca.loops(t, ca.mark(), 3)
	got := e.groupSizes(t)
	// Two 800m pods per 2-CPU node: the four multi-arch pods need 2 arm64
	// nodes and the two amd64-only pods 1 amd64 node. CA may add a second
	// amd64 node, and that is CA, not placement: right after a scale-up it
	// loops again at once, and while the new arm64 nodes are Ready but the
	// multi-arch pods not yet bound, its first-fit simulation may put one
	// of them on the amd64 node it has just asked for (their affinity
	// allows amd64), leaving an amd64-only pod without room. archfit-
	// scheduler still binds that pod to arm64, and spreads the amd64-only
	// pods over both amd64 nodes, so no new node is left empty.
	if got[ngARM64.name] != 2 || got[ngAMD64.name] < 1 || got[ngAMD64.name] > 2 {
		t.Errorf("groups %v, want ng-arm64 2 and ng-amd64 1 (2 at most)", got)
	}
	if got[ngAMD64.name] == 2 {
		spill := regexp.MustCompile(`Pod e2e/multi-\d can be moved to (ng-amd64-|template-node-for-ng-amd64-)\S*`).FindString(ca.logSince(from))
		if spill == "" {
			t.Errorf("CA added a second amd64 node, but never placed a multi-arch pod on amd64 in its simulation\n%s", ca.tail(60))
		} else {
			t.Logf("CA added a second amd64 node after its simulation said %q", spill)
		}
	}
	for _, g := range []string{ngAMD64.name, ngARM64.name} {
		for node, pods := range e.podsOnNodes(t, g) {
			if len(pods) == 0 {
				t.Errorf("new node %s (%s) is empty", node, g)
			}
		}
	}
}

// Case c: archfit-expander is down and CA falls back to the priority
// expander, which prefers arm64; the amd64-only pods' affinity leaves CA
// only ng-amd64 to offer, so the fallback cannot pick wrong.
func TestCAExpanderDownWithPlacement(t *testing.T) {
	e := newCAEnv(t)
	e.startPlacement(t)
	e.exp.stop(syscall.SIGKILL, 5*time.Second)
	ca := e.startCA(t, "grpc,priority")
	from := ca.mark()

	amd := []string{"amd-0", "amd-1"}
	e.createPods(t, e.reg.Host+"/app/amd:1", amd...)
	for _, n := range amd {
		e.checkPlaced(t, n, "amd64")
	}
	ca.waitLog(t, from, `GPRC call of best options to server with 1 options`, 90*time.Second)
	ca.waitLog(t, from, `GRPC call failed, no options filtered`, 10*time.Second)
	ca.waitLog(t, from, `Best option to resize: ng-amd64`, 30*time.Second)
	for _, n := range amd {
		if node := e.waitRunning(t, n, 90*time.Second); node.Labels[groupLabel] != ngAMD64.name {
			t.Errorf("pod %s on %s (group %q), want ng-amd64", n, node.Name, node.Labels[groupLabel])
		}
	}
	ca.loops(t, ca.mark(), 2)
	if got := e.groupSizes(t); got[ngAMD64.name] != 1 || got[ngARM64.name] != 0 {
		t.Errorf("groups %v, want ng-amd64 1, ng-arm64 0", got)
	}
}

// checkPlaced checks that placement wrote the pod's image platforms as
// required node affinity, waiting out a gate if the webhook set one.
func (e *caEnv) checkPlaced(t *testing.T, name string, arches ...string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = requiredArches(p)
		return len(p.Spec.SchedulingGates) == 0 && got != nil, nil
	})
	if err != nil || strings.Join(got, ",") != strings.Join(arches, ",") {
		t.Fatalf("pod %s: required kubernetes.io/arch %v, want %v (%v)", name, got, arches, err)
	}
}

func (e *caEnv) removePlacementWebhook(t *testing.T) {
	t.Helper()
	err := e.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), placementWebhook, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

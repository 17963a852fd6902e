package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2/ktesting"

	"github.com/archfit/archfit/plugins/archfit"
	"github.com/archfit/archfit/test/harness/registrytest"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// TestArchfit starts one real control plane for the whole binary; the
// scheduler and the expander run against it, each scenario a subtest with
// its own nodes and namespace.
func TestArchfit(t *testing.T) {
	cp := startControlPlane(t)
	// The report runs first: its expected prices come from the only two
	// nodes that exist then.
	t.Run("report", func(t *testing.T) { reportScenario(t, cp) })
	t.Run("scheduler", func(t *testing.T) { schedulerScenarios(t, cp) })
	t.Run("expander", func(t *testing.T) { expanderScenarios(t, cp) })
	t.Run("manifests", func(t *testing.T) { manifestsScenario(t, cp) })
	t.Run("placement", func(t *testing.T) { placementScenarios(t, cp) })
	t.Run("migration", func(t *testing.T) { migrationScenarios(t, cp) })
}

// schedulerScenarios runs one archfit scheduler from
// scheduler-config/archfit-scheduler.yaml.
func schedulerScenarios(t *testing.T, cp *controlPlane) {
	cs := cp.client

	reg := registrytest.New()
	t.Cleanup(reg.Close)
	slow := registrytest.New() // a registry that hangs, for the stall scenario
	t.Cleanup(slow.Close)
	multi, amd, arm := reg.Host+"/app/multi:1", reg.Host+"/app/amd:1", reg.Host+"/app/arm:1"
	for _, err := range []error{
		second(reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(reg.PushImage("app/amd:1", "linux/amd64", false)),
		second(reg.PushImage("app/arm:1", "linux/arm64", true)),
		second(slow.PushImage("app/stuck:1", "linux/arm64", false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	slow.SetFault("/manifests/", registrytest.Fault{Delay: 30 * time.Second})

	startScheduler(t, cp, shippedConfig(t, "archfit-scheduler.yaml", []string{reg.Host, slow.Host}))

	t.Run("multi-arch image goes to the cheaper arm64 node", func(t *testing.T) {
		ns, sc := "multi", "multi"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "multi-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "multi-arm", "arm64", instanceType("m7g.large"))
		// Load the arm64 node, so that without ArchFit's cost score every
		// other score would pick amd64: the test cannot pass by a tie.
		createPod(t, cs, ns, sc, "existing", multi, onNode("multi-arm"), cpu("700m"))
		createPod(t, cs, ns, sc, "web", multi, cpu("500m"))
		if node := waitBound(t, cs, ns, "web", 30*time.Second); node != "multi-arm" {
			t.Fatalf("bound to %s, want multi-arm", node)
		}
		note := waitEvent(t, cs, ns, "web", archfit.EventPlacedCheaper)
		if !strings.Contains(note, "arm64") || !strings.Contains(note, "estimated saving") {
			t.Errorf("Event note = %q", note)
		}
	})

	t.Run("the replicas of one workload share one placement Event", func(t *testing.T) {
		ns, sc := "replicas", "replicas"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "replicas-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "replicas-arm", "arm64", instanceType("m7g.large"))
		for _, name := range []string{"web-1", "web-2", "web-3"} {
			createPod(t, cs, ns, sc, name, multi, ownedBy("ReplicaSet", "web", "rs-web-uid"))
		}
		for _, name := range []string{"web-1", "web-2", "web-3"} {
			if node := waitBound(t, cs, ns, name, 30*time.Second); node != "replicas-arm" {
				t.Fatalf("%s bound to %s, want replicas-arm", name, node)
			}
		}
		// The scheduler's recorder writes Events in order: once every
		// Scheduled Event is in, and a second more, a second placement
		// Event would have shown.
		err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
			r := reasonsIn(t, cs, ns)
			return len(r["Scheduled"]) == 3 && len(r[archfit.EventPlacedCheaper]) >= 1, nil
		})
		if err != nil {
			t.Fatalf("Events never arrived: %v", reasonsIn(t, cs, ns))
		}
		time.Sleep(time.Second)
		placed := reasonsIn(t, cs, ns)[archfit.EventPlacedCheaper]
		if len(placed) != 1 {
			t.Fatalf("%d %s Events for three replicas, want 1 (placementEvents PerWorkload): %q", len(placed), archfit.EventPlacedCheaper, placed)
		}
		if !strings.Contains(placed[0], "said once an hour for the pods of ReplicaSet web") {
			t.Errorf("Event note does not say it stands for the workload: %q", placed[0])
		}
	})

	t.Run("amd64-only image goes to amd64 even when arm64 is cheaper and emptier", func(t *testing.T) {
		ns, sc := "amdonly", "amdonly"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "amdonly-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "amdonly-arm", "arm64", instanceType("m7g.large"))
		// Load the amd64 node so that every other score prefers arm64.
		createPod(t, cs, ns, sc, "existing", multi, onNode("amdonly-amd"), cpu("1"))
		createPod(t, cs, ns, sc, "legacy", amd)
		if node := waitBound(t, cs, ns, "legacy", 30*time.Second); node != "amdonly-amd" {
			t.Fatalf("bound to %s, want amdonly-amd", node)
		}
		note := waitEvent(t, cs, ns, "legacy", archfit.EventImageLacksArch)
		if !strings.Contains(note, amd) || !strings.Contains(note, "arm64") {
			t.Errorf("Event should name the blocking image: %q", note)
		}
	})

	t.Run("arm64-only image goes to arm64 even when amd64 is cheaper", func(t *testing.T) {
		ns, sc := "armonly", "armonly"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "armonly-amd", "amd64", hourlyPrice("0.01"))
		createNode(t, cs, sc, "armonly-arm", "arm64", hourlyPrice("0.50"))
		createPod(t, cs, ns, sc, "edge", arm)
		if node := waitBound(t, cs, ns, "edge", 30*time.Second); node != "armonly-arm" {
			t.Fatalf("bound to %s, want armonly-arm", node)
		}
	})

	t.Run("an amd64-only init container restricts the pod", func(t *testing.T) {
		ns, sc := "init", "init"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "init-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "init-arm", "arm64", instanceType("m7g.large"))
		createPod(t, cs, ns, sc, "migrate", multi, initImage(amd))
		if node := waitBound(t, cs, ns, "migrate", 30*time.Second); node != "init-amd" {
			t.Fatalf("bound to %s, want init-amd", node)
		}
	})

	t.Run("the pod's own required affinity for amd64 is respected", func(t *testing.T) {
		ns, sc := "affinity", "affinity"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "affinity-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "affinity-arm", "arm64", instanceType("m7g.large"))
		createPod(t, cs, ns, sc, "pinned", multi, nodeSelector("kubernetes.io/arch", "amd64"))
		if node := waitBound(t, cs, ns, "pinned", 30*time.Second); node != "affinity-amd" {
			t.Fatalf("bound to %s, want affinity-amd", node)
		}
	})

	t.Run("an unknown image follows unknownImagePolicy Fallback to amd64", func(t *testing.T) {
		ns, sc := "unknown", "unknown"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "unknown-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "unknown-arm", "arm64", instanceType("m7g.large"))
		createPod(t, cs, ns, sc, "mystery", reg.Host+"/app/not-pushed:1")
		if node := waitBound(t, cs, ns, "mystery", 30*time.Second); node != "unknown-amd" {
			t.Fatalf("bound to %s, want unknown-amd", node)
		}
		note := waitEvent(t, cs, ns, "mystery", archfit.EventImageUnknown)
		if !strings.Contains(note, "not_found") || !strings.Contains(note, "Fallback") {
			t.Errorf("Event note = %q", note)
		}
	})

	t.Run("a node without an arch label falls back to status.nodeInfo", func(t *testing.T) {
		ns, sc := "status", "status"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "status-amd", "amd64", hourlyPrice("0.01"))
		createNode(t, cs, sc, "status-arm", "arm64", statusArchOnly())
		createPod(t, cs, ns, sc, "edge", arm)
		if node := waitBound(t, cs, ns, "edge", 30*time.Second); node != "status-arm" {
			t.Fatalf("bound to %s, want status-arm", node)
		}
	})

	t.Run("a pod that no node fits stays Pending with the reason", func(t *testing.T) {
		ns, sc := "nofit", "nofit"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "nofit-amd-1", "amd64")
		createNode(t, cs, sc, "nofit-amd-2", "amd64")
		createPod(t, cs, ns, sc, "edge", arm)
		msg := waitUnschedulable(t, cs, ns, "edge")
		if !strings.Contains(msg, archfit.ErrReasonImageArchitecture) {
			t.Fatalf("condition message %q lacks %q", msg, archfit.ErrReasonImageArchitecture)
		}
		// A matching node joining requeues it (QueueingHint), well before
		// the periodic flush of unschedulable pods.
		createNode(t, cs, sc, "nofit-arm", "arm64")
		if node := waitBound(t, cs, ns, "edge", 60*time.Second); node != "nofit-arm" {
			t.Fatalf("bound to %s, want nofit-arm", node)
		}
	})

	t.Run("an arm64-only pod too big for the arm64 nodes: both reasons in its condition", func(t *testing.T) {
		// Other scenarios' amd64 nodes exist, so PreFilter narrows the pod
		// to the arm64 nodes and the framework lumps the rest under
		// "didn't satisfy plugin(s) [ArchFit]"; ArchFit's PostFilter puts its
		// own reason back.
		ns, sc := "toobig", "toobig"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "toobig-arm", "arm64")
		createNode(t, cs, sc, "toobig-amd", "amd64")
		createPod(t, cs, ns, sc, "edge", arm, cpu("3"))
		msg := waitUnschedulable(t, cs, ns, "edge")
		for _, want := range []string{"Insufficient cpu", archfit.Name + ": ", archfit.ErrReasonImageArchitecture} {
			if !strings.Contains(msg, want) {
				t.Errorf("condition message %q lacks %q", msg, want)
			}
		}
		t.Logf("condition message: %s", msg)
	})

	t.Run("a pod of the default scheduler is untouched", func(t *testing.T) {
		ns, sc := "theirs", "theirs"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "theirs-arm", "arm64")
		createPod(t, cs, ns, sc, "theirs", amd, schedulerName("default-scheduler"))
		createPod(t, cs, ns, sc, "ours", arm)
		waitBound(t, cs, ns, "ours", 30*time.Second)
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), "theirs", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
			t.Fatalf("archfit-scheduler touched a default-scheduler pod: node %q, conditions %+v", p.Spec.NodeName, p.Status.Conditions)
		}
		if ev := eventsFor(t, cs, ns, "theirs"); len(ev) != 0 {
			t.Fatalf("Events on a default-scheduler pod: %v", ev)
		}
	})

	t.Run("a registry that hangs for 30s does not stall other pods", func(t *testing.T) {
		ns, sc := "stall", "stall"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "stall-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "stall-arm", "arm64", instanceType("m7g.large"))
		createPod(t, cs, ns, sc, "stuck", slow.Host+"/app/stuck:1")
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			createPod(t, cs, ns, sc, "free-"+n, multi)
		}
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			waitBound(t, cs, ns, "free-"+n, 20*time.Second)
		}
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), "stuck", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("the stuck pod was bound to %s before its lookup could finish", p.Spec.NodeName)
		}
		msg := waitUnschedulable(t, cs, ns, "stuck")
		if !strings.Contains(msg, archfit.ErrReasonLookupPending) {
			t.Errorf("condition message %q lacks %q", msg, archfit.ErrReasonLookupPending)
		}
		// The lookup times out after requestTimeout (10s in the shipped
		// config); the pod is then activated at once and placed by the
		// Fallback policy, long before the 5-minute unschedulable flush.
		if node := waitBound(t, cs, ns, "stuck", 90*time.Second); node != "stall-amd" {
			t.Fatalf("bound to %s, want stall-amd (Fallback)", node)
		}
	})

	t.Run("a bad ArchFit arg stops the scheduler at start-up, naming the field", func(t *testing.T) {
		good := string(shippedConfig(t, "archfit-scheduler.yaml", []string{reg.Host}))
		bad := strings.Replace(good, "lookupBudget: 100ms", "lookupBudget: 3s", 1)
		if bad == good {
			t.Fatal("lookupBudget: 100ms is no longer in the shipped file")
		}
		_, ctx := ktesting.NewTestContext(t)
		stop, err := cp.StartScheduler(ctx, []byte(bad), app.WithPlugin(archfit.Name, archfit.New))
		if err == nil {
			stop()
			t.Fatal("a scheduler with lookupBudget 3s started")
		}
		if !strings.Contains(err.Error(), "lookupBudget") {
			t.Fatalf("setup err = %v, want it to name lookupBudget", err)
		}
	})

	t.Run("metrics record decisions by arch", func(t *testing.T) {
		// The registry is process-wide and earlier scenarios bound pods too,
		// so count what this one binds: one pod to each arch.
		decisions := func(arch string) float64 {
			return gatherValue(t, "archfit_scheduler_decisions_total", map[string]string{"profile": "archfit-scheduler", "arch": arch})
		}
		arm0, amd0 := decisions("arm64"), decisions("amd64")
		ns, sc := "metrics", "metrics"
		createNamespace(t, cs, ns)
		createNode(t, cs, sc, "metrics-amd", "amd64", instanceType("m6i.large"))
		createNode(t, cs, sc, "metrics-arm", "arm64", instanceType("m7g.large"))
		createPod(t, cs, ns, sc, "on-arm", arm)
		createPod(t, cs, ns, sc, "on-amd", amd)
		waitBound(t, cs, ns, "on-arm", 30*time.Second)
		waitBound(t, cs, ns, "on-amd", 30*time.Second)
		// PostBind counts after the binding is written: wait for it, then
		// make sure nothing more arrives.
		err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return decisions("arm64")-arm0 >= 1 && decisions("amd64")-amd0 >= 1, nil
		})
		time.Sleep(200 * time.Millisecond)
		if d1, d2 := decisions("arm64")-arm0, decisions("amd64")-amd0; err != nil || d1 != 1 || d2 != 1 {
			t.Errorf("decisions grew by arm64 %v, amd64 %v for one pod bound to each; want 1 and 1", d1, d2)
		}
		// The stalled-registry scenario's pod is constrained once per
		// scheduling cycle until its lookup completes; how many cycles
		// that takes is the queue's business, so this is a lower bound.
		if v := gatherValue(t, "archfit_scheduler_pods_constrained_total", map[string]string{"profile": "archfit-scheduler", "reason": "lookup_pending"}); v < 1 {
			t.Errorf("lookup_pending = %v", v)
		}
	})
}

func second(_ string, err error) error { return err }

func gatherValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/test/harness/kubeletsim"
	"github.com/archfit/archfit/test/harness/placementtest"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// migrationScenarios runs the migration controller in archfit-placement
// (leader-elected, Enabled) with archfit-scheduler, the Deployment,
// ReplicaSet and disruption controllers, a real registry, and kubeletsim
// writing pod status as kubelet does.
func migrationScenarios(t *testing.T, cp *controlPlane) {
	cs := cp.client
	ctx := context.Background()
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	img := func(repo string) string { return reg.Host + "/" + repo }
	digests := map[string]string{}
	// canary, doomed, pinned and the form- images lie as liar does: their
	// index lists arm64 and their arm64 binary is amd64's.
	forms := []string{"index", "manifest", "config"}
	lyingRepos := []string{"mig/liar:1", "mig/canary:1", "mig/doomed:1", "mig/pinned:1"}
	for _, f := range forms {
		lyingRepos = append(lyingRepos, "mig/form-"+f+":1")
	}
	lying := map[string]bool{}
	for _, r := range lyingRepos {
		lying[img(r)] = true
	}
	for _, repo := range append([]string{"mig/web:1", "mig/crashy:1"}, lyingRepos...) {
		d, err := reg.PushIndex(repo, []string{"linux/amd64", "linux/arm64"}, false, false)
		if err != nil {
			t.Fatal(err)
		}
		digests[img(repo)] = d
	}
	web, liar, crashy := img("mig/web:1"), img("mig/liar:1"), img("mig/crashy:1")
	if _, err := reg.PushImage("mig/amdonly:1", "linux/amd64", false); err != nil {
		t.Fatal(err)
	}
	amdOnly := img("mig/amdonly:1")

	const sc, ns = "migration", "migration"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "archfit"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	createNamespace(t, cs, ns)
	createNode(t, cs, sc, "mig-amd-1", "amd64", instanceType("m6i.large"))
	createNode(t, cs, sc, "mig-amd-2", "amd64", instanceType("m6i.large"))
	createNode(t, cs, sc, "mig-arm-1", "arm64", instanceType("m7g.large"))
	createNode(t, cs, sc, "mig-arm-2", "arm64", instanceType("m7g.large"))
	startScheduler(t, cp, shippedConfig(t, "archfit-scheduler.yaml", []string{reg.Host}))
	cctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if err := cp.StartControllers(cctx); err != nil {
		t.Fatal(err)
	}
	// What the runtime reports as imageID: the index's digest (containerd,
	// for a tag), except for the form- images on arm64, which report the
	// form their name gives, as other runtimes do.
	reported := map[string]string{}
	for _, f := range forms {
		pd, err := reg.PlatformDigests("mig/form-" + f + ":1")
		if err != nil {
			t.Fatal(err)
		}
		reported[img("mig/form-"+f+":1")] = map[string]string{"index": digests[img("mig/form-"+f+":1")], "manifest": pd["arm64"][0], "config": pd["arm64"][1]}[f]
	}
	// How long each app's pods take to pull and start; see startAfter.
	var startDelays sync.Map
	kl := &kubeletsim.Kubelet{Client: cs, Namespace: ns,
		ImageIDOn: func(image, arch string) string {
			repo, _, _ := strings.Cut(image, ":1")
			if d, ok := reported[image]; ok && arch == "arm64" {
				return repo + "@" + d
			}
			return repo + "@" + digests[image]
		},
		StartDelay: func(p *corev1.Pod) time.Duration {
			if f, ok := startDelays.Load(p.Labels["app"]); ok {
				return f.(func(*corev1.Pod) time.Duration)(p)
			}
			return 0
		},
		Fail: func(_ *corev1.Pod, c corev1.Container, arch string) kubeletsim.Failure {
			switch {
			case lying[c.Image] && arch == "arm64":
				return kubeletsim.ExecFormat
			case c.Image == crashy && arch == "arm64":
				return kubeletsim.CrashLoop
			}
			return kubeletsim.Runs
		}}
	go func() { _ = kl.Run(cctx) }()

	// The records this test binary's earlier runs may have left.
	_ = cs.CoreV1().ConfigMaps("archfit").Delete(ctx, "archfit-rollbacks", metav1.DeleteOptions{})

	srv := newPlacementServer(t, cp)
	options := func(change func(*placementapp.Options)) func(*placementapp.Options) {
		return func(o *placementapp.Options) {
			o.InsecureRegistries = []string{reg.Host}
			o.MigrationMode = string(migrationctl.ModeEnabled)
			o.MigrationInterval = time.Second
			o.MigrationEvictionsPerMinute = 600
			o.MigrationCrashLoopRestarts = 3
			// Seconds for minutes: long enough to span the kubelet
			// stand-in's slow starts below, short enough for a ramp.
			o.MigrationSoak = 2 * time.Second
			o.MigrationReadyTimeout = time.Minute
			o.MigrationNodeTimeout = time.Minute
			// The scenarios are those of the controller following the
			// planner's node-at-a-time plan.
			o.MigrationFollowPlan = true
			if change != nil {
				change(o)
			}
		}
	}
	srv.up(options(nil))
	// An earlier scenario's configuration may point at a server that is
	// gone; point it at this one.
	_ = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "archfit-placement", metav1.DeleteOptions{})
	if err := srv.Install(ctx, cs, ns, web); err != nil {
		t.Fatal(err)
	}
	restart := func(change func(*placementapp.Options)) {
		t.Helper()
		srv.down()
		srv.up(options(change))
	}
	// The autoscaler's part in a move: an amd64 node that migration
	// emptied goes away, as cluster-autoscaler's scale-down removes an
	// unneeded node. Each scenario starts with its nodes back (fresh).
	go scaleDownEmptied(cctx, cs, sc)
	fresh := func(t *testing.T, change func(*placementapp.Options)) {
		t.Helper()
		// New amd64 nodes: ones the stand-in has not seen run pods.
		for _, p := range listAll(t, cs, ns) {
			if strings.HasPrefix(p.Spec.NodeName, "mig-amd-") {
				t.Fatalf("pod %s of an earlier scenario is still on %s", p.Name, p.Spec.NodeName)
			}
		}
		for _, n := range []string{"mig-amd-1", "mig-amd-2"} {
			if err := cs.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Fatalf("node %s not deleted: %v", n, err)
			}
			createNode(t, cs, sc, n, "amd64", instanceType("m6i.large"))
		}
		for _, n := range []string{"mig-arm-1", "mig-arm-2"} {
			cordon(t, cs, n, false)
		}
		// A new controller: an earlier scenario's step or back-off does
		// not carry over.
		restart(change)
	}
	// onOneNode deploys replicas of image on mig-amd-1 alone, at target 0%.
	onOneNode := func(t *testing.T, name, image string, replicas int32) {
		t.Helper()
		cordon(t, cs, "mig-amd-2", true)
		deployOnAMD64(t, cs, ns, sc, name, image, replicas)
		cordon(t, cs, "mig-amd-2", false)
	}
	done := func(t *testing.T, apps ...string) {
		t.Helper()
		for _, a := range apps {
			deleteApp(t, cs, ns, a)
		}
	}

	t.Run("a target caps the share: no move that cannot empty a node; at 100% the node's pods move one by one and the node goes", func(t *testing.T) {
		fresh(t, nil)
		onOneNode(t, "ramp", web, 4)
		moved0 := scrape(t, srv.MetricsAddr, "archfit_migration_evictions_total", map[string]string{"purpose": "move", "result": "evicted"})
		// 50% of 4 is 2: moving 2 would leave mig-amd-1 running, partly
		// used, beside a new arm64 node. Nothing moves.
		setTarget(t, cs, ns, "ramp", "50%")
		time.Sleep(5 * time.Second)
		if got := archCounts(t, cs, ns, "ramp"); got["amd64"] != 4 || got["pending"] != 0 {
			t.Fatalf("at 50%%: %v, want all 4 still on amd64", got)
		}
		setTarget(t, cs, ns, "ramp", "100%")
		waitArchCounts(t, cs, ns, "ramp", func(m map[string]int) bool { return m["arm64"] == 4 && m["amd64"] == 0 && m["pending"] == 0 })
		moved := scrape(t, srv.MetricsAddr, "archfit_migration_evictions_total", map[string]string{"purpose": "move", "result": "evicted"}) - moved0
		if moved != 4 {
			t.Fatalf("%v move evictions, want exactly 4: each one landed on arm64, none came back", moved)
		}
		if n := len(workloadEvents(t, cs, ns, "ramp", migrationctl.ReasonMoved)); n != 4 {
			t.Errorf("%d %s Events on the Deployment, want 4", n, migrationctl.ReasonMoved)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "ramp", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, ok := d.Annotations[migration.NextAnnotation]
			return !ok, nil
		})
		if err != nil {
			t.Errorf("%s still set with every pod on arm64: %v", migration.NextAnnotation, err)
		}
		// The emptied node goes (the stand-in for the autoscaler), and the
		// controller checks what that saved.
		waitNodeEvent(t, cs, "mig-amd-1", migrationctl.ReasonNodeFreed)
		done(t, "ramp")
	})

	t.Run("a move that would leave a partly used node is not made; the one that empties a node is", func(t *testing.T) {
		fresh(t, nil)
		cordon(t, cs, "mig-amd-2", true)
		// legacy is amd64-only and too big for mig-amd-2's room (2000m
		// less alone's 200m): it keeps mig-amd-1, and so does beside.
		deployOnAMD64(t, cs, ns, sc, "legacy", amdOnly, 1)
		if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "legacy", types.JSONPatchType,
			[]byte(`[{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"1850m"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitArchCounts(t, cs, ns, "legacy", func(m map[string]int) bool {
			for _, p := range listApp(t, cs, ns, "legacy") {
				if p.DeletionTimestamp != nil || p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() != 1850 {
					return false
				}
			}
			return m["amd64"] == 1
		})
		deployOnAMD64(t, cs, ns, sc, "beside", web, 1)
		cordon(t, cs, "mig-amd-2", false)
		cordon(t, cs, "mig-amd-1", true)
		deployOnAMD64(t, cs, ns, sc, "alone", web, 2)
		cordon(t, cs, "mig-amd-1", false)
		setTarget(t, cs, ns, "beside", "100%")
		setTarget(t, cs, ns, "alone", "100%")
		waitArchCounts(t, cs, ns, "alone", func(m map[string]int) bool { return m["arm64"] == 2 && m["amd64"] == 0 })
		waitNodeEvent(t, cs, "mig-amd-2", migrationctl.ReasonNodeFreed)
		time.Sleep(3 * time.Second)
		if got := archCounts(t, cs, ns, "beside"); got["amd64"] != 1 {
			t.Fatalf("beside: %v, want it left on amd64: mig-amd-1 stays for legacy, and moving beside would add an arm64 node", got)
		}
		if n := len(workloadEvents(t, cs, ns, "beside", migrationctl.ReasonMoved)); n != 0 {
			t.Errorf("%d moves of beside, want none", n)
		}
		done(t, "legacy", "beside", "alone")
	})

	t.Run("a replacement is constrained to arm64 and never lands back on the node just freed", func(t *testing.T) {
		fresh(t, nil)
		cordon(t, cs, "mig-arm-1", true)
		cordon(t, cs, "mig-arm-2", true)
		defer cordon(t, cs, "mig-arm-1", false)
		defer cordon(t, cs, "mig-arm-2", false)
		cordon(t, cs, "mig-amd-2", true)
		deploy(t, cs, ns, sc, "churn", web, 2, "0%")
		waitArchCounts(t, cs, ns, "churn", func(m map[string]int) bool { return m["amd64"] == 2 })
		cordon(t, cs, "mig-amd-2", false)
		setTarget(t, cs, ns, "churn", "100%")
		// No arm64 node has room: the move goes ahead, trusting the
		// autoscaler, and the replacement waits Pending for arm64.
		var pending corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			for _, p := range listApp(t, cs, ns, "churn") {
				if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
					pending = p
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("no replacement pod appeared: %v", err)
		}
		time.Sleep(2 * time.Second)
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pending.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("the replacement was bound to %s while no arm64 node had room", p.Spec.NodeName)
		}
		if got := requiredArchs(p); strings.Join(got, ",") != "arm64" {
			t.Fatalf("the replacement's required arch is %v, want [arm64]", got)
		}
		cordon(t, cs, "mig-arm-1", false)
		waitArchCounts(t, cs, ns, "churn", func(m map[string]int) bool { return m["arm64"] == 2 && m["amd64"] == 0 })
		done(t, "churn")
	})

	t.Run("without an autoscaler to trust, nothing moves while arm64 has no room", func(t *testing.T) {
		fresh(t, func(o *placementapp.Options) { o.MigrationExpectScaleUp = false })
		cordon(t, cs, "mig-arm-1", true)
		cordon(t, cs, "mig-arm-2", true)
		cordon(t, cs, "mig-amd-2", true)
		deploy(t, cs, ns, sc, "noroom", web, 2, "0%")
		waitArchCounts(t, cs, ns, "noroom", func(m map[string]int) bool { return m["amd64"] == 2 })
		cordon(t, cs, "mig-amd-2", false)
		setTarget(t, cs, ns, "noroom", "100%")
		waitWorkloadEvent(t, cs, ns, "noroom", migrationctl.ReasonMoveWaiting)
		time.Sleep(3 * time.Second)
		if got := archCounts(t, cs, ns, "noroom"); got["amd64"] != 2 || got["pending"] != 0 || got["terminating"] != 0 {
			t.Fatalf("pods moved with no room on arm64: %v", got)
		}
		cordon(t, cs, "mig-arm-1", false)
		cordon(t, cs, "mig-arm-2", false)
		waitArchCounts(t, cs, ns, "noroom", func(m map[string]int) bool { return m["arm64"] == 2 })
		done(t, "noroom")
	})

	t.Run("a move whose replacement comes back on amd64 is not repeated", func(t *testing.T) {
		// Without placement's webhook nothing constrains the replacement,
		// and with arm64 cordoned it lands on amd64 again.
		fresh(t, nil)
		if err := placementtest.Uninstall(ctx, cs, ns, web); err != nil {
			t.Fatal(err)
		}
		cordon(t, cs, "mig-arm-1", true)
		cordon(t, cs, "mig-arm-2", true)
		cordon(t, cs, "mig-amd-2", true)
		deploy(t, cs, ns, sc, "undone", web, 2, "0%")
		waitArchCounts(t, cs, ns, "undone", func(m map[string]int) bool { return m["amd64"] == 2 })
		cordon(t, cs, "mig-amd-2", false)
		setTarget(t, cs, ns, "undone", "100%")
		waitWorkloadEvent(t, cs, ns, "undone", migrationctl.ReasonMoveUndone)
		time.Sleep(2 * time.Second)
		if n := len(workloadEvents(t, cs, ns, "undone", migrationctl.ReasonMoved)); n != 1 {
			t.Errorf("%d moves, want 1 and then a pause", n)
		}
		if got := archCounts(t, cs, ns, "undone"); got["amd64"] != 2 {
			t.Errorf("pods %v", got)
		}
		cordon(t, cs, "mig-arm-1", false)
		cordon(t, cs, "mig-arm-2", false)
		if err := srv.Install(ctx, cs, ns, web); err != nil {
			t.Fatal(err)
		}
		done(t, "undone")
	})

	t.Run("a PodDisruptionBudget holds: evictions wait until it allows one", func(t *testing.T) {
		fresh(t, nil)
		onOneNode(t, "guarded", web, 2)
		two := intstr.FromInt32(2)
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "guarded"}, Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}}}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The disruption controller computes the budget from the pods'
		// readiness, which kubeletsim reports.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
			return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == 2, err
		})
		if err != nil {
			t.Fatalf("the PDB's status was never computed: %v", err)
		}
		setTarget(t, cs, ns, "guarded", "100%")
		waitWorkloadEvent(t, cs, ns, "guarded", migrationctl.ReasonMoveBlocked)
		if got := archCounts(t, cs, ns, "guarded"); got["amd64"] != 2 || got["terminating"] != 0 {
			t.Fatalf("a pod was evicted against the PDB: %v", got)
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Patch(ctx, "guarded", types.MergePatchType, []byte(`{"spec":{"minAvailable":1}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitArchCounts(t, cs, ns, "guarded", func(m map[string]int) bool { return m["arm64"] == 2 })
		done(t, "guarded")
	})

	t.Run("moves are rate-limited cluster-wide", func(t *testing.T) {
		fresh(t, func(o *placementapp.Options) { o.MigrationEvictionsPerMinute = 6 })
		cordon(t, cs, "mig-amd-2", true)
		for _, n := range []string{"rate-a", "rate-b", "rate-c"} {
			deployOnAMD64(t, cs, ns, sc, n, web, 1)
		}
		cordon(t, cs, "mig-amd-2", false)
		for _, n := range []string{"rate-a", "rate-b", "rate-c"} {
			setTarget(t, cs, ns, n, "100%")
		}
		var times []time.Time
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			times = times[:0]
			for _, n := range []string{"rate-a", "rate-b", "rate-c"} {
				for _, e := range workloadEvents(t, cs, ns, n, migrationctl.ReasonMoved) {
					times = append(times, e.EventTime.Time)
				}
			}
			return len(times) >= 2, nil
		})
		if err != nil {
			t.Fatalf("%d moves in 60s at 6 per minute", len(times))
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		// 6 per minute with a burst of one: 10s between moves. Event times
		// have microsecond precision and come from the same clock.
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 9*time.Second {
				t.Fatalf("moves %v apart at 6 per minute: %v", gap, times)
			}
		}
		done(t, "rate-a", "rate-b", "rate-c")
	})

	t.Run("exec format error on arm64: recorded, new pods kept off arm64, failing pods evicted, ramp paused", func(t *testing.T) {
		fresh(t, nil)
		rollbacks0 := scrape(t, srv.MetricsAddr, "archfit_migration_rollbacks_total", map[string]string{"reason": migration.ReasonExecFormatError, "arch": "arm64"})
		onOneNode(t, "liar", liar, 4)
		before := map[string]bool{}
		for _, p := range listApp(t, cs, ns, "liar") {
			before[p.Name] = true
		}
		setTarget(t, cs, ns, "liar", "100%")
		// The first pod moved to arm64 fails to start there.
		rec := waitRecord(t, cs, digests[liar])
		if len(rec) != 1 || rec[0].Arch != "arm64" || rec[0].Reason != migration.ReasonExecFormatError || rec[0].Workload != "Deployment/"+ns+"/liar" || rec[0].Image != liar {
			t.Fatalf("record %+v", rec)
		}
		waitWorkloadEvent(t, cs, ns, "liar", migrationctl.ReasonRollback)
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "liar", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(d.Annotations[migration.PausedAnnotation], "arm64") {
			t.Fatalf("ramp not paused: annotations %v", d.Annotations)
		}
		// The failing pod is evicted; its replacement is kept off arm64
		// and runs on amd64.
		waitArchCounts(t, cs, ns, "liar", func(m map[string]int) bool { return m["amd64"] == 4 && m["arm64"] == 0 && m["pending"] == 0 })
		replaced := 0
		for _, p := range listApp(t, cs, ns, "liar") {
			if p.DeletionTimestamp != nil || before[p.Name] {
				continue
			}
			// The one moved to arm64 was created before the record; its
			// replacement after.
			if got := strings.Join(requiredArchs(&p), ","); got == "amd64" {
				replaced++
			} else if got != "arm64" {
				t.Errorf("pod %s requires %v", p.Name, got)
			}
		}
		if replaced == 0 {
			t.Errorf("no pod created after the record is constrained to [amd64]")
		}
		if got := scrape(t, srv.MetricsAddr, "archfit_migration_rollbacks_total", map[string]string{"reason": migration.ReasonExecFormatError, "arch": "arm64"}) - rollbacks0; got != 1 {
			t.Errorf("rollbacks metric rose by %v, want 1", got)
		}
		done(t, "liar")
	})

	t.Run("a crash loop on arm64 only is rolled back; the record survives a restart; clearing it lets arm64 back", func(t *testing.T) {
		fresh(t, nil)
		onOneNode(t, "crashy", crashy, 4)
		setTarget(t, cs, ns, "crashy", "100%")
		rec := waitRecord(t, cs, digests[crashy])
		if len(rec) != 1 || rec[0].Arch != "arm64" || rec[0].Reason != migration.ReasonArchCrashLoop {
			t.Fatalf("record %+v", rec)
		}
		waitArchCounts(t, cs, ns, "crashy", func(m map[string]int) bool { return m["amd64"] == 4 && m["arm64"] == 0 && m["pending"] == 0 })

		// A new controller process reads the records back.
		restart(nil)
		p := createBare(t, cs, ns, sc, "after-restart", crashy)
		if got := requiredArchs(p); strings.Join(got, ",") != "amd64" {
			t.Fatalf("after a restart a new pod of the recorded image requires %v, want [amd64]", got)
		}
		// The operator clears the record as the operator guide says.
		patch := fmt.Sprintf(`[{"op":"remove","path":"/data/%s"}]`, migration.Key(digests[crashy]))
		if _, err := cs.CoreV1().ConfigMaps("archfit").Patch(ctx, "archfit-rollbacks", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			p := createBare(t, cs, ns, sc, "", crashy)
			_ = cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			return strings.Join(requiredArchs(p), ",") == "amd64,arm64", nil
		})
		if err != nil {
			t.Fatalf("after the record was cleared, new pods still kept off arm64: %v", err)
		}
		// The liar's record is untouched.
		if rec := waitRecord(t, cs, digests[liar]); len(rec) != 1 {
			t.Fatalf("liar's record: %+v", rec)
		}
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "after-restart", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		done(t, "crashy")
	})

	// The safety scenarios. The kubelet stand-in takes longer to pull and
	// start a pod than the controller's pass interval (1s) and eviction
	// limit (600 a minute) leave between moves, as a real image pull does.
	slow := func(d time.Duration) func(*corev1.Pod) time.Duration {
		return func(*corev1.Pod) time.Duration { return d }
	}

	t.Run("a lying image at target 100% puts one pod on arm64, never two, and the workload never loses its last Ready pod", func(t *testing.T) {
		canary := img("mig/canary:1")
		startDelays.Store("canary", slow(3*time.Second))
		fresh(t, nil)
		onOneNode(t, "canary", canary, 2)
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			ready := 0
			for _, p := range listApp(t, cs, ns, "canary") {
				if podIsReady(&p) {
					ready++
				}
			}
			return ready == 2, nil
		})
		if err != nil {
			t.Fatalf("the Deployment's pods never both Ready: %v", err)
		}
		w := watchApp(t, cs, ns, "canary")
		setTarget(t, cs, ns, "canary", "100%")
		waitRecord(t, cs, digests[canary])
		waitArchCounts(t, cs, ns, "canary", func(m map[string]int) bool { return m["amd64"] == 2 && m["arm64"] == 0 && m["pending"] == 0 })
		time.Sleep(4 * time.Second) // more passes: nothing else moves
		onARM, minReady := w.stop()
		if len(onARM) != 1 {
			t.Errorf("pods bound to arm64 over the run: %v, want exactly one, the canary", onARM)
		}
		if minReady < 1 {
			t.Errorf("the Deployment had %d Ready pods at one point, want at least 1 throughout", minReady)
		}
		if n := len(workloadEvents(t, cs, ns, "canary", migrationctl.ReasonMoved)); n != 1 {
			t.Errorf("%d %s Events, want 1", n, migrationctl.ReasonMoved)
		}
		done(t, "canary")
	})

	t.Run("a record evicts at once every pod of the image on arm64, those still pulling too", func(t *testing.T) {
		doomed := img("mig/doomed:1")
		// The first pod starts in a second and fails; the second is
		// still pulling for a minute.
		var first sync.Once
		var firstUID types.UID
		startDelays.Store("doomed", func(p *corev1.Pod) time.Duration {
			first.Do(func() { firstUID = p.UID })
			if p.UID == firstUID {
				return time.Second
			}
			return time.Minute
		})
		fresh(t, nil)
		cordon(t, cs, "mig-amd-1", true)
		cordon(t, cs, "mig-amd-2", true)
		deploy(t, cs, ns, sc, "doomed", doomed, 2, "0%")
		waitArchCounts(t, cs, ns, "doomed", func(m map[string]int) bool { return m["arm64"] == 2 })
		var starting *corev1.Pod
		for _, p := range listApp(t, cs, ns, "doomed") {
			if p.UID != firstUID && p.DeletionTimestamp == nil {
				starting = p.DeepCopy()
			}
		}
		if starting == nil {
			t.Fatal("no second pod")
		}
		waitRecord(t, cs, digests[doomed])
		cordon(t, cs, "mig-amd-1", false)
		cordon(t, cs, "mig-amd-2", false)
		// Well before its pull would end, the pod still starting is gone.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, starting.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err) || (err == nil && p.UID != starting.UID), nil
		})
		if err != nil {
			t.Fatalf("pod %s, still pulling on arm64 when the record appeared, was not evicted: %v", starting.Name, err)
		}
		waitArchCounts(t, cs, ns, "doomed", func(m map[string]int) bool { return m["amd64"] == 2 && m["arm64"] == 0 })
		done(t, "doomed")
	})

	for _, form := range forms {
		t.Run("a record stops arm64 whatever digest the runtime reports: the "+form+"'s", func(t *testing.T) {
			image := img("mig/form-" + form + ":1")
			app := "form-" + form
			fresh(t, nil)
			cordon(t, cs, "mig-amd-1", true)
			cordon(t, cs, "mig-amd-2", true)
			// With the amd64 nodes cordoned it lands on arm64 and fails
			// at once there.
			deploy(t, cs, ns, sc, app, image, 1, "0%")
			// Keyed by the index digest, the one the resolvers look up,
			// holding the form that was reported.
			rec := waitRecord(t, cs, digests[image])
			if len(rec) != 1 || rec[0].Arch != "arm64" || !slices.Contains(rec[0].Digests, reported[image]) || !slices.Contains(rec[0].Digests, digests[image]) || len(rec[0].Digests) != 3 {
				t.Fatalf("record %+v, want arch arm64 with the index, manifest and config digests (reported %s)", rec, reported[image])
			}
			cordon(t, cs, "mig-amd-1", false)
			cordon(t, cs, "mig-amd-2", false)
			waitArchCounts(t, cs, ns, app, func(m map[string]int) bool { return m["amd64"] == 1 && m["arm64"] == 0 && m["pending"] == 0 })
			if p := createBare(t, cs, ns, sc, "", image); strings.Join(requiredArchs(p), ",") != "amd64" {
				t.Errorf("a new pod of the image requires %v, want [amd64]", requiredArchs(p))
			} else if err := cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second)
			if n := len(workloadEvents(t, cs, ns, app, migrationctl.ReasonRollbackEvict)); n != 1 {
				t.Errorf("%d %s Events, want 1", n, migrationctl.ReasonRollbackEvict)
			}
			done(t, app)
		})
	}

	t.Run("no eviction loop: a pod that comes back on the arch it was evicted from stops its workload", func(t *testing.T) {
		pinned := img("mig/pinned:1")
		fresh(t, nil)
		loops0 := scrape(t, srv.MetricsAddr, "archfit_migration_stops_total", map[string]string{"reason": migrationctl.StopEvictionLoop})
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pinned"}}, Spec: podSpec(sc, pinned)}
		tmpl.Spec.NodeName = "mig-arm-2" // the record cannot keep it off arm64
		one := int32(1)
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "pinned"},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl}}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRecord(t, cs, digests[pinned])
		waitWorkloadEvent(t, cs, ns, "pinned", migrationctl.ReasonEvictionLoop)
		time.Sleep(5 * time.Second) // five more passes
		if n := len(workloadEvents(t, cs, ns, "pinned", migrationctl.ReasonRollbackEvict)); n != 1 {
			t.Errorf("%d %s Events, want 1 and then a stop", n, migrationctl.ReasonRollbackEvict)
		}
		if got := scrape(t, srv.MetricsAddr, "archfit_migration_stops_total", map[string]string{"reason": migrationctl.StopEvictionLoop}) - loops0; got != 1 {
			t.Errorf("archfit_migration_stops_total{reason=eviction_loop} rose by %v, want 1", got)
		}
		done(t, "pinned")
	})
}

// appWatch follows an app's pods while a scenario runs: every pod ever
// bound to arm64, and the fewest Ready pods seen at once.
type appWatch struct {
	stopCh   chan struct{}
	done     chan struct{}
	onARM    map[string]bool
	minReady int
}

func watchApp(t *testing.T, cs kubernetes.Interface, ns, app string) *appWatch {
	t.Helper()
	arm := map[string]bool{}
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Labels[imageplatform.LabelArch] == "arm64" {
			arm[n.Name] = true
		}
	}
	w := &appWatch{stopCh: make(chan struct{}), done: make(chan struct{}), onARM: map[string]bool{}, minReady: 1 << 30}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
			if err == nil {
				ready := 0
				for _, p := range l.Items {
					if arm[p.Spec.NodeName] {
						w.onARM[p.Name] = true
					}
					if p.DeletionTimestamp == nil && podIsReady(&p) {
						ready++
					}
				}
				w.minReady = min(w.minReady, ready)
			}
			select {
			case <-w.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *appWatch) stop() ([]string, int) {
	close(w.stopCh)
	<-w.done
	var out []string
	for n := range w.onARM {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, w.minReady
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deployOnAMD64 creates a Deployment at target 0% with the arm64 nodes
// cordoned and waits for its pods on amd64: ArchFit's Score only prefers
// amd64 at the target, and spreading may outweigh a preference, so a test
// that must start on amd64 says so with the nodes.
func deployOnAMD64(t *testing.T, cs kubernetes.Interface, ns, scenario, name, image string, replicas int32) {
	t.Helper()
	cordon(t, cs, "mig-arm-1", true)
	cordon(t, cs, "mig-arm-2", true)
	deploy(t, cs, ns, scenario, name, image, replicas, "0%")
	waitArchCounts(t, cs, ns, name, func(m map[string]int) bool { return m["amd64"] == int(replicas) })
	cordon(t, cs, "mig-arm-1", false)
	cordon(t, cs, "mig-arm-2", false)
}

func deploy(t *testing.T, cs kubernetes.Interface, ns, scenario, name, image string, replicas int32, target string) {
	t.Helper()
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: podSpec(scenario, image)}
	tmpl.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{migration.TargetAnnotation: target}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl}}
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setTarget(t *testing.T, cs kubernetes.Interface, ns, name, target string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{migration.TargetAnnotation: target}}})
	if _, err := cs.AppsV1().Deployments(ns).Patch(context.Background(), name, types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func cordon(t *testing.T, cs kubernetes.Interface, node string, on bool) {
	t.Helper()
	b := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
	if _, err := cs.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(b), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func listApp(t *testing.T, cs kubernetes.Interface, ns, app string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// archCounts counts an app's pods: bound ones by their node's arch, the
// others as pending or terminating.
func archCounts(t *testing.T, cs kubernetes.Interface, ns, app string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range listApp(t, cs, ns, app) {
		switch {
		case p.DeletionTimestamp != nil:
			out["terminating"]++
		case p.Spec.NodeName == "":
			out["pending"]++
		default:
			n, err := cs.CoreV1().Nodes().Get(context.Background(), p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out[n.Labels[imageplatform.LabelArch]]++
		}
	}
	return out
}

func waitArchCounts(t *testing.T, cs kubernetes.Interface, ns, app string, ok func(map[string]int) bool) map[string]int {
	t.Helper()
	var got map[string]int
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		got = archCounts(t, cs, ns, app)
		return ok(got), nil
	})
	if err != nil {
		t.Fatalf("%s/%s: pods by arch stayed %v", ns, app, got)
	}
	return got
}

func workloadEvents(t *testing.T, cs kubernetes.Interface, ns, deployment, reason string) []eventsv1.Event {
	t.Helper()
	var out []eventsv1.Event
	for _, e := range listEvents(t, cs, ns) {
		if e.Regarding.Kind == "Deployment" && e.Regarding.Name == deployment && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func waitWorkloadEvent(t *testing.T, cs kubernetes.Interface, ns, deployment, reason string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		return len(workloadEvents(t, cs, ns, deployment, reason)) > 0, nil
	})
	if err != nil {
		t.Fatalf("no %s Event on Deployment %s/%s", reason, ns, deployment)
	}
}

func waitRecord(t *testing.T, cs kubernetes.Interface, digest string) []migration.Record {
	t.Helper()
	var rec []migration.Record
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		cm, err := cs.CoreV1().ConfigMaps("archfit").Get(ctx, "archfit-rollbacks", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		all, err := migration.ParseRecords(cm)
		if err != nil {
			return false, err
		}
		rec = all[digest]
		return len(rec) > 0, nil
	})
	if err != nil {
		t.Fatalf("no rollback record for %s: %v", digest, err)
	}
	return rec
}

func createBare(t *testing.T, cs kubernetes.Interface, ns, scenario, name, image string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec(scenario, image)}
	if name == "" {
		p.GenerateName = "bare-"
	}
	got, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// requiredArchs is the arch values a pod's required node affinity admits,
// over all its terms.
func requiredArchs(p *corev1.Pod) []string {
	var out []string
	for _, term := range requiredTerms(p) {
		for _, r := range term.MatchExpressions {
			if r.Key == imageplatform.LabelArch {
				out = append(out, r.Values...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// scrape reads one sample from a /metrics endpoint; 0 when absent.
func scrape(t *testing.T, addr, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	mf := mfs[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return 0
}

// scaleDownEmptied stands in for the autoscaler's scale-down: an amd64
// node of the scenario that ran pods and then runs none goes away, as
// cluster-autoscaler removes an unneeded node. A node that never ran a
// pod (just created for a scenario) stays.
func scaleDownEmptied(ctx context.Context, cs kubernetes.Interface, scenario string) {
	hadPods := map[types.UID]bool{}
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "archfit.test/scenario=" + scenario + "," + imageplatform.LabelArch + "=amd64"})
		if err != nil {
			continue
		}
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		busy := map[string]bool{}
		for _, p := range pods.Items {
			busy[p.Spec.NodeName] = true
		}
		for _, n := range nodes.Items {
			switch {
			case busy[n.Name]:
				hadPods[n.UID] = true
			case hadPods[n.UID]:
				uid := n.UID
				_ = cs.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			}
		}
	}
}

// deleteApp scales a scenario's Deployment to zero, waits for its pods to
// go, and deletes it with its ReplicaSets, so that the next scenario starts
// on empty nodes. (No garbage collector runs here to delete dependents.)
func deleteApp(t *testing.T, cs kubernetes.Interface, ns, app string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, app, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		return len(listApp(t, cs, ns, app)) == 0, nil
	})
	if err != nil {
		t.Fatalf("pods of %s/%s still there a minute after it was scaled to zero", ns, app)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := cs.AppsV1().Deployments(ns).Delete(ctx, app, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	if err := cs.AppsV1().ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=" + app}); err != nil {
		t.Fatal(err)
	}
}

// waitNodeEvent waits for an Event with reason regarding a node.
func waitNodeEvent(t *testing.T, cs kubernetes.Interface, node, reason string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := cs.EventsV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.Regarding.Kind == "Node" && e.Regarding.Name == node && e.Reason == reason {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s Event on node %s: %v", reason, node, err)
	}
}

// listAll lists every pod of a namespace.
func listAll(t *testing.T, cs kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

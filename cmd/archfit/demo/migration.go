package demo

// The migration run: a workload that runs on amd64 is given an arm64
// ramp, and archfit-placement's migration controller (Enabled) moves its
// pods step by step through the Eviction API; placement constrains the
// replacements to arm64, so the simulated cluster-autoscaler grows arm64
// for them through archfit-expander, and scales down the amd64 nodes they
// leave as CA does (scaledown.go). One Deployment's image claims arm64 but
// dies there with exec format error: the controller records the digest,
// pauses that workload and evicts the failing pod, whose replacement every
// resolver then keeps on amd64. kubeletsim reports pod status as kubelet
// would, which is what the controller reads.
//
// Time is compressed: a ramp step that would be days apart is seconds
// apart, and CA's minutes are loops of a second.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/test/harness/kubeletsim"
)

const (
	// migrationRamp is the target every migrating Deployment gets once it
	// runs: seconds standing for the days a team leaves between steps.
	migrationRamp = "25%, 50% after 8s, 100% after 8s"
	// migrationBound ends the run if the workloads have not settled.
	migrationBound = 90 * time.Second
	// caLoopPeriod stands for CA's --scan-interval (10s).
	caLoopPeriod = time.Second
	// The compressed CA durations, in loops: --scale-down-unneeded-time
	// (10m), --scale-down-delay-after-add (10m),
	// --scale-down-delay-after-delete (the scan interval), and how long a
	// drain may take before CA gives up on the node (--max-pod-eviction-time,
	// 2m).
	unneededLoops    = 2
	afterAddLoops    = 2
	afterDeleteLoops = 1
	maxDrainLoops    = 20
	// The controller's settings for the run: a pass a second, and a
	// cluster-wide move limit that the compressed ramp does not hit.
	migrationInterval  = time.Second
	migrationEvictRate = 120
	// A moved pod must be Ready this long before its workload moves
	// another (--migration-soak, 5m shipped): the kubelet stand-in starts
	// pods at once, so a second shows the canary rule without slowing the
	// run; a pod not Ready in migrationReadyTimeout pauses the ramp.
	migrationSoak         = time.Second
	migrationReadyTimeout = 30 * time.Second
	// recordsNamespace/recordsName is where the controller (and every
	// resolver, by default) keeps its rollback records.
	recordsNamespace, recordsName = "archfit", "archfit-rollbacks"
)

// scaleDownSimulation is appended to Report.Simulation when the migration
// run ran.
func scaleDownSimulation() string {
	return fmt.Sprintf("the migration run also scales down as CA does: a node is unneeded when the larger of its CPU and memory requests over allocatable is under %.1f (--scale-down-utilization-threshold) and every pod on it fits another node under the same filters (reserving as it places); "+
		"CA's loop runs every %v (its --scan-interval, 10s) and its minutes are compressed into loops: --scale-down-unneeded-time and --scale-down-delay-after-add (10m each) to %d loops, --scale-down-delay-after-delete to %d, --max-pod-eviction-time to %d; "+
		"unneeded empty nodes are deleted together, non-empty ones drained one at a time (--max-drain-parallelism 1) through the Eviction API after the %s taint; the ramp's days are seconds",
		scaleDownUtilizationThreshold, caLoopPeriod, unneededLoops, afterDeleteLoops, maxDrainLoops, toBeDeletedTaint)
}

// MigrationReport is the migration run's outcome.
type MigrationReport struct {
	Namespace string `json:"namespace"`
	// Ramp is the target set on every migrating Deployment once its pods
	// ran; its durations stand for days.
	Ramp      string              `json:"ramp"`
	Workloads []MigrationWorkload `json:"workloads"`
	// Before is the phase's start (every pod Running at target 0%), After
	// its end.
	NodesByGroupBefore map[string]int `json:"nodesByGroupBefore"`
	NodesByGroupAfter  map[string]int `json:"nodesByGroupAfter"`
	PodsByArchBefore   map[string]int `json:"podsByArchBefore"`
	PodsByArchAfter    map[string]int `json:"podsByArchAfter"`
	CostPerHourBefore  float64        `json:"costPerHourBefore"`
	CostPerHourAfter   float64        `json:"costPerHourAfter"`
	// SavingPercent is what After saves on Before; AboveCheapestPercent
	// what After costs above CheapestSafe.
	SavingPercent        float64 `json:"savingPercent"`
	AboveCheapestPercent float64 `json:"aboveCheapestSafePercent"`
	// CheapestSafe is every pod on the cheapest arch its images really run
	// on, packed by CA's binpacking estimate onto that group's nodes: the
	// floor the steady state is measured against.
	CheapestSafe CheapestPlacement `json:"cheapestSafe"`
	// PodsMoved is the controller's own count of pods it evicted to move
	// them (archfit_migration_evictions_total{purpose="move",
	// result="evicted"}); MovedEvents counts its ArchFitMoved Events on
	// the workloads.
	PodsMoved   int `json:"podsMoved"`
	MovedEvents int `json:"movedEvents"`
	// RampSteps counts the ArchFitRampStep Events since the ramp was set:
	// each workload's first step, and each step it advanced to.
	RampSteps int                 `json:"rampSteps"`
	Rollbacks []MigrationRollback `json:"rollbacks"`
	// ScaledDown are the nodes CA's simulated scale-down removed.
	ScaledDown []ScaledDownNode `json:"scaledDown"`
	// ScaleDownFailures counts drains given up (the node kept).
	ScaleDownFailures int `json:"scaleDownFailures"`
	PendingPods       int `json:"pendingPods"`
	// Settled is true when every workload reached its final share or was
	// paused by a rollback, nothing was pending and CA's simulation had
	// nothing left to remove, before the time bound.
	Settled     bool    `json:"settled"`
	DurationSec float64 `json:"durationSeconds"`
}

// MigrationWorkload is one migrating Deployment.
type MigrationWorkload struct {
	Name     string `json:"name"`
	Image    string `json:"image"`
	Replicas int    `json:"replicas"`
	// ClaimedPlatforms are what its image's index lists; RunsOn the arches
	// its binaries really run on.
	ClaimedPlatforms []string `json:"claimedPlatforms"`
	RunsOn           []string `json:"runsOn"`
	Target           string   `json:"target"`
	FinalPercent     int      `json:"finalPercent"`
	// Step is the ramp step in force at the end, from 1, of Steps, and
	// Percent its share.
	Step             int            `json:"step"`
	Steps            int            `json:"steps"`
	Percent          int            `json:"percent"`
	PodsByArchBefore map[string]int `json:"podsByArchBefore"`
	PodsByArchAfter  map[string]int `json:"podsByArchAfter"`
	// Running counts its pods Running and Ready at the end; OnFailingArch
	// those on an arch its binaries do not run on.
	Running       int    `json:"running"`
	OnFailingArch int    `json:"onFailingArch"`
	Moved         int    `json:"moved"` // ArchFitMoved Events
	Paused        string `json:"paused,omitempty"`
	// Reached is true at its final share, or when paused.
	Reached bool `json:"reached"`
}

// MigrationRollback is one record of the controller's rollback ConfigMap.
type MigrationRollback struct {
	Digest   string `json:"digest"`
	Image    string `json:"image"`
	Arch     string `json:"arch"`
	Reason   string `json:"reason"`
	Workload string `json:"workload"`
	Message  string `json:"message,omitempty"`
	// WorkloadOffArch is true when the workload, one of this run's, ended
	// with no pod on Arch; WorkloadRunning when all its replicas ended
	// Running and Ready.
	WorkloadOffArch bool `json:"workloadOffArch"`
	WorkloadRunning bool `json:"workloadRunning"`
}

// ScaledDownNode is a node CA's simulated scale-down removed.
type ScaledDownNode struct {
	Node  string `json:"node"`
	Group string `json:"group"`
	// Drained is true for a node that still ran pods, evicted first;
	// false for an empty one.
	Drained bool `json:"drained"`
	// Pods is how many pods it ran when the drain began.
	Pods int `json:"pods"`
	// Utilization is what made it a candidate, in percent.
	Utilization float64 `json:"utilizationPercent"`
}

// CheapestPlacement is a placement of the workload's pods.
type CheapestPlacement struct {
	NodesByGroup map[string]int `json:"nodesByGroup"`
	PodsByArch   map[string]int `json:"podsByArch"`
	CostPerHour  float64        `json:"costPerHour"`
}

// migrationPlan is the migration run's workload: the shared workload's
// multi-arch Deployments, and the liar's, with just enough replicas that
// the ramp's first step moves one of them.
func migrationPlan(size int, m Mix) ([]workload, error) {
	var out []workload
	for _, w := range plan(size, m) {
		if !w.job && singleArch(w.image) == "" {
			out = append(out, w)
		}
	}
	t, err := migration.ParseTarget(migrationRamp)
	if err != nil {
		return nil, err
	}
	n := 1
	for !migration.Below(0, n, t.Steps[0].Percent) {
		n++
	}
	return append(out, workload{name: "ledger", image: "liar", replicas: n, cpu: "500m", memory: "512Mi"}), nil
}

// runsOn is the arches an image's binaries really run on.
func runsOn(key string) []string {
	var out []string
	for _, p := range images[key].platforms {
		if slices.Contains(images[key].failsOn, p) {
			continue
		}
		if parts := strings.Split(p, "/"); len(parts) > 1 && !slices.Contains(out, parts[1]) {
			out = append(out, parts[1])
		}
	}
	return out
}

// imageID is the imageID a container runtime reports for a reference in a
// pod spec: the repository, fully qualified, at the digest pulled.
func (e *env) imageID(ref string) string {
	for k, r := range e.refs {
		if r != ref {
			continue
		}
		repo, _, _ := strings.Cut(images[k].repoTag, ":")
		if images[k].hub {
			return "docker.io/" + repo + "@" + e.digests[k]
		}
		return e.reg.Host + "/" + repo + "@" + e.digests[k]
	}
	return ref
}

// samplePods are a workload's pods as its ReplicaSet would create them,
// before placement writes any affinity: what CA's estimate packs.
func (e *env) samplePods(spec runSpec, w workload) []*corev1.Pod {
	t := e.podTemplate(spec, w)
	yes := true
	var out []*corev1.Pod
	for i := 0; i < w.replicas; i++ {
		out = append(out, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", w.name, i), Namespace: namespace(spec.name), Labels: t.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: w.name, UID: types.UID("sample-" + w.name), Controller: &yes}}},
			Spec: *t.Spec.DeepCopy()})
	}
	return out
}

// packed is the node count CA's binpacking estimate gives for pods on a
// group's template node.
func (e *env) packed(run string, g group, pods []*corev1.Pod) (int, error) {
	n, placed := estimate(buildPodGroups(pods), e.node(run, g, "estimate-"+g.id, true))
	if len(placed) != len(pods) {
		return 0, fmt.Errorf("%d of %d pods fit no %s node", len(pods)-len(placed), len(pods), g.instanceType)
	}
	return n, nil
}

// cheapestSafe is the cheapest way to run the workloads on groups of an
// arch their images really run on: each workload's pods on one group, every
// assignment tried (there are few workloads), each group's pods packed with
// CA's estimate. Trying them all matters: node granularity can make "each
// workload on its cheapest arch per vCPU" dearer than sharing a node that
// must stay anyway.
func (e *env) cheapestSafe(spec runSpec, ws []workload) (CheapestPlacement, error) {
	gs := e.groups()
	var choices [][]int
	total := 1
	for _, w := range ws {
		var c []int
		for i, g := range gs {
			if slices.Contains(runsOn(w.image), g.arch) {
				c = append(c, i)
			}
		}
		if len(c) == 0 {
			return CheapestPlacement{}, fmt.Errorf("no node group runs %s", w.image)
		}
		choices = append(choices, c)
		if total *= len(c); total > 1<<12 {
			return CheapestPlacement{}, fmt.Errorf("%d ways to place the workloads: too many to try", total)
		}
	}
	var best CheapestPlacement
	pick := make([]int, len(ws))
	var try func(i int) error
	try = func(i int) error {
		if i < len(ws) {
			for _, g := range choices[i] {
				pick[i] = g
				if err := try(i + 1); err != nil {
					return err
				}
			}
			return nil
		}
		out := CheapestPlacement{NodesByGroup: map[string]int{}, PodsByArch: map[string]int{}}
		byGroup := map[int][]*corev1.Pod{}
		for j, w := range ws {
			byGroup[pick[j]] = append(byGroup[pick[j]], e.samplePods(spec, w)...)
			out.PodsByArch[gs[pick[j]].arch] += w.replicas
		}
		for gi, g := range gs {
			if len(byGroup[gi]) == 0 {
				continue
			}
			n, err := e.packed(spec.name, g, byGroup[gi])
			if err != nil {
				return err
			}
			out.NodesByGroup[g.id] = n
			out.CostPerHour += float64(n) * e.prices.NodePrice(e.node(spec.name, g, "price-"+g.id, true), g.arch, 0).Hourly
		}
		out.CostPerHour = round4(out.CostPerHour)
		if best.NodesByGroup == nil || out.CostPerHour < best.CostPerHour {
			best = out
		}
		return nil
	}
	return best, try(0)
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// migrate runs the migration run. last says no run follows, so that
// archfit-placement need not be put back as the other runs had it.
func (e *env) migrate(ctx context.Context, spec runSpec, last bool) (*MigrationReport, []ScaleUp, error) {
	run, ns := spec.name, namespace(spec.name)
	start := time.Now()
	ws, err := migrationPlan(e.o.Size, e.o.Mix)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range []string{ns, recordsNamespace} {
		if _, err := e.cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, nil, err
		}
	}

	// The other runs' workloads have no target, which the controller reads
	// as 100%: out of its scope, they keep what their runs reported.
	var others []string
	for _, r := range e.o.Runs {
		if r != run {
			others = append(others, namespace(r))
		}
	}
	enable := func(o *placementapp.Options) {
		o.MigrationMode = string(migrationctl.ModeEnabled)
		o.MigrationInterval = migrationInterval
		o.MigrationEvictionsPerMinute = migrationEvictRate
		o.MigrationSoak, o.MigrationReadyTimeout = migrationSoak, migrationReadyTimeout
		o.SkipNamespaces = append(o.SkipNamespaces, others...)
	}
	if err := e.restartPlacement(ctx, enable); err != nil {
		return nil, nil, err
	}
	e.progress("%s run: archfit-placement restarted with --migration-mode=Enabled, a pass every %v, at most %d moves a minute", run, migrationInterval, migrationEvictRate)

	gs := e.groups()
	var all []*corev1.Pod
	total := 0
	for _, w := range ws {
		all = append(all, e.samplePods(spec, w)...)
		total += w.replicas
	}
	amd, err := e.packed(run, gs[0], all)
	if err != nil {
		return nil, nil, err
	}
	if err := e.addNodes(ctx, run, gs[0], amd); err != nil {
		return nil, nil, err
	}
	e.progress("%s run: %d amd64 (%s) nodes, CA's binpacking estimate for the workload's %d pods, and no arm64 node", run, amd, gs[0].instanceType, total)

	kctx, stopKubelet := context.WithCancel(ctx)
	defer stopKubelet()
	liar := e.refs["liar"]
	kl := &kubeletsim.Kubelet{Client: e.cp.Client, Namespace: ns, ImageID: e.imageID,
		Fail: func(_ *corev1.Pod, c corev1.Container, arch string) kubeletsim.Failure {
			for k, ref := range e.refs {
				if ref == c.Image && slices.Contains(images[k].failsOn, "linux/"+arch) {
					return kubeletsim.ExecFormat
				}
			}
			return kubeletsim.Runs
		}}
	go func() { _ = kl.Run(kctx) }()

	mr := &MigrationReport{Namespace: ns, Ramp: migrationRamp}
	for _, w := range ws {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: w.name, Annotations: map[string]string{migration.TargetAnnotation: "0%"}},
			Spec: appsv1.DeploymentSpec{Replicas: ptrInt32(w.replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
				Template: e.podTemplate(spec, w)}}
		if _, err := e.cp.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return nil, nil, err
		}
		mr.Workloads = append(mr.Workloads, MigrationWorkload{Name: w.name, Image: e.refs[w.image], Replicas: w.replicas,
			ClaimedPlatforms: images[w.image].platforms, RunsOn: runsOn(w.image), Target: migrationRamp})
	}
	e.progress("%s run: Deployments %s created with %s=0%%, %d pods; %s's image %s lists linux/arm64, but its arm64 binaries are amd64 ones",
		run, workloadNames(ws), migration.TargetAnnotation, total, ws[len(ws)-1].name, liar)
	if err := e.waitRunning(ctx, ns, total); err != nil {
		return nil, nil, err
	}

	st, err := e.migrationState(ctx, run, ws)
	if err != nil {
		return nil, nil, err
	}
	mr.NodesByGroupBefore, mr.PodsByArchBefore, mr.CostPerHourBefore = st.nodesByGroup, st.podsByArch, st.costPerHour
	for i := range mr.Workloads {
		mr.Workloads[i].PodsByArchBefore = st.workloads[i].podsByArch
	}
	if mr.CheapestSafe, err = e.cheapestSafe(spec, ws); err != nil {
		return nil, nil, err
	}
	e.progress("%s run: all %d pods Running: %v pods by arch on %v, %.4f %s/hour", run, total, st.podsByArch, st.nodesByGroup, st.costPerHour, e.table.Currency)

	// The ramp starts at its first step: the step the controller recorded
	// belongs to the 0% target, and would date the new ramp's next step
	// from the Deployment's creation.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		migration.TargetAnnotation: migrationRamp, migration.StepAnnotation: nil}}})
	if err != nil {
		return nil, nil, err
	}
	seen := map[types.UID]bool{}
	if err := e.printEvents(ctx, run, ns, seen); err != nil {
		return nil, nil, err
	}
	rampSet := time.Now()
	for _, w := range ws {
		if _, err := e.cp.Client.AppsV1().Deployments(ns).Patch(ctx, w.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return nil, nil, err
		}
	}
	e.progress("%s run: %s=%q set on every Deployment (the seconds stand for days)", run, migration.TargetAnnotation, migrationRamp)

	ups, err := e.migrationLoop(ctx, spec, ws, mr, seen)
	if err != nil {
		return nil, nil, err
	}

	st, err = e.migrationState(ctx, run, ws)
	if err != nil {
		return nil, nil, err
	}
	mr.NodesByGroupAfter, mr.PodsByArchAfter, mr.CostPerHourAfter, mr.PendingPods = st.nodesByGroup, st.podsByArch, st.costPerHour, st.pending
	for i := range mr.Workloads {
		w, s := &mr.Workloads[i], st.workloads[i]
		w.PodsByArchAfter, w.Running, w.OnFailingArch, w.Paused, w.Reached = s.podsByArch, s.running, s.onFailingArch, s.paused, s.reached
		w.FinalPercent, w.Step, w.Steps, w.Percent = s.finalPercent, s.step+1, s.steps, s.percent
	}
	if b := mr.CostPerHourBefore; b > 0 {
		mr.SavingPercent = round2(100 * (b - mr.CostPerHourAfter) / b)
	}
	if c := mr.CheapestSafe.CostPerHour; c > 0 {
		mr.AboveCheapestPercent = round2(100 * (mr.CostPerHourAfter - c) / c)
	}
	if err := e.migrationEvents(ctx, ns, rampSet, mr); err != nil {
		return nil, nil, err
	}
	if mr.Rollbacks, err = e.rollbacks(ctx); err != nil {
		return nil, nil, err
	}
	for i := range mr.Rollbacks {
		r := &mr.Rollbacks[i]
		for _, w := range mr.Workloads {
			if r.Workload == "Deployment/"+ns+"/"+w.Name {
				r.WorkloadOffArch = w.PodsByArchAfter[r.Arch] == 0
				r.WorkloadRunning = w.Running == w.Replicas
			}
		}
	}
	if !last {
		if err := e.restartPlacement(ctx, nil); err != nil {
			return nil, nil, err
		}
		e.progress("%s run: archfit-placement restarted as the other runs have it", run)
	}
	mr.DurationSec = round2(time.Since(start).Seconds())
	e.progress("%s run: %v pods by arch on %v, %.4f %s/hour (%.4f before; the cheapest safe placement, %v, costs %.4f); %d pods moved, %d rollbacks, %d nodes scaled down",
		run, mr.PodsByArchAfter, mr.NodesByGroupAfter, mr.CostPerHourAfter, e.table.Currency, mr.CostPerHourBefore, mr.CheapestSafe.NodesByGroup, mr.CheapestSafe.CostPerHour,
		mr.PodsMoved, len(mr.Rollbacks), len(mr.ScaledDown))
	return mr, ups, nil
}

func ptrInt32(n int) *int32 {
	v := int32(n)
	return &v
}

func workloadNames(ws []workload) string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s (%d)", w.name, w.replicas))
	}
	return strings.Join(out, ", ")
}

// waitRunning waits until want pods of ns are bound and Ready.
func (e *env) waitRunning(ctx context.Context, ns string, want int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := e.cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if p := &list.Items[i]; p.Spec.NodeName != "" && p.DeletionTimestamp == nil && migration.Healthy(p, 1) {
				ready++
			}
		}
		if ready == want && len(list.Items) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods Running and Ready after a minute (%d pods)", ready, want, len(list.Items))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// migrationLoop runs CA's simulated loop, scale-up and scale-down, once a
// caLoopPeriod until the workloads settle or migrationBound, and reports
// the controller's Events as they come (seen: those reported already).
func (e *env) migrationLoop(ctx context.Context, spec runSpec, ws []workload, mr *MigrationReport, seen map[types.UID]bool) ([]ScaleUp, error) {
	run, ns := spec.name, namespace(spec.name)
	rng := rand.New(rand.NewSource(e.o.Seed))
	sd := newScaleDown(unneededLoops, afterAddLoops, afterDeleteLoops)
	var ups []ScaleUp
	reported := map[string]bool{} // nodes reported unneeded
	var draining ScaledDownNode
	drainStart := 0
	begin := time.Now()
	for loop := 0; ; loop++ {
		if err := e.printEvents(ctx, run, ns, seen); err != nil {
			return nil, err
		}
		list, err := e.cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		if err := e.collectOrphans(ctx, run, list.Items); err != nil {
			return nil, err
		}
		nodes, pending, err := e.snapshot(ctx, run, list.Items)
		if err != nil {
			return nil, err
		}
		if sd.draining != "" {
			left, err := e.drain(ctx, ns, sd.draining)
			if err != nil {
				return nil, err
			}
			switch {
			case left == 0:
				if err := e.cp.Client.CoreV1().Nodes().Delete(ctx, sd.draining, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return nil, err
				}
				e.progress("%s run: [simulated CA] scale-down: %s drained and deleted", run, sd.draining)
				mr.ScaledDown = append(mr.ScaledDown, draining)
				gone := sd.draining
				nodes = slices.DeleteFunc(nodes, func(n *simNode) bool { return n.node.Name == gone })
				sd.deleted(loop, gone)
			case loop-drainStart >= maxDrainLoops:
				e.progress("%s run: [simulated CA] scale-down: %s still has %d pods after %d loops: drain given up, node kept", run, sd.draining, left, maxDrainLoops)
				if err := e.setDeletionTaint(ctx, sd.draining, false); err != nil {
					return nil, err
				}
				mr.ScaleDownFailures++
				sd.drainFailed(loop)
			}
		}
		scaledUp := false
		if len(pending) > 0 {
			up, err := e.caLoop(ctx, spec, nodes, pending, rng, false)
			if err != nil {
				return nil, err
			}
			// Loops whose pending pods all fit existing nodes are the
			// scheduler catching up with a node just added: not shown.
			if len(up.Options) > 0 {
				ups = append(ups, *up)
				if up.Chosen != "" {
					scaledUp = true
					sd.scaledUp(loop)
					e.progress("%s run: [simulated CA] %d pods pending, %d fit existing nodes in CA's simulation → grow %s by %d. %s",
						run, len(pending), len(up.FitsExisting), up.Chosen, up.NodeCount, up.Why)
				} else {
					e.progress("%s run: [simulated CA] %d pods pending: no group grows. %s", run, len(pending), up.Why)
				}
			}
		}
		idle := false
		if !scaledUp { // CA skips scale-down in a loop that scaled up
			p := sd.plan(loop, nodes)
			for _, r := range p.unneeded {
				if name := r.node.node.Name; !reported[name] {
					reported[name] = true
					e.progress("%s run: [simulated CA] scale-down: %s unneeded: %.0f%% utilized, %s", run, name, 100*r.util, movesTo(r))
				}
			}
			if len(p.empty) > 0 {
				deleted, err := e.deleteEmpty(ctx, ns, p.empty)
				if err != nil {
					return nil, err
				}
				for _, r := range deleted {
					mr.ScaledDown = append(mr.ScaledDown, scaledDown(r, false))
				}
				if len(deleted) > 0 {
					sd.deleted(loop, removalNames(deleted)...)
					e.progress("%s run: [simulated CA] scale-down: empty %s deleted", run, strings.Join(removalNames(deleted), ", "))
				}
			}
			if p.drain != nil {
				name := p.drain.node.node.Name
				if err := e.setDeletionTaint(ctx, name, true); err != nil {
					return nil, err
				}
				sd.drainStarted(name)
				on, err := e.drain(ctx, ns, name)
				if err != nil {
					return nil, err
				}
				draining, drainStart = scaledDown(*p.drain, true), loop
				// What the node runs, not what the simulation moved: it
				// also counts pods it moved there for an earlier removal.
				draining.Pods = on
				e.progress("%s run: [simulated CA] scale-down: draining %s (%d pods evicted), tainted %s", run, name, on, toBeDeletedTaint)
			}
			idle = len(p.unneeded) == 0 && sd.draining == ""
		}
		if idle {
			done, err := e.migrationSettled(ctx, run, ws)
			if err != nil {
				return nil, err
			}
			if done {
				mr.Settled = true
				e.progress("%s run: every workload at its final share or paused, nothing pending, nothing left to scale down, %.0fs after the ramp was set", run, time.Since(begin).Seconds())
				return ups, nil
			}
		}
		if time.Since(begin) > migrationBound {
			e.progress("%s run: not settled after %v; reporting where it stands", run, migrationBound)
			return ups, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(caLoopPeriod):
		}
	}
}

func removalNames(rs []removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.node.node.Name)
	}
	return out
}

func scaledDown(r removal, drained bool) ScaledDownNode {
	return ScaledDownNode{Node: r.node.node.Name, Group: r.node.node.Labels["archfit.demo/group"], Drained: drained, Pods: len(r.pods),
		Utilization: math.Round(1000*r.util) / 10}
}

// movesTo says where a removal's pods went in CA's simulation.
func movesTo(r removal) string {
	if r.empty() {
		return "no pods"
	}
	count := map[string]int{}
	var order []string
	for _, n := range r.to {
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	var parts []string
	for _, n := range order {
		parts = append(parts, fmt.Sprintf("%d to %s", count[n], n))
	}
	return "its pods fit elsewhere: " + strings.Join(parts, ", ")
}

// printEvents reports the controller's Events not seen yet, oldest first.
func (e *env) printEvents(ctx context.Context, run, ns string, seen map[types.UID]bool) error {
	list, err := e.cp.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool { return items[i].EventTime.Before(&items[j].EventTime) })
	for _, ev := range items {
		if seen[ev.UID] || ev.ReportingController != "archfit-placement" {
			continue
		}
		seen[ev.UID] = true
		e.progress("%s run: [archfit-placement] %s %s/%s: %s", run, ev.Reason, ev.Regarding.Kind, ev.Regarding.Name, ev.Note)
	}
	return nil
}

// collectOrphans deletes pods bound to a node that is gone, as the pod
// garbage collector does; a pod can bind to a node in the moment before
// CA's taint reaches the scheduler.
func (e *env) collectOrphans(ctx context.Context, run string, pods []corev1.Pod) error {
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			continue
		}
		if _, err := e.cp.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			continue
		}
		e.progress("%s run: pod %s was bound to %s, which is gone: deleted as the pod garbage collector does", run, p.Name, p.Spec.NodeName)
		zero := int64(0)
		if err := e.cp.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// setDeletionTaint puts CA's ToBeDeletedByClusterAutoscaler taint on a
// node, or takes it off.
func (e *env) setDeletionTaint(ctx context.Context, name string, on bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.cp.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != toBeDeletedTaint {
				taints = append(taints, t)
			}
		}
		if on {
			taints = append(taints, corev1.Taint{Key: toBeDeletedTaint, Value: fmt.Sprint(time.Now().Unix()), Effect: corev1.TaintEffectNoSchedule})
		}
		n.Spec.Taints = taints
		_, err = e.cp.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// podsOn lists the pods bound to a node.
func (e *env) podsOn(ctx context.Context, ns, node string) ([]corev1.Pod, error) {
	list, err := e.cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// deleteEmpty deletes empty nodes as CA's actuator does: tainted first, and
// kept (untainted) if a pod got there meanwhile. It returns those deleted.
func (e *env) deleteEmpty(ctx context.Context, ns string, rs []removal) ([]removal, error) {
	var out []removal
	for _, r := range rs {
		name := r.node.node.Name
		if err := e.setDeletionTaint(ctx, name, true); err != nil {
			return nil, err
		}
		pods, err := e.podsOn(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		if len(pods) > 0 {
			if err := e.setDeletionTaint(ctx, name, false); err != nil {
				return nil, err
			}
			continue
		}
		if err := e.cp.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// drain evicts the node's pods through the Eviction API, so that
// PodDisruptionBudgets hold (a refusal is retried on a later loop), and
// returns how many pods are still on it, terminating ones included.
func (e *env) drain(ctx context.Context, ns, node string) (int, error) {
	pods, err := e.podsOn(ctx, ns, node)
	if err != nil {
		return 0, err
	}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		err := e.cp.Client.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}})
		if err != nil && !apierrors.IsTooManyRequests(err) && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("evicting %s from %s: %w", p.Name, node, err)
		}
	}
	return len(pods), nil
}

// workloadState is one Deployment's state as the cluster shows it.
type workloadState struct {
	podsByArch                    map[string]int
	running, onFailingArch, total int
	pending                       int
	paused                        string
	step, steps, percent          int
	finalPercent                  int
	reached                       bool
}

type migrationState struct {
	nodesByGroup, podsByArch map[string]int
	costPerHour              float64
	pending                  int
	workloads                []workloadState
}

// migrationState reads the run's nodes, their price and each workload's
// pods by arch.
func (e *env) migrationState(ctx context.Context, run string, ws []workload) (*migrationState, error) {
	ns := namespace(run)
	nodes, err := e.runNodes(ctx, run)
	if err != nil {
		return nil, err
	}
	st := &migrationState{nodesByGroup: map[string]int{}, podsByArch: map[string]int{}}
	arch := map[string]string{}
	for i := range nodes {
		n := &nodes[i]
		st.nodesByGroup[n.Labels["archfit.demo/group"]]++
		_, a, _ := imageplatform.NodePlatform(n)
		arch[n.Name] = a
		st.costPerHour += e.prices.NodePrice(n, a, 0).Hourly
	}
	st.costPerHour = round4(st.costPerHour)
	for _, w := range ws {
		d, err := e.cp.Client.AppsV1().Deployments(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		pods, err := e.cp.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + w.name})
		if err != nil {
			return nil, err
		}
		s := workloadState{podsByArch: map[string]int{}, paused: d.Annotations[migration.PausedAnnotation]}
		for i := range pods.Items {
			p := &pods.Items[i]
			a := arch[p.Spec.NodeName]
			switch {
			case p.DeletionTimestamp != nil:
				s.pending++ // its replacement is not bound yet, or it is
			case a == "":
				s.pending++
			default:
				s.total++
				s.podsByArch[a]++
				st.podsByArch[a]++
				if !slices.Contains(runsOn(w.image), a) {
					s.onFailingArch++
				}
				if p.Status.Phase == corev1.PodRunning && migration.Healthy(p, 1) {
					s.running++
				}
			}
		}
		st.pending += s.pending
		t, err := migration.ParseTarget(d.Annotations[migration.TargetAnnotation])
		if err != nil {
			return nil, fmt.Errorf("deployment %s: %w", w.name, err)
		}
		s.steps, s.finalPercent = len(t.Steps), t.Steps[len(t.Steps)-1].Percent
		step := t.StepOf(d.Annotations[migration.StepAnnotation])
		s.step, s.percent = step.Index, t.Percent(step)
		atFinal := s.step == len(t.Steps)-1 && s.total == w.replicas && !migration.Below(s.podsByArch[migration.ARM64], s.total, s.finalPercent)
		s.reached = s.pending == 0 && s.total == w.replicas && (atFinal || s.paused != "")
		st.workloads = append(st.workloads, s)
	}
	return st, nil
}

func (e *env) runNodes(ctx context.Context, run string) ([]corev1.Node, error) {
	list, err := e.cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: runLabel + "=" + run})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// migrationSettled is true when every workload is at its final share or
// paused, with all its replicas bound and Running.
func (e *env) migrationSettled(ctx context.Context, run string, ws []workload) (bool, error) {
	st, err := e.migrationState(ctx, run, ws)
	if err != nil {
		return false, err
	}
	for i, s := range st.workloads {
		if !s.reached || s.running != ws[i].replicas {
			return false, nil
		}
	}
	return st.pending == 0, nil
}

// migrationEvents counts the controller's Events on the workloads and its
// move metric; Events reach the API server asynchronously, so it waits a
// moment for the two to agree.
func (e *env) migrationEvents(ctx context.Context, ns string, rampSet time.Time, mr *MigrationReport) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		moved, err := scrapeCounter(ctx, e.placement.MetricsAddr, "archfit_migration_evictions_total", map[string]string{"purpose": "move", "result": "evicted"})
		if err != nil {
			return err
		}
		list, err := e.cp.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		mr.PodsMoved, mr.MovedEvents, mr.RampSteps = int(moved), 0, 0
		byName := map[string]int{}
		for i := range mr.Workloads {
			byName[mr.Workloads[i].Name] = i
			mr.Workloads[i].Moved = 0
		}
		for _, ev := range list.Items {
			i, ok := byName[ev.Regarding.Name]
			if ev.Regarding.Kind != "Deployment" || !ok {
				continue
			}
			switch ev.Reason {
			case migrationctl.ReasonMoved:
				mr.MovedEvents++
				mr.Workloads[i].Moved++
			case migrationctl.ReasonRampStep:
				if !ev.EventTime.Time.Before(rampSet) {
					mr.RampSteps++
				}
			}
		}
		if mr.MovedEvents == mr.PodsMoved || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rollbacks reads the controller's rollback records.
func (e *env) rollbacks(ctx context.Context) ([]MigrationRollback, error) {
	cm, err := e.cp.Client.CoreV1().ConfigMaps(recordsNamespace).Get(ctx, recordsName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	recs, err := migration.ParseRecords(cm)
	if err != nil {
		return nil, err
	}
	var out []MigrationRollback
	for d, rs := range recs {
		for _, r := range rs {
			out = append(out, MigrationRollback{Digest: d, Image: r.Image, Arch: r.Arch, Reason: r.Reason, Workload: r.Workload, Message: r.Message})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest+out[i].Arch < out[j].Digest+out[j].Arch })
	return out, nil
}

// scrapeCounter reads one sample from a /metrics endpoint, 0 when absent.
func scrapeCounter(ctx context.Context, addr, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	mf := mfs[name]
	if mf == nil {
		return 0, nil
	}
	total := 0.0
next:
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		total += m.GetCounter().GetValue()
	}
	return total, nil
}

package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/placement"
)

// runSpec is one way to run the workload: who schedules its pods, who picks
// the group CA grows, and what arch affinity the pods carry.
type runSpec struct {
	name, scheduler, expander, strategy string
	// pinArch gives the workload's single-arch pods a hand-written
	// kubernetes.io/arch required node affinity (In [their arch]) and its
	// multi-arch pods none, as a careful team writes today.
	pinArch bool
	// placement is true for the run whose pods get their image-platform
	// affinity written by archfit-placement (the shipped webhook
	// configuration selects archfit-scheduler's pods), not by hand: the
	// constraint cluster-autoscaler's own simulation then honours.
	placement bool
	// migration runs migrate's workload instead of the shared one.
	migration bool
}

var runSpecs = map[string]runSpec{
	"default":          {name: "default", scheduler: "default-scheduler", expander: "least-waste (CA; ties at random)", strategy: "least-waste"},
	"default-priority": {name: "default-priority", scheduler: "default-scheduler", expander: "priority (CA; arm64 first)", strategy: "priority"},
	"pinned-priority":  {name: "pinned-priority", scheduler: "default-scheduler", expander: "priority (CA; arm64 first)", strategy: "priority", pinArch: true},
	"archfit":          {name: "archfit", scheduler: "archfit-scheduler", expander: "grpc (archfit-expander), then least-waste", strategy: "archfit", placement: true},
	// archfit as it was before placement: the scheduler and the expander
	// only, which CA's own simulation cannot see.
	"archfit-unplaced": {name: "archfit-unplaced", scheduler: "archfit-scheduler", expander: "grpc (archfit-expander), then least-waste; no placement", strategy: "archfit"},
	// archfit with migration enabled, moving a running workload.
	"migration": {name: "migration", scheduler: "archfit-scheduler", expander: "grpc (archfit-expander), then least-waste", strategy: "archfit", placement: true, migration: true},
}

// runNames lists the runs a user can select, for messages.
func runNames() []string {
	names := make([]string, 0, len(runSpecs))
	for n := range runSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// namespace holds a run's workloads.
func namespace(run string) string { return "demo-" + run }

const runLabel = "archfit.demo/run"

type group struct {
	id, arch, instanceType string
}

func (e *env) groups() []group {
	return []group{
		{id: "ng-amd64", arch: "amd64", instanceType: e.o.AMD64Type},
		{id: "ng-arm64", arch: "arm64", instanceType: e.o.ARM64Type},
	}
}

// node builds a node of a group as a node-group provider would register
// it; template nodes are the same with CA's template label.
func (e *env) node(run string, g group, name string, template bool) *corev1.Node {
	it := e.table.InstanceTypes[g.instanceType]
	cpu := resource.MustParse(fmt.Sprint(it.VCPU))
	mem := resource.MustParse(fmt.Sprintf("%dMi", int(math.Max(it.MemoryGiB, 1)*1024)))
	res := corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem, corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			imageplatform.LabelArch: g.arch, imageplatform.LabelOS: "linux", imageplatform.LabelArchBeta: g.arch, imageplatform.LabelOSBeta: "linux",
			cost.LabelInstanceType: g.instanceType, "kubernetes.io/hostname": name, runLabel: run, "archfit.demo/group": g.id,
		}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			NodeInfo:   corev1.NodeSystemInfo{Architecture: g.arch, OperatingSystem: "linux"}},
	}
	if template {
		n.Labels["cluster-autoscaler.kubernetes.io/template-node"] = "true"
	}
	return n
}

func (e *env) addNodes(ctx context.Context, run string, g group, count int) error {
	for i := 0; i < count; i++ {
		n := e.node(run, g, e.nodeName(run+"-"+g.id), false)
		status := n.Status
		created, err := e.cp.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		created.Status = status // dropped on create
		if _, err := e.cp.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// nodeName numbers nodes like a provider's instance IDs.
func (e *env) nodeName(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s-%04d", prefix, e.seq)
}

func (e *env) podTemplate(spec runSpec, w workload) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": w.name}},
		Spec: corev1.PodSpec{
			SchedulerName: spec.scheduler,
			// Keeps each run on its own nodes, like separate clusters;
			// ArchFit ignores this label. No arch affinity unless the run
			// pins it, as most teams write.
			NodeSelector:  map[string]string{runLabel: spec.name},
			RestartPolicy: map[bool]corev1.RestartPolicy{true: corev1.RestartPolicyNever, false: corev1.RestartPolicyAlways}[w.job],
			Containers: []corev1.Container{{Name: w.name, Image: e.refs[w.image], Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(w.cpu), corev1.ResourceMemory: resource.MustParse(w.memory)}}}},
		},
	}
	if arch := singleArch(w.image); spec.pinArch && arch != "" {
		t.Spec.Affinity = archAffinity(arch)
	}
	if spec.scheduler == "archfit-scheduler" && !spec.placement {
		// The webhook configuration selects every archfit-scheduler pod;
		// a pod that already carries placement's annotation is left alone,
		// which is how a workload opts out.
		t.Annotations = map[string]string{placement.Annotation: "off"}
	}
	return t
}

// singleArch is the one architecture an image is built for, or "" for a
// multi-arch image.
func singleArch(key string) string {
	ps := images[key].platforms
	if len(ps) != 1 {
		return ""
	}
	parts := strings.Split(ps[0], "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// archAffinity is the required node affinity a team writes by hand to keep
// a single-arch image on its arch.
func archAffinity(arch string) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: imageplatform.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{arch}}}}}}}}
}

func (e *env) createWorkloads(ctx context.Context, spec runSpec, jobs bool) (int, error) {
	n := 0
	for _, w := range plan(e.o.Size, e.o.Mix) {
		if w.job != jobs {
			continue
		}
		c, err := e.createWorkload(ctx, spec, w)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

func (e *env) createWorkload(ctx context.Context, spec runSpec, w workload) (int, error) {
	{
		run := spec.name
		r := int32(w.replicas)
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}}
		var err error
		if w.job {
			_, err = e.cp.Client.BatchV1().Jobs(namespace(run)).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: w.name},
				Spec: batchv1.JobSpec{Parallelism: &r, Completions: &r, Template: e.podTemplate(spec, w)}}, metav1.CreateOptions{})
		} else {
			_, err = e.cp.Client.AppsV1().Deployments(namespace(run)).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: w.name},
				Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: sel, Template: e.podTemplate(spec, w)}}, metav1.CreateOptions{})
		}
		if err != nil {
			return 0, err
		}
	}
	return w.replicas, nil
}

// settle waits until the run has want pods and each is bound or marked
// unschedulable, and binding has stopped changing for a moment.
func (e *env) settle(ctx context.Context, run string, want int) ([]corev1.Pod, error) {
	deadline := time.Now().Add(90 * time.Second)
	lastBound, stableSince := -1, time.Now()
	for {
		list, err := e.cp.Client.CoreV1().Pods(namespace(run)).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		bound, decided := 0, 0
		for _, p := range list.Items {
			if p.Spec.NodeName != "" {
				bound++
				decided++
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
					decided++
				}
			}
		}
		if bound != lastBound {
			lastBound, stableSince = bound, time.Now()
		}
		done := len(list.Items) >= want && decided == len(list.Items)
		if done && (bound == len(list.Items) || time.Since(stableSince) > 3*time.Second) {
			return list.Items, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pods did not settle: %d of %d exist, %d bound, %d decided", len(list.Items), want, bound, decided)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *env) run(ctx context.Context, spec runSpec) (*RunReport, []ScaleUp, error) {
	run := spec.name
	rng := rand.New(rand.NewSource(e.o.Seed))
	if _, err := e.cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace(run)}}, metav1.CreateOptions{}); err != nil {
		return nil, nil, err
	}
	gs := e.groups()
	e.progress("%s run: %d amd64 (%s) and %d arm64 (%s) nodes to start; scheduler %s", run, e.o.InitialAMD64, gs[0].instanceType, e.o.InitialARM64, gs[1].instanceType, spec.scheduler)
	if err := e.addNodes(ctx, run, gs[0], e.o.InitialAMD64); err != nil {
		return nil, nil, err
	}
	if err := e.addNodes(ctx, run, gs[1], e.o.InitialARM64); err != nil {
		return nil, nil, err
	}
	deployed, err := e.createWorkloads(ctx, spec, false)
	if err != nil {
		return nil, nil, err
	}
	affinity := "no arch affinity"
	switch {
	case spec.pinArch:
		affinity = "single-arch ones pinned to their arch by hand"
	case spec.placement:
		affinity = "archfit-placement wrote each one's image platforms as required node affinity"
	}
	e.progress("%s run: %d Deployment pods created (%s)", run, deployed, affinity)
	if _, err := e.settle(ctx, run, deployed); err != nil {
		return nil, nil, err
	}
	// Batch Jobs arrive one after another, as different teams' jobs do;
	// each burst gets its own autoscaler loops.
	total := deployed
	var ups []ScaleUp
	for _, w := range plan(e.o.Size, e.o.Mix) {
		if !w.job {
			continue
		}
		n, err := e.createWorkload(ctx, spec, w)
		if err != nil {
			return nil, nil, err
		}
		total += n
		e.progress("%s run: Job %s arrives with %d pods", run, w.name, n)
		more, err := e.autoscale(ctx, spec, total, rng)
		if err != nil {
			return nil, nil, err
		}
		ups = append(ups, more...)
	}
	// The pods CA's FilterOutSchedulable places on existing nodes stay in
	// the snapshot its scale-down reads, so a node holding one of them is
	// not empty to CA: the stranded pods keep their node, and stay pending.
	pods, err := e.settle(ctx, run, total)
	if err != nil {
		return nil, nil, err
	}
	nodes, pending, err := e.snapshot(ctx, run, pods)
	if err != nil {
		return nil, nil, err
	}
	stranded, _ := filterOutSchedulable(pending, nodes)
	keep := map[string]bool{}
	for _, m := range stranded {
		keep[m.node.node.Name] = true
	}
	removed, err := e.scaleDown(ctx, run, keep)
	if err != nil {
		return nil, nil, err
	}
	if removed > 0 {
		e.progress("%s run: [simulated CA] %d empty nodes scaled down", run, removed)
	}
	rr, err := e.summarize(ctx, spec, ups, stranded)
	if err != nil {
		return nil, nil, err
	}
	e.progress("%s run: %v pods by arch, %d on an arch their images lack, %d pending, %d stranded by CA at some point, %.4f %s/hour",
		run, rr.PodsByArch, rr.MisplacedPods, rr.PendingPods, rr.StrandedPods, rr.CostPerHour, e.table.Currency)
	return rr, ups, nil
}

// autoscale runs simulated CA loops until nothing is pending, a loop adds
// nothing, or a safety limit.
func (e *env) autoscale(ctx context.Context, spec runSpec, total int, rng *rand.Rand) ([]ScaleUp, error) {
	run := spec.name
	var ups []ScaleUp
	for loop := 0; loop < 6; loop++ {
		pods, err := e.settle(ctx, run, total)
		if err != nil {
			return nil, err
		}
		nodes, pending, err := e.snapshot(ctx, run, pods)
		if err != nil {
			return nil, err
		}
		if len(pending) == 0 {
			return ups, nil
		}
		up, err := e.caLoop(ctx, spec, nodes, pending, rng, true)
		if err != nil {
			return nil, err
		}
		ups = append(ups, *up)
		if up.Chosen == "" {
			e.progress("%s run: [simulated CA] %d pods pending, %d of them fit existing nodes in CA's simulation: nothing grows. %s", run, len(pending), len(up.FitsExisting), up.Why)
			return ups, nil
		}
		e.progress("%s run: [simulated CA] %d pods pending, %d fit existing nodes in CA's simulation → grow %s by %d (least-waste would pick %s, priority %s). %s",
			run, len(pending), len(up.FitsExisting), up.Chosen, up.NodeCount, up.LeastWaste, up.Priority, up.Why)
	}
	_, err := e.settle(ctx, run, total)
	return ups, err
}

// snapshot is what CA's cluster snapshot holds for a run (the run's nodes
// in name order, with the non-terminal pods bound to them) and the pods CA
// counts as unschedulable: unbound, not being deleted, not nominated for a
// node, and marked Unschedulable by the scheduler (kube_util's
// ArrangePodsBySchedulability).
func (e *env) snapshot(ctx context.Context, run string, pods []corev1.Pod) ([]*simNode, []*corev1.Pod, error) {
	list, err := e.cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{runLabel: run}.String()})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	bound := map[string][]*corev1.Pod{}
	var pending []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue // CA's scheduled-pod lister selects them away
		}
		if p.Spec.NodeName != "" {
			bound[p.Spec.NodeName] = append(bound[p.Spec.NodeName], p)
			continue
		}
		if p.DeletionTimestamp != nil || p.Status.NominatedNodeName != "" {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				pending = append(pending, p)
			}
		}
	}
	var nodes []*simNode
	for i := range list.Items {
		n := &list.Items[i]
		nodes = append(nodes, newSimNode(n, bound[n.Name]))
	}
	return nodes, pending, nil
}

// caLoop simulates one CA loop, RunOnce to the expander: FilterOutSchedulable
// drops the pending pods CA's simulation fits on existing nodes, the rest
// become per-group expansion options, the expander picks one, and its
// group grows. logMoves reports the first FilterOutSchedulable moves as CA
// logs them.
func (e *env) caLoop(ctx context.Context, spec runSpec, nodes []*simNode, pending []*corev1.Pod, rng *rand.Rand, logMoves bool) (*ScaleUp, error) {
	run := spec.name
	up := &ScaleUp{Run: run}
	for _, p := range pending {
		up.Pods = append(up.Pods, p.Name)
		if e.amd64Only(ctx, p) {
			up.AMD64OnlyPods = append(up.AMD64OnlyPods, p.Name)
		}
	}
	moved, remaining := filterOutSchedulable(pending, nodes)
	for i, m := range moved {
		up.FitsExisting = append(up.FitsExisting, podOnNode(m))
		switch {
		case !logMoves:
		case i < 5:
			e.progress("%s run: [simulated CA] FilterOutSchedulable: Pod %s/%s can be moved to %s", run, m.pod.Namespace, m.pod.Name, m.node.node.Name)
		case i == 5:
			e.progress("%s run: [simulated CA] FilterOutSchedulable: and %d more", run, len(moved)-5)
		}
	}
	if len(remaining) == 0 {
		up.Why = "FilterOutSchedulable fits every pending pod on an existing node (in-tree plugins only): no scale-up, no expander call"
		return up, nil
	}

	req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
	var templates []template
	arch := map[string]string{}
	for _, g := range e.groups() {
		tmpl := e.node(run, g, e.nodeName("template-node-for-"+g.id), true)
		b, err := tmpl.Marshal()
		if err != nil {
			return nil, err
		}
		req.NodeBytesMap[g.id] = b
		templates = append(templates, template{id: g.id, node: tmpl})
		arch[g.id] = g.arch
	}
	opts := expansionOptions(remaining, templates)
	counts := map[string]int{}
	waste := map[string]float64{}
	for _, o := range opts {
		eo := ExpansionOption{NodeGroup: o.id, Arch: arch[o.id], NodeCount: o.nodeCount}
		var podBytes [][]byte
		for _, p := range o.pods {
			b, err := p.Marshal()
			if err != nil {
				return nil, err
			}
			podBytes = append(podBytes, b)
			eo.Pods = append(eo.Pods, p.Name)
			if pp := e.platformsOf(ctx, p); !pp.Allows("linux", eo.Arch) {
				eo.WrongArchPods = append(eo.WrongArchPods, p.Name)
			}
		}
		req.Options = append(req.Options, &protos.Option{NodeGroupId: o.id, NodeCount: int32(o.nodeCount), PodBytes: podBytes})
		up.Options = append(up.Options, o.id)
		up.ExpansionOptions = append(up.ExpansionOptions, eo)
		counts[o.id], waste[o.id] = o.nodeCount, o.waste()
	}
	if len(opts) == 0 {
		up.Why = "no expansion options: no group's template node fits a remaining pod"
		return up, nil
	}
	up.LeastWaste = leastWaste(up.Options, waste, rng)
	up.Priority = priorityArm64First(up.Options, rng)
	switch spec.strategy {
	case "least-waste":
		up.Chosen = up.LeastWaste
		up.Why = "least-waste cannot see images"
	case "priority":
		up.Chosen = up.Priority
		up.Why = "priority: .*arm64.* above .*; it cannot see images"
	default:
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second) // CA's deadline
		resp, err := e.expander.BestOptions(cctx, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("BestOptions: %w", err)
		}
		var debug []string
		for _, o := range resp.Options {
			up.Expander = append(up.Expander, o.NodeGroupId)
			debug = append(debug, o.Debug)
		}
		switch len(up.Expander) {
		case 0:
			up.Why = "archfit-expander: no offered group can run these images"
			return up, nil
		case 1:
			up.Chosen = up.Expander[0]
		default:
			up.Chosen = leastWaste(up.Expander, waste, rng) // CA's next expander
		}
		up.Why = strings.Join(debug, "; ")
	}
	up.NodeCount = counts[up.Chosen]
	up.ChosenArch = arch[up.Chosen]
	for _, g := range e.groups() {
		if g.id == up.Chosen {
			return up, e.addNodes(ctx, run, g, up.NodeCount)
		}
	}
	return up, fmt.Errorf("chosen group %q is unknown", up.Chosen)
}

// leastWaste picks the option with the least wasted CPU+memory, breaking
// ties at random as CA does (seeded, so a demo can be repeated).
func leastWaste(ids []string, waste map[string]float64, rng *rand.Rand) string {
	best := math.Inf(1)
	var tied []string
	for _, id := range ids {
		switch w := waste[id]; {
		case w < best-1e-9:
			best, tied = w, []string{id}
		case math.Abs(w-best) <= 1e-9:
			tied = append(tied, id)
		}
	}
	sort.Strings(tied)
	return tied[rng.Intn(len(tied))]
}

// priorityArm64First is CA's priority expander with ".*arm64.*" above
// ".*", what the field runs today, over the options CA offered: arm64 when
// it is offered, else the rest, ties at random as CA's fallback.
func priorityArm64First(ids []string, rng *rand.Rand) string {
	var top []string
	for _, id := range ids {
		if strings.Contains(id, "arm64") {
			top = append(top, id)
		}
	}
	if len(top) == 0 {
		top = append(top, ids...)
	}
	sort.Strings(top)
	if len(top) == 1 {
		return top[0]
	}
	return top[rng.Intn(len(top))]
}

// scaleDown removes nodes without pods, as CA does for unneeded nodes;
// keep names the nodes CA's snapshot still places a pending pod on.
func (e *env) scaleDown(ctx context.Context, run string, keep map[string]bool) (int, error) {
	nodes, err := e.cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{runLabel: run}.String()})
	if err != nil {
		return 0, err
	}
	pods, err := e.cp.Client.CoreV1().Pods(namespace(run)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	for _, p := range pods.Items {
		used[p.Spec.NodeName] = true
	}
	removed := 0
	for _, n := range nodes.Items {
		if used[n.Name] || keep[n.Name] {
			continue
		}
		if err := e.cp.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// platformsOf is the registry's truth for a pod, with no policy applied.
func (e *env) platformsOf(ctx context.Context, p *corev1.Pod) imageplatform.PodPlatforms {
	return imageplatform.EvaluatePod(ctx, p, imageplatform.PodPolicy{Unknown: imageplatform.PolicyAllowAll}, func(ctx context.Context, img string) imageplatform.Result {
		return e.truth.Resolve(ctx, imageplatform.Request{Image: img})
	})
}

func (e *env) amd64Only(ctx context.Context, p *corev1.Pod) bool {
	pp := e.platformsOf(ctx, p)
	return pp.Allows("linux", "amd64") && !pp.AllowsArch("arm64")
}

func podOnNode(m podMove) PodOnNode {
	os, arch, _ := imageplatform.NodePlatform(m.node.node)
	return PodOnNode{Pod: m.pod.Name, Node: m.node.node.Name, NodePlatform: os + "/" + arch}
}

// summarize reports a run's end state. Stranded pods are those any of the
// run's CA loops, or a last FilterOutSchedulable pass (stillStranded),
// left pending because CA's simulation fit them on an existing node.
func (e *env) summarize(ctx context.Context, spec runSpec, ups []ScaleUp, stillStranded []podMove) (*RunReport, error) {
	run := spec.name
	rr := &RunReport{Name: run, Scheduler: spec.scheduler, Expander: spec.expander, PodsByArch: map[string]int{}, NodesByGroup: map[string]int{}}
	stranded := map[string]*StrandedPod{}
	strand := func(m PodOnNode) *StrandedPod {
		if s := stranded[m.Pod]; s != nil {
			return s
		}
		s := &StrandedPod{Pod: m.Pod, Node: m.Node, NodePlatform: m.NodePlatform}
		stranded[m.Pod] = s
		return s
	}
	for _, u := range ups {
		for _, o := range u.ExpansionOptions {
			if len(o.WrongArchPods) > 0 {
				rr.MisSizedOptions++
			}
		}
		for _, m := range u.FitsExisting {
			strand(m)
		}
	}
	for _, m := range stillStranded {
		strand(podOnNode(m)).PendingAtEnd = true
	}
	nodes, err := e.cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{runLabel: run}.String()})
	if err != nil {
		return nil, err
	}
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		byName[n.Name] = n
		rr.NodesByGroup[n.Labels["archfit.demo/group"]]++
		_, arch, _ := imageplatform.NodePlatform(n)
		rr.CostPerHour += e.prices.NodePrice(n, arch, 0).Hourly
	}
	rr.CostPerHour = math.Round(rr.CostPerHour*10000) / 10000
	rr.NodeHours = float64(len(nodes.Items)) * 24
	pods, err := e.cp.Client.CoreV1().Pods(namespace(run)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if s := stranded[p.Name]; s != nil {
			s.ImagePlatforms = allowedPlatforms(e.platformsOf(ctx, p))
			rr.Stranded = append(rr.Stranded, *s)
		}
		n := byName[p.Spec.NodeName]
		if n == nil {
			rr.PendingPods++
			continue
		}
		os, arch, _ := imageplatform.NodePlatform(n)
		rr.PodsByArch[arch]++
		if pp := e.platformsOf(ctx, p); !pp.Allows(os, arch) {
			rr.MisplacedPods++
			rr.Misplaced = append(rr.Misplaced, Misplacement{Pod: p.Name, Node: n.Name, NodePlatform: os + "/" + arch, ImagePlatforms: allowedPlatforms(pp)})
		}
	}
	sort.Slice(rr.Misplaced, func(i, j int) bool { return rr.Misplaced[i].Pod < rr.Misplaced[j].Pod })
	sort.Slice(rr.Stranded, func(i, j int) bool { return rr.Stranded[i].Pod < rr.Stranded[j].Pod })
	rr.StrandedPods = len(rr.Stranded)
	return rr, nil
}

func allowedPlatforms(pp imageplatform.PodPlatforms) []string {
	var out []string
	for _, a := range pp.Allowed {
		out = append(out, a.String())
	}
	return out
}

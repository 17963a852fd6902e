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
)

type runSpec struct{ name, scheduler, expander, strategy string }

var runSpecs = map[string]runSpec{
	"default":          {name: "default", scheduler: "default-scheduler", expander: "least-waste (CA; ties at random)", strategy: "least-waste"},
	"default-priority": {name: "default-priority", scheduler: "default-scheduler", expander: "priority (CA; arm64 first)", strategy: "priority"},
	"archfit":          {name: "archfit", scheduler: "archfit-scheduler", expander: "grpc (archfit-expander), then least-waste", strategy: "archfit"},
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

func (e *env) podTemplate(run, scheduler string, w workload) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": w.name}},
		Spec: corev1.PodSpec{
			SchedulerName: scheduler,
			// Keeps each run on its own nodes, like two clusters; ArchFit
			// ignores this label. No arch affinity, as most teams write.
			NodeSelector:  map[string]string{runLabel: run},
			RestartPolicy: map[bool]corev1.RestartPolicy{true: corev1.RestartPolicyNever, false: corev1.RestartPolicyAlways}[w.job],
			Containers: []corev1.Container{{Name: w.name, Image: e.refs[w.image], Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(w.cpu), corev1.ResourceMemory: resource.MustParse(w.memory)}}}},
		},
	}
}

func (e *env) createWorkloads(ctx context.Context, run, scheduler string, jobs bool) (int, error) {
	n := 0
	for _, w := range plan(e.o.Size, e.o.Mix) {
		if w.job != jobs {
			continue
		}
		c, err := e.createWorkload(ctx, run, scheduler, w)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

func (e *env) createWorkload(ctx context.Context, run, scheduler string, w workload) (int, error) {
	{
		r := int32(w.replicas)
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}}
		var err error
		if w.job {
			_, err = e.cp.Client.BatchV1().Jobs(namespace(run)).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: w.name},
				Spec: batchv1.JobSpec{Parallelism: &r, Completions: &r, Template: e.podTemplate(run, scheduler, w)}}, metav1.CreateOptions{})
		} else {
			_, err = e.cp.Client.AppsV1().Deployments(namespace(run)).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: w.name},
				Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: sel, Template: e.podTemplate(run, scheduler, w)}}, metav1.CreateOptions{})
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
	deployed, err := e.createWorkloads(ctx, run, spec.scheduler, false)
	if err != nil {
		return nil, nil, err
	}
	e.progress("%s run: %d Deployment pods created (no arch affinity)", run, deployed)
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
		n, err := e.createWorkload(ctx, run, spec.scheduler, w)
		if err != nil {
			return nil, nil, err
		}
		total += n
		e.progress("%s run: Job %s arrives with %d pods", run, w.name, n)
		more, err := e.autoscale(ctx, run, spec.strategy, total, rng)
		if err != nil {
			return nil, nil, err
		}
		ups = append(ups, more...)
	}
	removed, err := e.scaleDown(ctx, run)
	if err != nil {
		return nil, nil, err
	}
	if removed > 0 {
		e.progress("%s run: [simulated CA] %d empty nodes scaled down", run, removed)
	}
	rr, err := e.summarize(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	e.progress("%s run: %v pods by arch, %d on an arch their images lack, %d pending, %.4f %s/hour", run, rr.PodsByArch, rr.MisplacedPods, rr.PendingPods, rr.CostPerHour, e.table.Currency)
	return rr, ups, nil
}

// autoscale runs simulated CA loops until nothing is pending, a loop adds
// nothing, or a safety limit.
func (e *env) autoscale(ctx context.Context, run, strategy string, total int, rng *rand.Rand) ([]ScaleUp, error) {
	var ups []ScaleUp
	for loop := 0; loop < 6; loop++ {
		pods, err := e.settle(ctx, run, total)
		if err != nil {
			return nil, err
		}
		var pending []*corev1.Pod
		for i := range pods {
			if pods[i].Spec.NodeName == "" {
				pending = append(pending, &pods[i])
			}
		}
		if len(pending) == 0 {
			return ups, nil
		}
		up, err := e.scaleUp(ctx, run, strategy, pending, rng)
		if err != nil {
			return nil, err
		}
		ups = append(ups, *up)
		if up.Chosen == "" {
			e.progress("%s run: [simulated CA] %d pods pending; the expander vetoed every group: nothing grows", run, len(pending))
			return ups, nil
		}
		e.progress("%s run: [simulated CA] %d pods pending → grow %s by %d (least-waste would pick %s, priority %s). %s",
			run, len(pending), up.Chosen, up.NodeCount, up.LeastWaste, up.Priority, up.Why)
	}
	_, err := e.settle(ctx, run, total)
	return ups, err
}

// scaleUp simulates one CA loop: every group is an option holding the
// pending pods (CA's simulation runs the default plugins only, so every
// group "fits"), with a first-fit-decreasing node count.
func (e *env) scaleUp(ctx context.Context, run, strategy string, pending []*corev1.Pod, rng *rand.Rand) (*ScaleUp, error) {
	up := &ScaleUp{Run: run}
	var podBytes [][]byte
	for _, p := range pending {
		up.Pods = append(up.Pods, p.Name)
		b, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		podBytes = append(podBytes, b)
		if e.amd64Only(ctx, p) {
			up.AMD64OnlyPods = append(up.AMD64OnlyPods, p.Name)
		}
	}
	req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
	counts := map[string]int{}
	waste := map[string]float64{}
	arch := map[string]string{}
	for _, g := range e.groups() {
		tmpl := e.node(run, g, e.nodeName("template-node-for-"+g.id), true)
		b, err := tmpl.Marshal()
		if err != nil {
			return nil, err
		}
		req.NodeBytesMap[g.id] = b
		counts[g.id], waste[g.id] = binpack(pending, tmpl)
		arch[g.id] = g.arch
		req.Options = append(req.Options, &protos.Option{NodeGroupId: g.id, NodeCount: int32(counts[g.id]), PodBytes: podBytes})
		up.Options = append(up.Options, g.id)
	}
	up.LeastWaste = leastWaste(up.Options, waste, rng)
	up.Priority = "ng-arm64" // a priority expander with ".*arm64.*" above ".*": what the field runs today
	switch strategy {
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
			up.Why = "archfit-expander: no group can run these images"
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

// binpack estimates the nodes a group needs for the pods (first fit,
// largest CPU first, as CA's estimator) and the wasted CPU+memory share.
func binpack(pods []*corev1.Pod, tmpl *corev1.Node) (int, float64) {
	capCPU := float64(tmpl.Status.Allocatable.Cpu().MilliValue())
	capMem := float64(tmpl.Status.Allocatable.Memory().Value())
	type req struct{ cpu, mem float64 }
	var rs []req
	var sumCPU, sumMem float64
	for _, p := range pods {
		c, m := cost.PodRequests(&p.Spec)
		r := req{cpu: float64(c), mem: float64(m)}
		rs = append(rs, r)
		sumCPU, sumMem = sumCPU+r.cpu, sumMem+r.mem
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].cpu > rs[j].cpu })
	var nodes []req // free capacity per new node
	for _, r := range rs {
		placed := false
		for i := range nodes {
			if nodes[i].cpu >= r.cpu && nodes[i].mem >= r.mem {
				nodes[i].cpu -= r.cpu
				nodes[i].mem -= r.mem
				placed = true
				break
			}
		}
		if !placed {
			nodes = append(nodes, req{cpu: capCPU - r.cpu, mem: capMem - r.mem})
		}
	}
	n := float64(len(nodes))
	return len(nodes), (n*capCPU-sumCPU)/(n*capCPU) + (n*capMem-sumMem)/(n*capMem)
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

// scaleDown removes nodes without pods, as CA does for unneeded nodes.
func (e *env) scaleDown(ctx context.Context, run string) (int, error) {
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
		if used[n.Name] {
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

func (e *env) summarize(ctx context.Context, spec runSpec) (*RunReport, error) {
	run := spec.name
	rr := &RunReport{Name: run, Scheduler: spec.scheduler, Expander: spec.expander, PodsByArch: map[string]int{}, NodesByGroup: map[string]int{}}
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
		n := byName[p.Spec.NodeName]
		if n == nil {
			rr.PendingPods++
			continue
		}
		os, arch, _ := imageplatform.NodePlatform(n)
		rr.PodsByArch[arch]++
		if pp := e.platformsOf(ctx, p); !pp.Allows(os, arch) {
			rr.MisplacedPods++
			var allowed []string
			for _, a := range pp.Allowed {
				allowed = append(allowed, a.String())
			}
			rr.Misplaced = append(rr.Misplaced, Misplacement{Pod: p.Name, Node: n.Name, NodePlatform: os + "/" + arch, ImagePlatforms: allowed})
		}
	}
	sort.Slice(rr.Misplaced, func(i, j int) bool { return rr.Misplaced[i].Pod < rr.Misplaced[j].Pod })
	return rr, nil
}

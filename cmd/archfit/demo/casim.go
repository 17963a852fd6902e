package demo

// The steps cluster-autoscaler 1.36.1 takes between "pods are pending" and
// "call the expander", reproduced for the demo's simulated CA loop. Each
// function names the CA function it stands in for. CA runs the scheduler
// framework's Filter plugins through its PredicateSnapshot; the demo's pods
// use no host ports, volumes, topology spread or pod (anti-)affinity, so
// only the node-local filters below have anything to reject, and they call
// the helpers the in-tree plugins call.

import (
	"fmt"
	"math"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
)

// simNode is a node in CA's cluster snapshot: the node and the requests of
// the pods on it, bound or placed by the simulation.
type simNode struct {
	node     *corev1.Node
	cpu, mem int64 // requested milli-CPU and bytes
	pods     int
	// list holds the pods counted, for scale-down, which must find each
	// one a place elsewhere.
	list []*corev1.Pod
}

func newSimNode(n *corev1.Node, bound []*corev1.Pod) *simNode {
	s := &simNode{node: n}
	for _, p := range bound {
		s.add(p)
	}
	return s
}

func (s *simNode) add(p *corev1.Pod) {
	cpu, mem := podRequests(p)
	s.cpu += cpu
	s.mem += mem
	s.pods++
	s.list = append(s.list, p)
}

// podRequests is what NodeResourcesFit's PreFilter computes for a pod and
// what the scheduler's NodeInfo adds up for the pods on a node.
func podRequests(p *corev1.Pod) (milliCPU, memory int64) {
	r := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	return r.Cpu().MilliValue(), r.Memory().Value()
}

// fits runs, for one pod and one node, the Filter plugins of the default
// profile that look at the node alone, in the profile's order; it returns
// why the pod does not fit, or nil.
func fits(p *corev1.Pod, s *simNode) error {
	n := s.node
	// NodeUnschedulable: a cordoned node takes only pods that tolerate the
	// unschedulable taint.
	if n.Spec.Unschedulable && !corev1helpers.TolerationsTolerateTaint(klog.Background(), p.Spec.Tolerations,
		&corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}, false) {
		return fmt.Errorf("node %s is unschedulable", n.Name)
	}
	// NodeAffinity: nodeSelector and required node affinity together.
	// The comparison-operator toleration feature is alpha and off, here
	// and in TaintToleration below, as in the scheduler CA embeds.
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); err != nil || !ok {
		return fmt.Errorf("node %s does not match the pod's node selector or affinity", n.Name)
	}
	// TaintToleration: NoSchedule and NoExecute taints only.
	if t, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations,
		helper.DoNotScheduleTaintsFilterFunc(), false); untolerated {
		return fmt.Errorf("node %s has taint %s the pod does not tolerate", n.Name, t.ToString())
	}
	// NodeResourcesFit: pod count, then CPU and memory against allocatable
	// minus what the node's pods request. A zero request always fits.
	alloc := n.Status.Allocatable
	if int64(s.pods+1) > alloc.Pods().Value() {
		return fmt.Errorf("node %s: too many pods", n.Name)
	}
	cpu, mem := podRequests(p)
	if cpu > 0 && cpu > alloc.Cpu().MilliValue()-s.cpu {
		return fmt.Errorf("node %s: insufficient cpu", n.Name)
	}
	if mem > 0 && mem > alloc.Memory().Value()-s.mem {
		return fmt.Errorf("node %s: insufficient memory", n.Name)
	}
	return nil
}

// podMove is a pending pod CA's simulation placed on an existing node.
type podMove struct {
	pod  *corev1.Pod
	node *simNode
}

// filterOutSchedulable mirrors filterOutSchedulablePodListProcessor's
// filterOutSchedulableByPacking and HintingSimulator.TrySchedulePods: the
// pending pods, highest priority first, each placed on the first existing
// node where the filters pass, with the pods already placed in this pass
// counted. Those pods leave the list ("Pod NS/NAME can be moved to NODE"):
// CA neither scales up nor calls the expander for them.
//
// CA walks its snapshot's nodes in Go map order, starting after the last
// match; the demo fixes one order, the caller's (node name order), so a
// run can be repeated. CA's scheduling hints and similar-pod cache only
// skip work and change no answer here, so they are left out.
func filterOutSchedulable(pending []*corev1.Pod, nodes []*simNode) (moved []podMove, remaining []*corev1.Pod) {
	pods := append([]*corev1.Pod(nil), pending...)
	sort.SliceStable(pods, func(i, j int) bool { return corev1helpers.PodPriority(pods[i]) > corev1helpers.PodPriority(pods[j]) })
	for _, p := range pods {
		var to *simNode
		for _, n := range nodes {
			if fits(p, n) == nil {
				to = n
				break
			}
		}
		if to == nil {
			remaining = append(remaining, p)
			continue
		}
		to.add(p)
		moved = append(moved, podMove{pod: p, node: to})
	}
	return moved, remaining
}

// maxGroupsPerController is CA's cap on distinct equivalence groups per
// owner; pods past it get a group each.
const maxGroupsPerController = 10

// buildPodGroups mirrors equivalence.BuildPodGroups: pods with the same
// controller, labels and (sanitized) spec schedule alike, so CA checks one
// of them per group. CA returns its groups in map order; the demo keeps the
// order in which each group's first pod came.
func buildPodGroups(pods []*corev1.Pod) [][]*corev1.Pod {
	var groups [][]*corev1.Pod
	type rep struct {
		index int
		pod   *corev1.Pod
	}
	byController := map[types.UID][]rep{}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind == "DaemonSet" {
			groups = append(groups, []*corev1.Pod{p})
			continue
		}
		found := false
		for _, r := range byController[ref.UID] {
			if reflect.DeepEqual(p.Labels, r.pod.Labels) && apiequality.Semantic.DeepEqual(sanitizedSpec(p.Spec), sanitizedSpec(r.pod.Spec)) {
				groups[r.index] = append(groups[r.index], p)
				found = true
				break
			}
		}
		if found {
			continue
		}
		if len(byController[ref.UID]) < maxGroupsPerController {
			byController[ref.UID] = append(byController[ref.UID], rep{index: len(groups), pod: p})
		}
		groups = append(groups, []*corev1.Pod{p})
	}
	return groups
}

// sanitizedSpec drops what CA's PodSpecSemanticallyEqual ignores: the
// hostname, container env and projected volumes (each pod's service
// account token has its own name).
func sanitizedSpec(s corev1.PodSpec) corev1.PodSpec {
	s = *s.DeepCopy()
	s.Hostname = ""
	projected := map[string]bool{}
	var vols []corev1.Volume
	for _, v := range s.Volumes {
		if v.Projected != nil {
			projected[v.Name] = true
			continue
		}
		vols = append(vols, v)
	}
	s.Volumes = vols
	for _, cs := range [][]corev1.Container{s.Containers, s.InitContainers} {
		for i := range cs {
			cs[i].Env = nil
			var mounts []corev1.VolumeMount
			for _, m := range cs[i].VolumeMounts {
				if !projected[m.Name] {
					mounts = append(mounts, m)
				}
			}
			cs[i].VolumeMounts = mounts
		}
	}
	return s
}

// schedulablePodGroups mirrors ScaleUpOrchestrator.SchedulablePodGroups:
// one pod of each group is checked against the group's template node, and
// the groups that fail are not in that group's option.
func schedulablePodGroups(groups [][]*corev1.Pod, template *corev1.Node) [][]*corev1.Pod {
	var out [][]*corev1.Pod
	for _, g := range groups {
		if fits(g[0], newSimNode(template, nil)) == nil {
			out = append(out, g)
		}
	}
	return out
}

// orderPodGroups mirrors DecreasingPodOrderer.Order: groups by the share of
// the template's allocatable CPU plus memory one of their pods requests,
// largest first. CA's sort is not stable; equal scores keep their order
// here.
func orderPodGroups(groups [][]*corev1.Pod, template *corev1.Node) [][]*corev1.Pod {
	score := func(g []*corev1.Pod) float64 {
		cpu, mem := podRequests(g[0])
		s := 0.0
		if a := template.Status.Allocatable.Cpu().MilliValue(); a > 0 {
			s += float64(cpu) / float64(a)
		}
		if a := template.Status.Allocatable.Memory().Value(); a > 0 {
			s += float64(mem) / float64(a)
		}
		return s
	}
	out := append([][]*corev1.Pod(nil), groups...)
	sort.SliceStable(out, func(i, j int) bool { return score(out[i]) > score(out[j]) })
	return out
}

// estimate mirrors BinpackingNodeEstimator.Estimate (fast-path binpacking
// off, CA's default): for each group in DecreasingPodOrderer's order, its
// pods go first onto the new nodes already added, in the order they were
// added, until one does not fit; the rest go onto the last new node, or a
// new one. It returns the new nodes that received pods and the pods
// placed, in placement order: CA's option.NodeCount and option.Pods.
func estimate(groups [][]*corev1.Pod, template *corev1.Node) (int, []*corev1.Pod) {
	var nodes []*simNode
	var placed []*corev1.Pod
	for _, g := range orderPodGroups(groups, template) {
		i := 0
	existing: // tryToScheduleOnExistingNodes
		for ; i < len(g); i++ {
			for _, n := range nodes {
				if fits(g[i], n) == nil {
					n.add(g[i])
					placed = append(placed, g[i])
					continue existing
				}
			}
			break
		}
		// tryToScheduleOnNewNodes
		for _, p := range g[i:] {
			if len(nodes) > 0 {
				if last := nodes[len(nodes)-1]; fits(p, last) == nil {
					last.add(p)
					placed = append(placed, p)
					continue
				} else if last.pods == 0 {
					break // an empty template node did not take it; another will not
				}
			}
			n := newSimNode(template, nil)
			nodes = append(nodes, n)
			if fits(p, n) != nil {
				break
			}
			n.add(p)
			placed = append(placed, p)
		}
	}
	used := 0
	for _, n := range nodes {
		if n.pods > 0 {
			used++
		}
	}
	return used, placed
}

// template is a node group's template node.
type template struct {
	id   string
	node *corev1.Node
}

// expansionOption is CA's expander.Option: a group, the pods CA thinks a
// scale-up of it would help, and the node count for them.
type expansionOption struct {
	id        string
	template  *corev1.Node
	nodeCount int
	pods      []*corev1.Pod
}

// expansionOptions mirrors the option loop of ScaleUpOrchestrator's
// prepareScaleUp: the pending pods' equivalence groups, per node group the
// groups its template can take (SchedulablePodGroups) and the estimate
// for them (ComputeExpansionOption). A group no pod fits is no option.
func expansionOptions(pending []*corev1.Pod, templates []template) []expansionOption {
	groups := buildPodGroups(pending)
	var out []expansionOption
	for _, t := range templates {
		count, pods := estimate(schedulablePodGroups(groups, t.node), t.node)
		if count == 0 || len(pods) == 0 {
			continue
		}
		out = append(out, expansionOption{id: t.id, template: t.node, nodeCount: count, pods: pods})
	}
	return out
}

// waste is the least-waste expander's score for an option: the unrequested
// share of the new nodes' CPU plus that of their memory, over the option's
// own pods, against the template's capacity as CA's waste.go reads it.
func (o expansionOption) waste() float64 {
	var cpu, mem int64
	for _, p := range o.pods {
		c, m := podRequests(p)
		cpu, mem = cpu+c, mem+m
	}
	n := float64(o.nodeCount)
	capCPU := float64(o.template.Status.Capacity.Cpu().MilliValue()) * n
	capMem := float64(o.template.Status.Capacity.Memory().Value()) * n
	if capCPU == 0 || capMem == 0 {
		return math.Inf(1)
	}
	return (capCPU-float64(cpu))/capCPU + (capMem-float64(mem))/capMem
}

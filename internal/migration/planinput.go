package migration

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/planner"
)

// Annotations that keep a node from the autoscaler's scale-down, so the
// planner never counts on it going away.
const (
	caScaleDownDisabled = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
	karpenterNoDisrupt  = "karpenter.sh/do-not-disrupt"
	labelControlPlane   = "node-role.kubernetes.io/control-plane"
)

// PodView is what the planner needs to know of one pod beyond its spec.
type PodView struct {
	// Workload names its workload ("" when migration never moves it).
	Workload string
	// Arches are the arches its images run on (records applied); nil
	// when they are not known yet: the pod then stays where it is.
	Arches []string
	// Movable: migration may move it now.
	Movable bool
	// Cap is its workload's arm64 cap (pods), when it has a target.
	Cap    int
	HasCap bool
}

// GrowType is an instance type an arch may grow that no node shows yet,
// from the price table: a node group at zero.
type GrowType struct{ Name string }

// PlannerInput turns the cluster's nodes and pods into the planner's
// input. view says what migration knows of each pod (nil for a pod it
// ignores: it still takes room where it runs). Nodes without an arch label
// or not Ready are left out, with their pods. DaemonSet pods are each
// node's overhead. The instance types are those of the nodes seen, the
// grow list's (priced and sized from the table), and, when no arm64 type is
// known at all, an arm64 twin of each amd64 type priced by the arch weights,
// as the cost model prices a node it knows nothing of.
func PlannerInput(nodes []*corev1.Node, pods []*corev1.Pod, prices *cost.Model, grow []GrowType, view func(*corev1.Pod) *PodView) (*planner.Cluster, error) {
	c := &planner.Cluster{ARMCap: map[string]int{}}
	arch := map[string]string{}
	overhead := map[string]planner.Resources{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || !Live(p) || !ownedByDaemonSet(p) {
			continue
		}
		cpu, mem := cost.PodRequests(&p.Spec)
		o := overhead[p.Spec.NodeName]
		overhead[p.Spec.NodeName] = planner.Resources{CPU: o.CPU + cpu, Memory: o.Memory + mem}
	}
	types := map[string]*planner.InstanceType{}
	for _, n := range nodes {
		_, a, ok := imageplatform.NodePlatform(n)
		if !ok || !NodeReady(n) {
			continue
		}
		arch[n.Name] = a
		alloc := planner.Resources{CPU: n.Status.Allocatable.Cpu().MilliValue(), Memory: n.Status.Allocatable.Memory().Value()}
		price := prices.NodePrice(n, a, alloc.CPU).Hourly
		it := n.Labels[cost.LabelInstanceType]
		if it == "" {
			it = fmt.Sprintf("%s-%dm", a, alloc.CPU)
		}
		pn := planner.Node{Name: n.Name, Arch: a, InstanceType: it, Allocatable: alloc, PricePerHour: price, Overhead: overhead[n.Name],
			Fixed:         n.Annotations[caScaleDownDisabled] == "true" || n.Annotations[karpenterNoDisrupt] == "true" || hasLabel(n, labelControlPlane),
			Unschedulable: n.Spec.Unschedulable || hasTaint(n, EmptyingTaint)}
		c.Nodes = append(c.Nodes, pn)
		key := a + "/" + it
		if t := types[key]; t == nil {
			types[key] = &planner.InstanceType{Name: it, Arch: a, Allocatable: alloc, PricePerHour: price, Overhead: pn.Overhead}
		} else {
			// The most DaemonSet overhead seen: a new node carries them all.
			t.Overhead = planner.Resources{CPU: max(t.Overhead.CPU, pn.Overhead.CPU), Memory: max(t.Overhead.Memory, pn.Overhead.Memory)}
		}
	}
	for _, g := range grow {
		row, ok := prices.Table().InstanceTypes[g.Name]
		if !ok || row.Arch == "" || row.VCPU <= 0 || row.HourlyPrice <= 0 {
			return nil, fmt.Errorf("instance type %q to grow: not in the price table with an arch, vCPUs and a price", g.Name)
		}
		if types[row.Arch+"/"+g.Name] != nil {
			continue
		}
		// Allocatable is capacity less what kubelet and the system
		// typically reserve; a node of the type, once seen, gives the real
		// figure.
		cpu := int64(row.VCPU)*1000 - 100
		mem := int64(row.MemoryGiB*float64(1<<30)) * 9 / 10
		types[row.Arch+"/"+g.Name] = &planner.InstanceType{Name: g.Name, Arch: row.Arch, Allocatable: planner.Resources{CPU: cpu, Memory: mem},
			PricePerHour: row.HourlyPrice, Overhead: maxOverhead(types, row.Arch)}
	}
	hasARM := false
	for _, t := range types {
		hasARM = hasARM || t.Arch == planner.ARM64
	}
	if !hasARM {
		// What the autoscaler would add for arm64: for each amd64 type
		// seen, the price table's cheapest arm64 type of the same size
		// (m6i.large → m7g.large), else a twin priced by the arch weights.
		for _, t := range sortedTypes(types) {
			if t.Arch != "amd64" {
				continue
			}
			twin := *t
			twin.Name, twin.Arch = t.Name+"-arm64-twin", planner.ARM64
			twin.PricePerHour = t.PricePerHour * prices.Weight(planner.ARM64) / prices.Weight("amd64")
			if name, row, ok := sameSizeARM(prices.Table(), t.Name); ok {
				twin.Name, twin.PricePerHour = name, row.HourlyPrice
			}
			types[planner.ARM64+"/"+twin.Name] = &twin
		}
	}
	for _, t := range sortedTypes(types) {
		if t.PricePerHour > 0 {
			c.Types = append(c.Types, *t)
		}
	}
	admitCache := map[string][]string{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || !Live(p) || ownedByDaemonSet(p) || arch[p.Spec.NodeName] == "" {
			continue
		}
		cpu, mem := cost.PodRequests(&p.Spec)
		pp := planner.Pod{Name: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Requests: planner.Resources{CPU: cpu, Memory: mem},
			Arches: []string{arch[p.Spec.NodeName]}}
		pp.Nodes = admitted(p, nodes, arch, admitCache)
		if v := view(p); v != nil {
			pp.Workload, pp.Movable = v.Workload, v.Movable && len(v.Arches) > 0
			if len(v.Arches) > 0 {
				pp.Arches = v.Arches
			}
			if v.HasCap && v.Workload != "" {
				c.ARMCap[v.Workload] = v.Cap
			}
		}
		if pp.Workload == "" {
			pp.Workload = "pod:" + pp.Name
		}
		c.Pods = append(c.Pods, pp)
	}
	return c, nil
}

// admitted lists the nodes (of those with a known arch) a pod's own
// nodeSelector, required node affinity (less the arch, which placement
// narrows) and tolerations of NoSchedule and NoExecute taints admit; nil
// when it has no selector, affinity or untolerated taint to reckon with.
// Pods of one template share the answer.
func admitted(p *corev1.Pod, nodes []*corev1.Node, arch map[string]string, cache map[string][]string) []string {
	a := p.Spec.Affinity
	hasAffinity := a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil
	key := fmt.Sprint(p.Spec.NodeSelector, hasAffinity, p.Spec.Tolerations)
	if hasAffinity {
		key += a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.String()
	}
	if got, ok := cache[key]; ok {
		return got
	}
	sel := nodeaffinity.GetRequiredNodeAffinity(WithoutArch(p))
	var out []string
	all := true
	for _, n := range nodes {
		if arch[n.Name] == "" {
			continue
		}
		ok, _ := sel.Match(n)
		if ok {
			_, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
				return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
			}, false)
			ok = !bad
		}
		if ok {
			out = append(out, n.Name)
		} else {
			all = false
		}
	}
	if all {
		out = nil
	} else if out == nil {
		out = []string{}
	}
	cache[key] = out
	return out
}

// WithoutArch is the pod with the arch requirements of its nodeSelector and
// required node affinity dropped: the replacement's arch is arm64 by
// placement's narrowing, whatever the running pod's constraint admits.
func WithoutArch(pod *corev1.Pod) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: map[string]string{}}}
	for k, v := range pod.Spec.NodeSelector {
		if k != imageplatform.LabelArch && k != imageplatform.LabelArchBeta {
			p.Spec.NodeSelector[k] = v
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return p
	}
	var terms []corev1.NodeSelectorTerm
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var nt corev1.NodeSelectorTerm
		for _, r := range t.MatchExpressions {
			if r.Key != imageplatform.LabelArch && r.Key != imageplatform.LabelArchBeta {
				nt.MatchExpressions = append(nt.MatchExpressions, r)
			}
		}
		nt.MatchFields = t.MatchFields
		if len(nt.MatchExpressions) == 0 && len(nt.MatchFields) == 0 {
			// The term asked for the arch alone: with it gone the terms,
			// ORed, admit every node, and an empty term would admit none.
			return p
		}
		terms = append(terms, nt)
	}
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	return p
}

// sameSizeARM is the cheapest arm64 type of the price table with the
// vCPUs and memory of amd64 type name (from the same provider when the
// table says).
func sameSizeARM(t *cost.Table, name string) (string, cost.InstanceType, bool) {
	amd, ok := t.InstanceTypes[name]
	if !ok {
		return "", cost.InstanceType{}, false
	}
	names := make([]string, 0, len(t.InstanceTypes))
	for n := range t.InstanceTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestName := cost.InstanceType{}, ""
	for _, n := range names {
		r := t.InstanceTypes[n]
		if r.Arch != planner.ARM64 || r.VCPU != amd.VCPU || r.MemoryGiB != amd.MemoryGiB || r.HourlyPrice <= 0 ||
			(amd.Provider != "" && r.Provider != "" && r.Provider != amd.Provider) {
			continue
		}
		if bestName == "" || r.HourlyPrice < best.HourlyPrice {
			best, bestName = r, n
		}
	}
	return bestName, best, bestName != ""
}

func sortedTypes(types map[string]*planner.InstanceType) []*planner.InstanceType {
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*planner.InstanceType, len(keys))
	for i, k := range keys {
		out[i] = types[k]
	}
	return out
}

func maxOverhead(types map[string]*planner.InstanceType, arch string) planner.Resources {
	var o planner.Resources
	for _, t := range types {
		if t.Arch == arch {
			o = planner.Resources{CPU: max(o.CPU, t.Overhead.CPU), Memory: max(o.Memory, t.Overhead.Memory)}
		}
	}
	return o
}

func ownedByDaemonSet(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet"
}

// EmptyingTaint is the taint migration's controller puts on a node it
// empties: the planner counts on no new pod there.
const EmptyingTaint = "archfit.dev/emptying"

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

func hasLabel(n *corev1.Node, key string) bool {
	_, ok := n.Labels[key]
	return ok
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Package planner estimates what a cluster's placement costs and what
// moving pods to arm64 would do to the bill. A bill goes down only when a
// node goes away, so the planner thinks in nodes: it packs pods the way
// the autoscaler does (each onto an existing node with room, else onto a
// new node of the cheapest type its images run on), and proposes moves
// that empty whole nodes, each only when the cluster's cost after it is
// lower.
//
// It imports no Kubernetes client: migration's controller, `archfit
// report`, the demo and the benchmarks feed it plain values, and it can be
// fuzzed and benchmarked alone. Every answer is deterministic: ties break
// on names.
package planner

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// ARM64 is the arch moves go to.
const ARM64 = "arm64"

// DefaultMargin is the least a step must save, as a fraction of the price
// of the node it empties. The planner counts requests, not use, and packs
// as the autoscaler's estimate does, not as the scheduler will: a step
// must save a tenth of its node so that an estimate a few percent off
// never turns a saving into a cost.
const DefaultMargin = 0.1

// Resources are requests or capacity: CPU in millicores, memory in bytes.
type Resources struct{ CPU, Memory int64 }

func (r Resources) add(o Resources) Resources { return Resources{r.CPU + o.CPU, r.Memory + o.Memory} }
func (r Resources) sub(o Resources) Resources { return Resources{r.CPU - o.CPU, r.Memory - o.Memory} }
func (r Resources) fits(o Resources) bool     { return o.CPU <= r.CPU && o.Memory <= r.Memory }

// Node is a node that exists now.
type Node struct {
	Name, Arch, InstanceType string
	Allocatable              Resources
	PricePerHour             float64
	// Overhead is what the node's DaemonSet pods request; it goes with the
	// node.
	Overhead Resources
	// Fixed nodes stay even when empty: not in an autoscaled group, or
	// marked so that the autoscaler does not remove them.
	Fixed bool
	// Unschedulable nodes (cordoned) take no new pod; the pods on them
	// stay or move like any other.
	Unschedulable bool
}

// InstanceType is a node an arch can grow: a type seen on the cluster's
// nodes, in the price table, or listed for a group at zero.
type InstanceType struct {
	Name, Arch   string
	Allocatable  Resources
	PricePerHour float64
	// Overhead is what DaemonSet pods would request on a new node.
	Overhead Resources
}

// Pod is a pod the planner places.
type Pod struct {
	// Name is namespace/name; Workload names its controller.
	Name, Workload string
	// Node is where it runs now; "" when it is pending.
	Node     string
	Requests Resources
	// Arches are the arches its images really run on: the registry's
	// word, less what verification and rollback records deny.
	Arches []string
	// Movable pods may be moved to arm64: in migration's scope, with a
	// controller, on a node migration may drain. Others stay where they
	// are.
	Movable bool
	// Nodes, when not nil, are the existing nodes its own nodeSelector and
	// required affinity (less the arch) admit; a new node is taken to
	// match, as the autoscaler grows a group whose template does.
	Nodes []string
}

// Cluster is the planner's whole input.
type Cluster struct {
	Nodes []Node
	Types []InstanceType
	Pods  []Pod
	// ARMCap is, per workload, the most of its pods that may run on arm64
	// (its target share); a workload not in it has no cap.
	ARMCap map[string]int
}

// Placement is where every pod runs, and what its nodes cost.
type Placement struct {
	// CostPerHour is the sum of the prices of Nodes.
	CostPerHour float64
	// Nodes are the nodes kept or added, in a stable order: existing
	// nodes by name, then new ones in the order they were added.
	Nodes []PlacedNode
}

// PlacedNode is one node of a placement.
type PlacedNode struct {
	// Name is the existing node's, or "new-<type>-<n>" for one added.
	Name, Arch, InstanceType string
	New                      bool
	PricePerHour             float64
	Allocatable, Used        Resources
	// Pods are the names of the pods it runs.
	Pods []string
}

// Plan is what migration should do: the nodes to empty, in order, and
// the pods that moving empties them.
type Plan struct {
	// Now is today's placement's cost; After the cost once the plan is
	// done and the emptied nodes are gone; Bound the cheapest safe
	// placement the planner found (Bound ≤ After ≤ Now).
	Now, After, Bound float64
	Steps             []Step
}

// Step empties one node.
type Step struct {
	Node string
	// Moves are the node's pods that go to arm64.
	Moves []string
	// Elsewhere are the node's pods that do not run on arm64 (or may not
	// go there): each fits the room of another existing node of an arch it
	// runs on, as the autoscaler's scale-down moves a drained node's pods.
	Elsewhere []string
	// NewARMNodes is how many arm64 nodes the autoscaler adds for them.
	NewARMNodes int
	// Saving is the cost per hour this step takes off.
	Saving float64
}

// Moves lists every pod the plan moves.
func (p *Plan) Moves() []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Moves...)
	}
	return out
}

// model is a Cluster indexed for packing.
type model struct {
	c *Cluster
	// eligible[i] is pod i's admitted existing nodes (nil: any).
	eligible []map[string]bool
	nodes    []Node // by name
	nodeIdx  map[string]int
	pods     []Pod // by name
	types    map[string][]InstanceType
	armCap   map[string]int
}

func newModel(c *Cluster) (*model, error) {
	m := &model{c: c, nodeIdx: make(map[string]int, len(c.Nodes)), types: map[string][]InstanceType{}, armCap: c.ARMCap}
	m.nodes = slices.Clone(c.Nodes)
	sort.Slice(m.nodes, func(i, j int) bool { return m.nodes[i].Name < m.nodes[j].Name })
	for i, n := range m.nodes {
		if _, dup := m.nodeIdx[n.Name]; dup {
			return nil, fmt.Errorf("node %q listed twice", n.Name)
		}
		if n.PricePerHour < 0 || math.IsNaN(n.PricePerHour) || math.IsInf(n.PricePerHour, 0) {
			return nil, fmt.Errorf("node %q: price %v", n.Name, n.PricePerHour)
		}
		m.nodeIdx[n.Name] = i
	}
	m.pods = slices.Clone(c.Pods)
	sort.Slice(m.pods, func(i, j int) bool { return m.pods[i].Name < m.pods[j].Name })
	m.eligible = make([]map[string]bool, len(m.pods))
	for i := range m.pods {
		if ns := m.pods[i].Nodes; ns != nil {
			set := make(map[string]bool, len(ns))
			for _, n := range ns {
				set[n] = true
			}
			m.eligible[i] = set
		}
	}
	for _, t := range c.Types {
		if t.PricePerHour <= 0 || math.IsNaN(t.PricePerHour) || math.IsInf(t.PricePerHour, 0) {
			return nil, fmt.Errorf("instance type %q: price %v", t.Name, t.PricePerHour)
		}
		m.types[t.Arch] = append(m.types[t.Arch], t)
	}
	for a := range m.types {
		ts := m.types[a]
		// Cheapest per vCPU first, as the expander ranks groups by price.
		sort.Slice(ts, func(i, j int) bool {
			pi, pj := perCPU(ts[i]), perCPU(ts[j])
			if pi != pj {
				return pi < pj
			}
			return ts[i].Name < ts[j].Name
		})
	}
	return m, nil
}

func perCPU(t InstanceType) float64 {
	if t.Allocatable.CPU <= t.Overhead.CPU {
		return math.Inf(1)
	}
	return t.PricePerHour / float64(t.Allocatable.CPU-t.Overhead.CPU)
}

// bin is a node while packing.
type bin struct {
	name, arch, itype string
	isNew, keep, full bool
	price             float64
	alloc, free       Resources
	pods              []int
}

// runsOn reports whether a pod's images run on arch.
func runsOn(p *Pod, arch string) bool { return slices.Contains(p.Arches, arch) }

// Now is today's placement: every node that exists, with the pods it runs.
// Pending pods are left out of it (they run nowhere yet).
func Now(c *Cluster) (Placement, error) {
	m, err := newModel(c)
	if err != nil {
		return Placement{}, err
	}
	bins := m.existingBins()
	for i := range m.pods {
		if j, ok := m.nodeIdx[m.pods[i].Node]; ok {
			bins[j].place(i, m.pods[i].Requests)
		}
	}
	return m.placement(bins, true), nil
}

func (m *model) existingBins() []*bin {
	bins := make([]*bin, len(m.nodes))
	for i, n := range m.nodes {
		bins[i] = &bin{name: n.Name, arch: n.Arch, itype: n.InstanceType, price: n.PricePerHour, keep: n.Fixed, full: n.Unschedulable,
			alloc: n.Allocatable, free: n.Allocatable.sub(n.Overhead)}
	}
	return bins
}

func (b *bin) place(pod int, r Resources) {
	b.pods = append(b.pods, pod)
	b.free = b.free.sub(r)
}

// placement turns bins into a Placement; all keeps every existing node,
// else only those with pods or Fixed.
func (m *model) placement(bins []*bin, all bool) Placement {
	var out Placement
	for _, b := range bins {
		if !all && !b.keep && len(b.pods) == 0 {
			continue
		}
		pn := PlacedNode{Name: b.name, Arch: b.arch, InstanceType: b.itype, New: b.isNew, PricePerHour: b.price,
			Allocatable: b.alloc, Used: b.alloc.sub(b.free)}
		for _, p := range b.pods {
			pn.Pods = append(pn.Pods, m.pods[p].Name)
		}
		sort.Strings(pn.Pods)
		out.Nodes = append(out.Nodes, pn)
		out.CostPerHour += b.price
	}
	return out
}

// packer places pods onto bins the way the autoscaler's estimate does:
// onto a node that has room, else onto a new node of the cheapest type
// (per vCPU) of an arch the pod runs on.
type packer struct {
	m     *model
	bins  []*bin
	added map[string]int
}

// fit places pod i on an open bin of one of arches, or adds one, and
// returns the bin; nil when no node and no type can hold it.
func (k *packer) fit(i int, arches []string) *bin {
	p := &k.m.pods[i]
	for _, b := range k.bins {
		if (b.keep || len(b.pods) > 0) && !b.full && k.admits(i, b) && slices.Contains(arches, b.arch) && b.free.fits(p.Requests) {
			b.place(i, p.Requests)
			return b
		}
	}
	// An empty existing node costs what a new one of its type does: take
	// it over a new one at the same price per vCPU (no churn).
	var best *bin
	bestPer := math.Inf(1)
	for _, b := range k.bins {
		if b.keep || b.full || len(b.pods) > 0 || !k.admits(i, b) || !slices.Contains(arches, b.arch) || !b.free.fits(p.Requests) {
			continue
		}
		if per := b.price / float64(max(b.free.CPU, 1)); per < bestPer {
			best, bestPer = b, per
		}
	}
	var bestType *InstanceType
	for _, a := range arches {
		for ti := range k.m.types[a] {
			t := &k.m.types[a][ti]
			if !t.Allocatable.sub(t.Overhead).fits(p.Requests) {
				continue
			}
			if per := perCPU(*t); per < bestPer {
				bestType, bestPer = t, per
			}
			break // the cheapest per vCPU of this arch that fits
		}
	}
	if bestType != nil {
		k.added[bestType.Name]++
		best = &bin{name: fmt.Sprintf("new-%s-%d", bestType.Name, k.added[bestType.Name]), arch: bestType.Arch, itype: bestType.Name,
			isNew: true, price: bestType.PricePerHour, alloc: bestType.Allocatable, free: bestType.Allocatable.sub(bestType.Overhead)}
		k.bins = append(k.bins, best)
	}
	if best == nil {
		return nil
	}
	best.place(i, p.Requests)
	return best
}

// armCounts is each workload's pods on arm64 nodes now, what its cap is
// measured against.
func (m *model) armCounts() map[string]int {
	out := map[string]int{}
	for i := range m.pods {
		p := &m.pods[i]
		if j, ok := m.nodeIdx[p.Node]; ok && m.nodes[j].Arch == ARM64 {
			out[p.Workload]++
		}
	}
	return out
}

// admits reports whether pod i's own selector and affinity admit bin b: an
// existing node in its set, or a new one.
func (k *packer) admits(i int, b *bin) bool {
	e := k.m.eligible[i]
	return e == nil || b.isNew || e[b.name]
}

// fitExisting places pod i on a node that runs pods already (or is
// Fixed), of one of arches, with room, the fullest first (best fit, as a
// drain consolidates); it adds none.
func (k *packer) fitExisting(i int, arches []string) *bin {
	p := &k.m.pods[i]
	var best *bin
	for _, b := range k.bins {
		if (b.keep || len(b.pods) > 0) && !b.full && k.admits(i, b) && slices.Contains(arches, b.arch) && b.free.fits(p.Requests) &&
			(best == nil || b.free.CPU < best.free.CPU) {
			best = b
		}
	}
	if best != nil {
		best.place(i, p.Requests)
	}
	return best
}

// order sorts pods for packing: the most constrained first (fewest
// arches), then the largest, as the autoscaler's binpacking estimator
// sorts by size, then by name.
func (m *model) order(pods []int) {
	sort.SliceStable(pods, func(a, b int) bool {
		pa, pb := &m.pods[pods[a]], &m.pods[pods[b]]
		if la, lb := len(pa.Arches), len(pb.Arches); la != lb {
			return la < lb
		}
		if pa.Requests.CPU != pb.Requests.CPU {
			return pa.Requests.CPU > pb.Requests.CPU
		}
		if pa.Requests.Memory != pb.Requests.Memory {
			return pa.Requests.Memory > pb.Requests.Memory
		}
		return pa.Name < pb.Name
	})
}

// ErrUnplaceable is returned when a pod fits no node and no type of an
// arch it runs on.
type ErrUnplaceable struct{ Pod string }

func (e *ErrUnplaceable) Error() string {
	return fmt.Sprintf("pod %s fits no node and no instance type of an arch it runs on", e.Pod)
}

// repack is the cheapest placement the packer finds when every movable
// pod may go anywhere it runs (within the workloads' arm64 caps) and the
// others stay: the pods that stay keep their nodes; the rest are packed.
func (m *model) repack() (Placement, error) {
	k := &packer{m: m, bins: m.existingBins(), added: map[string]int{}}
	var free []int
	for i := range m.pods {
		p := &m.pods[i]
		j, bound := m.nodeIdx[p.Node]
		if bound && !p.Movable {
			k.bins[j].place(i, p.Requests)
			k.bins[j].keep = true
			continue
		}
		free = append(free, i)
	}
	m.order(free)
	// A cap limits moves to arm64: a pod not on arm64 now goes there
	// only while fewer than the cap of its workload's pods are there now
	// or have gone there; a pod on arm64 now may stay.
	armUsed := m.armCounts()
	for _, i := range free {
		p := &m.pods[i]
		arches := p.Arches
		onARM := false
		if j, ok := m.nodeIdx[p.Node]; ok {
			onARM = m.nodes[j].Arch == ARM64
		}
		if c, capped := m.armCap[p.Workload]; capped && armUsed[p.Workload] >= c && !onARM {
			arches = without(arches, ARM64)
		}
		b := k.fit(i, arches)
		if b == nil {
			return Placement{}, &ErrUnplaceable{Pod: p.Name}
		}
		if b.arch == ARM64 && !onARM {
			armUsed[p.Workload]++
		}
	}
	return m.placement(k.bins, false), nil
}

func without(xs []string, x string) []string {
	out := make([]string, 0, len(xs))
	for _, y := range xs {
		if y != x {
			out = append(out, y)
		}
	}
	return out
}

// After is the placement once moves (pod names) have gone to arm64: each
// moved pod onto an arm64 node with room, else a new arm64 node; the
// others stay; a node left with no pod goes away unless Fixed. A move of
// a pod that does not run on arm64, or may not move, or past its
// workload's arm64 cap, is an error.
func After(c *Cluster, moves []string) (Placement, error) {
	m, err := newModel(c)
	if err != nil {
		return Placement{}, err
	}
	moving := make(map[string]bool, len(moves))
	for _, n := range moves {
		moving[n] = true
	}
	k := &packer{m: m, bins: m.existingBins(), added: map[string]int{}}
	var moved []int
	for i := range m.pods {
		p := &m.pods[i]
		if moving[p.Name] {
			if !runsOn(p, ARM64) {
				return Placement{}, fmt.Errorf("move of pod %s: its images do not run on arm64", p.Name)
			}
			if !p.Movable {
				return Placement{}, fmt.Errorf("move of pod %s: it may not move", p.Name)
			}
			delete(moving, p.Name)
			moved = append(moved, i)
			continue
		}
		if j, ok := m.nodeIdx[p.Node]; ok {
			k.bins[j].place(i, p.Requests)
		}
	}
	if len(moving) > 0 {
		names := make([]string, 0, len(moving))
		for n := range moving {
			names = append(names, n)
		}
		sort.Strings(names)
		return Placement{}, fmt.Errorf("moves name pods that do not exist: %s", strings.Join(names, ", "))
	}
	if len(m.armCap) > 0 {
		arm := m.armCounts()
		for _, i := range moved {
			p := &m.pods[i]
			if j, ok := m.nodeIdx[p.Node]; !ok || m.nodes[j].Arch != ARM64 {
				arm[p.Workload]++
			}
			if c, capped := m.armCap[p.Workload]; capped && arm[p.Workload] > c {
				return Placement{}, fmt.Errorf("moves take workload %s past its arm64 cap of %d", p.Workload, c)
			}
		}
	}
	m.order(moved)
	for _, i := range moved {
		if k.fit(i, []string{ARM64}) == nil {
			return Placement{}, &ErrUnplaceable{Pod: m.pods[i].Name}
		}
	}
	return m.placement(k.bins, false), nil
}

// Bound is the cheapest safe placement the planner finds: the lower of
// the movable pods packed afresh and the end state of the plan. Every pod
// runs on an arch its images run on, within its workload's arm64 cap, and
// no node holds more than it can. Pending pods are left out, as in Now.
func Bound(c *Cluster) (Placement, error) {
	_, b, err := plan(c, 0)
	return b, err
}

// MakePlan proposes the nodes to empty, each a step: a node that is not
// arm64, not Fixed, whose pods are all movable. Its pods that run on arm64
// (within their workloads' arm64 caps) go onto arm64 room, or onto new
// arm64 nodes; the others must fit the room of other existing nodes of an
// arch they run on. The step is kept only when the node's price less what
// the new nodes cost saves at least margin (a fraction of the node's
// price). The dearest nodes are tried first, the least used among equals.
// Pending pods are left out:
// they land wherever the scheduler and the autoscaler put them, plan or
// not.
func MakePlan(c *Cluster, margin float64) (Plan, error) {
	p, _, err := plan(c, margin)
	return p, err
}

func plan(c *Cluster, margin float64) (Plan, Placement, error) {
	if margin < 0 || math.IsNaN(margin) {
		return Plan{}, Placement{}, fmt.Errorf("margin %v: want a fraction ≥ 0", margin)
	}
	m, err := newModel(c)
	if err != nil {
		return Plan{}, Placement{}, err
	}
	k := &packer{m: m, bins: m.existingBins(), added: map[string]int{}}
	armUsed := m.armCounts()
	for i := range m.pods {
		if j, ok := m.nodeIdx[m.pods[i].Node]; ok {
			k.bins[j].place(i, m.pods[i].Requests)
		}
	}
	out := Plan{}
	for _, b := range k.bins {
		out.Now += b.price
	}
	cands := make([]int, 0, len(m.nodes))
	for j, n := range m.nodes {
		if n.Fixed || n.Arch == ARM64 || len(k.bins[j].pods) == 0 {
			continue
		}
		ok := true
		for _, i := range k.bins[j].pods {
			if p := &m.pods[i]; !p.Movable {
				ok = false
				break
			}
		}
		if ok {
			cands = append(cands, j)
		}
	}
	// The dearest first; among equals the least used, as the autoscaler
	// picks nodes to scale down: fewer pods to move, and the pods that stay
	// on their arch go to the fuller nodes, not the other way round.
	used := func(j int) int64 { return m.nodes[j].Allocatable.CPU - m.nodes[j].Overhead.CPU - k.bins[j].free.CPU }
	sort.SliceStable(cands, func(a, b int) bool {
		na, nb := &m.nodes[cands[a]], &m.nodes[cands[b]]
		if na.PricePerHour != nb.PricePerHour {
			return na.PricePerHour > nb.PricePerHour
		}
		if ua, ub := used(cands[a]), used(cands[b]); ua != ub {
			return ua < ub
		}
		return na.Name < nb.Name
	})
	for _, j := range cands {
		// What the node runs now: an earlier step may have moved pods
		// onto it.
		pods := slices.Clone(k.bins[j].pods)
		if len(pods) == 0 || slices.ContainsFunc(pods, func(i int) bool { return !m.pods[i].Movable }) {
			continue
		}
		// The pods that may go to arm64, within their workloads' caps;
		// the others must find room on the nodes that stay.
		toARM := map[int]bool{}
		used := map[string]int{}
		m.order(pods)
		for _, i := range pods {
			p := &m.pods[i]
			if !runsOn(p, ARM64) {
				continue
			}
			if c, capped := m.armCap[p.Workload]; capped && armUsed[p.Workload]+used[p.Workload] >= c {
				continue
			}
			toARM[i] = true
			used[p.Workload]++
		}
		// Try it on a copy of the bins' state; keep it if it pays. The
		// source takes nothing while it is emptied.
		saved := k.snapshot()
		src := k.bins[j]
		before := k.cost()
		newBefore := len(k.bins)
		src.full = true
		placed := true
		for _, i := range pods {
			var b *bin
			if toARM[i] {
				b = k.fit(i, []string{ARM64})
			} else {
				// Not to arm64: it does not run there, or its workload
				// is at its cap.
				b = k.fitExisting(i, without(m.pods[i].Arches, ARM64))
			}
			if b == nil {
				placed = false
				break
			}
		}
		srcPods, srcFree := src.pods, src.free
		src.pods, src.free = nil, src.alloc.sub(m.nodes[j].Overhead)
		saving := before - k.cost()
		src.full = m.nodes[j].Unschedulable
		if !placed || saving < margin*src.price || saving <= 0 {
			src.pods, src.free = srcPods, srcFree
			k.restore(saved)
			continue
		}
		step := Step{Node: src.name, NewARMNodes: len(k.bins) - newBefore, Saving: saving}
		for _, i := range pods {
			if toARM[i] {
				step.Moves = append(step.Moves, m.pods[i].Name)
				armUsed[m.pods[i].Workload]++
			} else {
				step.Elsewhere = append(step.Elsewhere, m.pods[i].Name)
			}
		}
		sort.Strings(step.Moves)
		sort.Strings(step.Elsewhere)
		out.Steps = append(out.Steps, step)
	}
	end := m.placement(k.bins, false)
	out.After = end.CostPerHour
	bound := end
	if fresh, err := m.repack(); err == nil && fresh.CostPerHour < bound.CostPerHour {
		bound = fresh
	}
	out.Bound = bound.CostPerHour
	return out, bound, nil
}

// cost is what the bins cost once the autoscaler has removed the empty
// ones.
func (k *packer) cost() float64 {
	c := 0.0
	for _, b := range k.bins {
		if b.keep || len(b.pods) > 0 {
			c += b.price
		}
	}
	return c
}

// snapshot is what fit may change: the bins' free room and pods, and the
// bins added.
type snapshot struct {
	n     int
	free  []Resources
	pods  []int
	added map[string]int
}

func (k *packer) snapshot() snapshot {
	s := snapshot{n: len(k.bins), free: make([]Resources, len(k.bins)), pods: make([]int, len(k.bins)), added: make(map[string]int, len(k.added))}
	for i, b := range k.bins {
		s.free[i], s.pods[i] = b.free, len(b.pods)
	}
	for t, n := range k.added {
		s.added[t] = n
	}
	return s
}

func (k *packer) restore(s snapshot) {
	k.bins = k.bins[:s.n]
	for i, b := range k.bins {
		b.free, b.pods = s.free[i], b.pods[:s.pods[i]]
	}
	k.added = s.added
}

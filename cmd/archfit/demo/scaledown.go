package demo

// Cluster-autoscaler 1.36.1's scale-down, as the migration run needs it: the
// planner's choice of unneeded nodes (eligibility.Checker, then
// RemovalSimulator.SimulateNodeRemoval per candidate), how long a node must
// stay unneeded and the cooldowns after a scale-up or a deletion
// (StaticAutoscaler.RunOnce), and the actuator's budgets (empty nodes
// deleted together, non-empty ones drained max-drain-parallelism at a
// time). The demo's pods are neither DaemonSet nor mirror pods, use no
// local storage and have no PodDisruptionBudget, so CA's drainability rules
// have nothing to block; the drain itself goes through the Eviction API, so
// a budget would hold.

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

const (
	// scaleDownUtilizationThreshold is CA's
	// --scale-down-utilization-threshold default.
	scaleDownUtilizationThreshold = 0.5
	// toBeDeletedTaint is the NoSchedule taint CA puts on a node it
	// deletes, so that no scheduler puts pods back on it.
	toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"
)

// utilization mirrors utilization.Calculate for a node without GPUs: the
// larger of the shares of its allocatable CPU and memory that its pods
// request.
func utilization(s *simNode) float64 {
	u := 0.0
	if a := s.node.Status.Allocatable.Cpu().MilliValue(); a > 0 {
		u = float64(s.cpu) / float64(a)
	}
	if a := s.node.Status.Allocatable.Memory().Value(); a > 0 {
		u = max(u, float64(s.mem)/float64(a))
	}
	return u
}

// removal is a node the planner found removable, with the pods that must
// move and the node each one went to in the simulation.
type removal struct {
	node *simNode
	util float64
	pods []*corev1.Pod
	to   []string
}

func (r removal) empty() bool { return len(r.pods) == 0 }

// findUnneeded mirrors Planner.categorizeNodes: the nodes below threshold
// (utilization measured before any simulation, as FilterOutUnremovable
// does), then each in turn, in the caller's order, is removed in a fork of
// the snapshot and its pods placed on the other nodes under the same
// filters as scale-up (TrySchedulePods, first fit). A removal that places
// every pod is committed: its pods stay where they went, reserving that
// room, and the node is no destination for later candidates. deleting are
// nodes being deleted already: neither candidates nor destinations.
func findUnneeded(nodes []*simNode, threshold float64, deleting map[string]bool) []removal {
	util := map[*simNode]float64{}
	var candidates []*simNode
	for _, n := range nodes {
		if deleting[n.node.Name] {
			continue
		}
		if u := utilization(n); u < threshold {
			util[n] = u
			candidates = append(candidates, n)
		}
	}
	removed := map[*simNode]bool{}
	var out []removal
	for _, c := range candidates {
		saved := make([]simNode, len(nodes))
		for i, n := range nodes {
			saved[i] = *n
		}
		r := removal{node: c, util: util[c], pods: append([]*corev1.Pod(nil), c.list...)}
		for _, p := range r.pods {
			var to *simNode
			for _, n := range nodes {
				if n == c || removed[n] || deleting[n.node.Name] {
					continue
				}
				if fits(p, n) == nil {
					to = n
					break
				}
			}
			if to == nil {
				r.to = nil
				break
			}
			to.add(p)
			r.to = append(r.to, to.node.Name)
		}
		if len(r.to) != len(r.pods) {
			for i, n := range nodes {
				*n = saved[i]
			}
			continue
		}
		removed[c] = true
		out = append(out, r)
	}
	return out
}

// scaleDown is CA's scale-down state from loop to loop, in loops rather
// than in time: the demo compresses CA's minutes into a few loops.
type scaleDown struct {
	threshold float64
	// unneededLoops stands for --scale-down-unneeded-time, afterAddLoops
	// for --scale-down-delay-after-add and afterDeleteLoops for
	// --scale-down-delay-after-delete.
	unneededLoops, afterAddLoops, afterDeleteLoops int

	since       map[string]int // node → the loop since which it is unneeded
	lastScaleUp int
	lastDelete  int
	draining    string // the node being drained, "" for none
}

// newScaleDown starts at loop 0 as CA starts: as if it had just scaled up
// (its lastScaleUpTime starts at its start time), so nothing is removed
// for the delay after add.
func newScaleDown(unneededLoops, afterAddLoops, afterDeleteLoops int) *scaleDown {
	return &scaleDown{threshold: scaleDownUtilizationThreshold, unneededLoops: unneededLoops, afterAddLoops: afterAddLoops,
		afterDeleteLoops: afterDeleteLoops, since: map[string]int{}, lastDelete: -afterDeleteLoops}
}

// scaleDownPlan is what one loop's scale-down decides.
type scaleDownPlan struct {
	// unneeded are the nodes found unneeded this loop.
	unneeded []removal
	// empty are deleted now, together, without a drain.
	empty []removal
	// drain, when not nil, is drained now.
	drain *removal
	// wait says why nothing is removed this loop, "" when something is
	// or nothing is unneeded.
	wait string
}

// plan runs one loop's scale-down over the snapshot's nodes (which must
// hold the pods FilterOutSchedulable placed this loop). CA skips
// scale-down in a loop that scaled up; that loop must call scaledUp
// instead.
func (s *scaleDown) plan(loop int, nodes []*simNode) scaleDownPlan {
	var deleting map[string]bool
	if s.draining != "" {
		deleting = map[string]bool{s.draining: true}
	}
	p := scaleDownPlan{unneeded: findUnneeded(nodes, s.threshold, deleting)}
	still := map[string]int{}
	for _, r := range p.unneeded {
		since, ok := s.since[r.node.node.Name]
		if !ok {
			since = loop
		}
		still[r.node.node.Name] = since
	}
	s.since = still
	switch {
	case loop-s.lastScaleUp < s.afterAddLoops:
		p.wait = "scale-down-delay-after-add"
		return p
	case loop-s.lastDelete < s.afterDeleteLoops:
		p.wait = "scale-down-delay-after-delete"
		return p
	}
	for i := range p.unneeded {
		r := &p.unneeded[i]
		if loop-s.since[r.node.node.Name] < s.unneededLoops {
			continue
		}
		switch {
		case r.empty():
			p.empty = append(p.empty, *r)
		case s.draining == "" && p.drain == nil: // max-drain-parallelism 1
			p.drain = r
		}
	}
	if len(p.unneeded) > 0 && len(p.empty) == 0 && p.drain == nil {
		p.wait = "scale-down-unneeded-time"
		if s.draining != "" {
			p.wait = fmt.Sprintf("max-drain-parallelism: %s is draining", s.draining)
		}
	}
	return p
}

// scaledUp records a loop that scaled up.
func (s *scaleDown) scaledUp(loop int) { s.lastScaleUp = loop }

// drainStarted records the drain the actuator started.
func (s *scaleDown) drainStarted(node string) { s.draining = node }

// drainFailed records a drain given up (the node is untainted and kept).
// CA then waits --scale-down-delay-after-failure; the demo compresses it
// as it compresses the delay after a deletion.
func (s *scaleDown) drainFailed(loop int) {
	delete(s.since, s.draining)
	s.draining = ""
	s.lastDelete = loop
}

// deleted records a loop that deleted nodes.
func (s *scaleDown) deleted(loop int, nodes ...string) {
	s.lastDelete = loop
	for _, n := range nodes {
		delete(s.since, n)
		if n == s.draining {
			s.draining = ""
		}
	}
}

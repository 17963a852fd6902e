package demo

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func removalNodes(rs []removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.node.node.Name)
	}
	return out
}

func TestUtilizationIsTheLargerShare(t *testing.T) {
	n := testNode("n", "amd64", "4", "16Gi")
	for _, c := range []struct {
		name string
		pods []*corev1.Pod
		want float64
	}{
		{"empty", nil, 0},
		{"cpu", []*corev1.Pod{testPod("a", "x", "1", "2Gi", "")}, 0.25},
		{"memory", []*corev1.Pod{testPod("a", "x", "500m", "8Gi", "")}, 0.5},
	} {
		if got := utilization(newSimNode(n, c.pods)); got != c.want {
			t.Errorf("%s: utilization %v, want %v", c.name, got, c.want)
		}
	}
}

// A node at the threshold stays (CA removes a node only below it); one
// under it whose pods fit elsewhere is unneeded, whichever resource makes
// its utilization.
func TestFindUnneededUtilizationThreshold(t *testing.T) {
	nodes := []*simNode{
		newSimNode(testNode("at", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a", "x", "2", "1Gi", "")}),
		newSimNode(testNode("memory-bound", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("b", "x", "100m", "9Gi", "")}),
		newSimNode(testNode("under", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("c", "x", "1", "1Gi", "")}),
		newSimNode(testNode("spare", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("d", "x", "3", "1Gi", "")}),
	}
	got := findUnneeded(nodes, scaleDownUtilizationThreshold, nil)
	if names := removalNodes(got); !slices.Equal(names, []string{"under"}) {
		t.Fatalf("unneeded %v, want [under]", names)
	}
	if r := got[0]; r.util != 0.25 || len(r.pods) != 1 || !slices.Equal(r.to, []string{"at"}) {
		t.Errorf("removal %+v: want 25%% utilized, its pod to the first node with room", r)
	}
}

// A node is unneeded only when every pod on it fits another node under the
// same filters: node affinity and room both count.
func TestFindUnneededPodsMustFitElsewhere(t *testing.T) {
	arm := newSimNode(testNode("arm", "arm64", "4", "16Gi"), []*corev1.Pod{testPod("a", "x", "1", "1Gi", "")})
	amd := func() *simNode {
		return newSimNode(testNode("amd", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("pinned", "x", "500m", "1Gi", "amd64")})
	}
	if got := findUnneeded([]*simNode{amd(), arm}, scaleDownUtilizationThreshold, nil); slices.Contains(removalNodes(got), "amd") {
		t.Errorf("a node whose amd64-pinned pod fits only itself was found unneeded: %v", removalNodes(got))
	}

	full := newSimNode(testNode("full", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("f", "x", "3800m", "1Gi", "")})
	got := findUnneeded([]*simNode{amd(), full}, scaleDownUtilizationThreshold, nil)
	if slices.Contains(removalNodes(got), "amd") {
		t.Errorf("a node whose pod fits no other node's room was found unneeded: %v", removalNodes(got))
	}
	// A failed removal leaves the snapshot as it was.
	if full.cpu != 3800 || full.pods != 1 {
		t.Errorf("the failed simulation left %d milli-CPU, %d pods on full", full.cpu, full.pods)
	}
}

// Each removal found keeps its pods where the simulation put them: the
// next candidate finds that room taken, and a node found removable takes
// no pods.
func TestFindUnneededReservesAsItPlaces(t *testing.T) {
	nodes := []*simNode{
		newSimNode(testNode("a", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a1", "x", "1500m", "1Gi", "")}),
		newSimNode(testNode("b", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("b1", "x", "1500m", "1Gi", "")}),
		newSimNode(testNode("c", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("c1", "x", "2500m", "1Gi", "")}),
	}
	// a's pod fits b (which is under the threshold too) before c; once a
	// is gone b holds 3 CPUs and c only has 1.5 free: b stays. c is not a
	// candidate (62.5% utilized).
	got := findUnneeded(nodes, scaleDownUtilizationThreshold, nil)
	if names := removalNodes(got); !slices.Equal(names, []string{"a"}) {
		t.Fatalf("unneeded %v, want [a]", names)
	}
	if !slices.Equal(got[0].to, []string{"b"}) {
		t.Errorf("a's pod went to %v, want b", got[0].to)
	}

	// With room for both on c, both go, and b's pods (its own and a's)
	// avoid a, which is gone.
	nodes = []*simNode{
		newSimNode(testNode("a", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a1", "x", "1", "1Gi", "")}),
		newSimNode(testNode("b", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("b1", "x", "500m", "1Gi", "")}),
		newSimNode(testNode("c", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("c1", "x", "2100m", "1Gi", "")}),
	}
	got = findUnneeded(nodes, scaleDownUtilizationThreshold, nil)
	if names := removalNodes(got); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("unneeded %v, want [a b]", names)
	}
	if !slices.Equal(got[1].to, []string{"c", "c"}) || len(got[1].pods) != 2 {
		t.Errorf("b's removal moves %v to %v; want its pod and a's, both to c", podNames(got[1].pods), got[1].to)
	}
}

func TestFindUnneededLeavesOutNodesBeingDeleted(t *testing.T) {
	nodes := []*simNode{
		newSimNode(testNode("draining", "amd64", "4", "16Gi"), nil),
		newSimNode(testNode("low", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("l", "x", "1", "1Gi", "")}),
	}
	got := findUnneeded(nodes, scaleDownUtilizationThreshold, map[string]bool{"draining": true})
	if len(got) != 0 {
		t.Errorf("unneeded %v: the node being deleted is neither a candidate nor a destination", removalNodes(got))
	}
}

// The loop-to-loop rules: nothing for the delay after add (CA starts as
// if it had scaled up), a node must stay unneeded for the unneeded time,
// empty nodes go together, non-empty ones one drain at a time, and a
// scale-up starts the delay again.
func TestScaleDownPlanOverLoops(t *testing.T) {
	snapshot := func() []*simNode {
		return []*simNode{
			newSimNode(testNode("empty-1", "amd64", "4", "16Gi"), nil),
			newSimNode(testNode("empty-2", "arm64", "4", "16Gi"), nil),
			newSimNode(testNode("low-1", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a", "x", "500m", "1Gi", "")}),
			newSimNode(testNode("low-2", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("b", "x", "500m", "1Gi", "")}),
			newSimNode(testNode("busy", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("c", "x", "3", "1Gi", "")}),
		}
	}
	s := newScaleDown(2, 3, 2)
	for loop := 0; loop < 3; loop++ {
		p := s.plan(loop, snapshot())
		if len(p.unneeded) != 4 || len(p.empty) != 0 || p.drain != nil || p.wait != "scale-down-delay-after-add" {
			t.Fatalf("loop %d: unneeded %v, empty %v, drain %v, wait %q; want all four unneeded, nothing removed for the delay after add",
				loop, removalNodes(p.unneeded), removalNodes(p.empty), p.drain, p.wait)
		}
	}
	p := s.plan(3, snapshot())
	if got := removalNodes(p.empty); !slices.Equal(got, []string{"empty-1", "empty-2"}) || p.drain == nil || p.drain.node.node.Name != "low-1" {
		t.Fatalf("loop 3: empty %v, drain %v; want both empty nodes and one drain, low-1", got, p.drain)
	}
	s.drainStarted("low-1")
	s.deleted(3, "empty-1", "empty-2")

	// The next loop is within the delay after a deletion; then low-2 is
	// still unneeded (and long enough), but one drain is in progress.
	without := func(nodes []*simNode, gone ...string) []*simNode {
		return slices.DeleteFunc(nodes, func(n *simNode) bool { return slices.Contains(gone, n.node.Name) })
	}
	if p := s.plan(4, without(snapshot(), "empty-1", "empty-2")); p.drain != nil || p.wait != "scale-down-delay-after-delete" {
		t.Fatalf("loop 4: drain %v, wait %q; want the delay after delete", p.drain, p.wait)
	}
	p = s.plan(5, without(snapshot(), "empty-1", "empty-2"))
	if p.drain != nil || slices.Contains(removalNodes(p.unneeded), "low-1") || p.wait != "max-drain-parallelism: low-1 is draining" {
		t.Fatalf("loop 5: drain %v, unneeded %v, wait %q; want no second drain while low-1 drains", p.drain, removalNodes(p.unneeded), p.wait)
	}
	s.deleted(5, "low-1")
	// A scale-up: the delay after add again.
	s.scaledUp(6)
	if p := s.plan(7, without(snapshot(), "empty-1", "empty-2", "low-1")); p.drain != nil {
		t.Fatalf("loop 7: drained %s within the delay after a scale-up", p.drain.node.node.Name)
	}
	if p := s.plan(9, without(snapshot(), "empty-1", "empty-2", "low-1")); p.drain == nil || p.drain.node.node.Name != "low-2" {
		t.Fatalf("loop 9: drain %v, want low-2", p.drain)
	}
}

// A node that is needed again loses its unneeded time.
func TestScaleDownUnneededTimeRestarts(t *testing.T) {
	low := func(cpu string) []*simNode {
		return []*simNode{
			newSimNode(testNode("n", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a", "x", cpu, "1Gi", "")}),
			newSimNode(testNode("other", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("b", "x", "2", "1Gi", "")}),
		}
	}
	s := newScaleDown(2, 0, 0)
	s.plan(0, low("500m"))
	s.plan(1, low("3")) // busy again
	if p := s.plan(2, low("500m")); p.drain != nil {
		t.Fatalf("drained %s one loop after it was unneeded again", p.drain.node.node.Name)
	}
	if p := s.plan(4, low("500m")); p.drain == nil || p.drain.node.node.Name != "n" {
		t.Fatalf("drain %v after two loops unneeded, want n", p.drain)
	}
}

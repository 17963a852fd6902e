package planner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

const gi = int64(1) << 30

// Two types of the same size: arm64 is 20% cheaper.
var (
	amdType = InstanceType{Name: "a2", Arch: "amd64", Allocatable: Resources{2000, 8 * gi}, PricePerHour: 0.10, Overhead: Resources{100, gi / 4}}
	armType = InstanceType{Name: "g2", Arch: ARM64, Allocatable: Resources{2000, 8 * gi}, PricePerHour: 0.08, Overhead: Resources{100, gi / 4}}
	both    = []string{"amd64", ARM64}
	amdOnly = []string{"amd64"}
)

func node(name string, t InstanceType) Node {
	return Node{Name: name, Arch: t.Arch, InstanceType: t.Name, Allocatable: t.Allocatable, PricePerHour: t.PricePerHour, Overhead: t.Overhead}
}

func pod(name, nodeName string, cpu int64, arches []string) Pod {
	return Pod{Name: "ns/" + name, Workload: "w-" + name, Node: nodeName, Requests: Resources{cpu, gi / 2}, Arches: arches, Movable: true}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The case BENCH.md recorded: an amd64-only pod keeps its node, and the
// rule "arm64 is cheaper per vCPU" moved the multi-arch pods beside it onto
// new arm64 nodes, leaving that node partly used and the bill higher. The
// plan empties only the node whose pods can all go, and only when it pays.
func TestPlanEmptiesWholeNodesOnly(t *testing.T) {
	c := &Cluster{
		Nodes: []Node{node("amd-1", amdType), node("amd-2", amdType)},
		Types: []InstanceType{amdType, armType},
		Pods: []Pod{
			pod("legacy", "amd-1", 1000, amdOnly), pod("m1", "amd-1", 500, both),
			pod("m2", "amd-2", 1000, both), pod("m3", "amd-2", 500, both),
		},
	}
	p, err := MakePlan(c, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Node != "amd-2" || !slices.Equal(p.Steps[0].Moves, []string{"ns/m2", "ns/m3"}) || p.Steps[0].NewARMNodes != 1 {
		t.Fatalf("steps %+v, want amd-2's two pods onto one new arm64 node", p.Steps)
	}
	if !near(p.Now, 0.20) || !near(p.After, 0.18) || !near(p.Bound, 0.18) || !near(p.Steps[0].Saving, 0.02) {
		t.Fatalf("now %v after %v bound %v saving %v, want 0.20, 0.18, 0.18, 0.02", p.Now, p.After, p.Bound, p.Steps[0].Saving)
	}
	// The per-pod rule's end state: m1 moved too, amd-1 stays for legacy,
	// and 2000m of multi-arch pods need two arm64 nodes: dearer than the
	// start.
	a, err := After(c, []string{"ns/m1", "ns/m2", "ns/m3"})
	if err != nil {
		t.Fatal(err)
	}
	if !near(a.CostPerHour, 0.26) || len(a.Nodes) != 3 {
		t.Fatalf("after moving m1 too: %v on %d nodes, want 0.26 on 3", a.CostPerHour, len(a.Nodes))
	}
	// m1 alone saves nothing: amd-1 stays, and m1 needs a new arm64 node.
	a, err = After(c, []string{"ns/m1"})
	if err != nil {
		t.Fatal(err)
	}
	if !near(a.CostPerHour, 0.28) {
		t.Fatalf("after moving m1 alone: %v, want 0.28 (dearer than 0.20)", a.CostPerHour)
	}
}

// A move that needs more arm64 than the node it empties is not made; one
// that saves less than the margin is not made either.
func TestPlanMovesOnlyWhatPays(t *testing.T) {
	bigOverhead := armType
	bigOverhead.Overhead = Resources{300, gi / 4} // more DaemonSets on arm64: 1700m free
	c := &Cluster{
		Nodes: []Node{node("amd-1", amdType)},
		Types: []InstanceType{amdType, bigOverhead},
		Pods:  []Pod{pod("a", "amd-1", 1200, both), pod("b", "amd-1", 700, both)},
	}
	p, err := MakePlan(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 0 || !near(p.After, 0.10) || !near(p.Bound, 0.10) {
		t.Fatalf("plan %+v: 1900m needs two arm64 nodes (0.16) for one amd64 node (0.10); want no step", p)
	}
	// Within a margin: 0.10 → 0.095 saves 5%, under a 10% margin.
	cheapish := armType
	cheapish.PricePerHour = 0.095
	c = &Cluster{Nodes: []Node{node("amd-1", amdType)}, Types: []InstanceType{amdType, cheapish},
		Pods: []Pod{pod("a", "amd-1", 1000, both)}}
	if p, err = MakePlan(c, 0.1); err != nil || len(p.Steps) != 0 {
		t.Fatalf("plan %+v, %v: a 5%% saving under a 10%% margin is not worth a move", p, err)
	}
	if p, err = MakePlan(c, 0.01); err != nil || len(p.Steps) != 1 || !near(p.After, 0.095) {
		t.Fatalf("plan %+v, %v: at a 1%% margin it is", p, err)
	}
}

// Room on an existing arm64 node saves the whole amd64 node.
func TestPlanUsesExistingARMRoom(t *testing.T) {
	c := &Cluster{
		Nodes: []Node{node("amd-1", amdType), node("arm-1", armType)},
		Types: []InstanceType{amdType, armType},
		Pods:  []Pod{pod("on-arm", "arm-1", 800, both), pod("a", "amd-1", 500, both), pod("b", "amd-1", 400, both)},
	}
	p, err := MakePlan(c, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].NewARMNodes != 0 || !near(p.Steps[0].Saving, 0.10) || !near(p.After, 0.08) {
		t.Fatalf("plan %+v, want amd-1 emptied onto arm-1's room, saving 0.10", p)
	}
}

// Fixed nodes and nodes with a pod that may not move stay; a pod that does
// not run on arm64, or whose workload is at its arm64 cap, goes to another
// node's room, as the autoscaler's scale-down moves a drained node's pods.
func TestPlanKeepsWhatMayNotMove(t *testing.T) {
	fixed := node("amd-fixed", amdType)
	fixed.Fixed = true
	stuck := pod("stuck", "amd-2", 200, both)
	stuck.Movable = false
	capped1, capped2 := pod("c1", "amd-3", 300, both), pod("c2", "amd-3", 300, both)
	capped1.Workload, capped2.Workload = "capped", "capped"
	c := &Cluster{
		Nodes: []Node{fixed, node("amd-2", amdType), node("amd-3", amdType), node("amd-4", amdType)},
		Types: []InstanceType{amdType, armType},
		Pods: []Pod{pod("f", "amd-fixed", 300, both), stuck, pod("s2", "amd-2", 300, both), capped1, capped2,
			pod("legacy", "amd-4", 300, amdOnly)},
		ARMCap: map[string]int{"capped": 1},
	}
	p, err := MakePlan(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]Step{}
	for _, s := range p.Steps {
		steps[s.Node] = s
	}
	if _, ok := steps["amd-fixed"]; ok {
		t.Errorf("steps %+v: a Fixed node is emptied", p.Steps)
	}
	if _, ok := steps["amd-2"]; ok {
		t.Errorf("steps %+v: a node with a pod that may not move is emptied", p.Steps)
	}
	if s, ok := steps["amd-4"]; !ok || len(s.Moves) != 0 || !slices.Equal(s.Elsewhere, []string{"ns/legacy"}) || !near(s.Saving, 0.10) {
		t.Errorf("amd-4: %+v, want legacy (amd64-only) onto another node's room, saving the whole node", s)
	}
	s3, ok := steps["amd-3"]
	if !ok || len(s3.Moves) != 1 || !slices.ContainsFunc(s3.Elsewhere, func(n string) bool { return n == "ns/c1" || n == "ns/c2" }) {
		t.Errorf("amd-3: %+v, want one capped pod to arm64 (the cap is 1) and the other to another node's room", s3)
	}
	// Without room elsewhere, the amd64-only pod keeps its node.
	c.Nodes, c.Pods = []Node{node("amd-4", amdType)}, []Pod{pod("legacy", "amd-4", 300, amdOnly)}
	if p, err = MakePlan(c, 0); err != nil || len(p.Steps) != 0 {
		t.Fatalf("plan %+v, %v: an amd64-only pod with nowhere else to go keeps its node", p, err)
	}
}

// The bound packs every movable pod afresh: the dearer start is beaten by
// consolidating onto arm64.
func TestBound(t *testing.T) {
	c := &Cluster{
		Nodes: []Node{node("amd-1", amdType), node("amd-2", amdType), node("amd-3", amdType)},
		Types: []InstanceType{amdType, armType},
		Pods: []Pod{pod("legacy", "amd-1", 600, amdOnly), pod("x", "amd-2", 900, both), pod("y", "amd-3", 900, both),
			pod("z", "amd-1", 600, both)},
	}
	b, err := Bound(c)
	if err != nil {
		t.Fatal(err)
	}
	// legacy (600) keeps one amd64 node and x (900) joins it; y and z
	// (1500) share one new arm64 node.
	if !near(b.CostPerHour, 0.18) || len(b.Nodes) != 2 {
		t.Fatalf("bound %+v, want 0.18 on two nodes", b)
	}
	for _, n := range b.Nodes {
		if n.Used.CPU > n.Allocatable.CPU {
			t.Fatalf("node %s over its allocatable: %+v", n.Name, n)
		}
	}
}

func TestBadInput(t *testing.T) {
	c := &Cluster{Nodes: []Node{node("n", amdType), node("n", amdType)}}
	if _, err := MakePlan(c, 0); err == nil {
		t.Error("no error for a node listed twice")
	}
	c = &Cluster{Nodes: []Node{node("n", amdType)}, Types: []InstanceType{{Name: "free", Arch: ARM64, PricePerHour: 0}}}
	if _, err := MakePlan(c, 0); err == nil {
		t.Error("no error for an instance type without a price")
	}
	if _, err := MakePlan(&Cluster{}, -1); err == nil {
		t.Error("no error for a negative margin")
	}
	c = &Cluster{Nodes: []Node{node("n", amdType)}, Types: []InstanceType{amdType, armType}, Pods: []Pod{pod("a", "n", 100, amdOnly)}}
	if _, err := After(c, []string{"ns/a"}); err == nil {
		t.Error("no error for moving an amd64-only pod to arm64")
	}
	if _, err := After(c, []string{"ns/gone"}); err == nil {
		t.Error("no error for moving a pod that does not exist")
	}
	stuck := pod("stuck", "n", 100, both)
	stuck.Movable = false
	c.Pods = append(c.Pods, stuck)
	if _, err := After(c, []string{"ns/stuck"}); err == nil {
		t.Error("no error for moving a pod that may not move")
	}
	huge := pod("huge", "", 9000, both)
	huge.Node = "n"
	c.Pods = []Pod{huge}
	var u *ErrUnplaceable
	if _, err := After(c, []string{"ns/huge"}); !errors.As(err, &u) {
		t.Errorf("After of a pod no arm64 type can hold: %v, want ErrUnplaceable", err)
	}
}

// The same input gives the same plan, whatever the order it came in.
func TestDeterministic(t *testing.T) {
	c := synthetic(40, 400, 7)
	p1, err := MakePlan(c, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(c.Nodes)
	slices.Reverse(c.Pods)
	p2, err := MakePlan(c, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p1) != fmt.Sprint(p2) {
		t.Fatalf("plans differ with the input's order:\n%v\n%v", p1, p2)
	}
}

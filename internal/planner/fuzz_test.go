package planner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthetic is a cluster of the shape migration meets: amd64 nodes of
// two sizes, a few arm64 nodes, pods of many workloads, one in eight
// amd64-only, one in ten not movable. seed makes it reproducible.
func synthetic(nodes, pods int, seed uint64) *Cluster {
	r := rand.New(rand.NewPCG(seed, 1))
	a4 := InstanceType{Name: "a4", Arch: "amd64", Allocatable: Resources{4000, 16 * gi}, PricePerHour: 0.192, Overhead: Resources{200, gi / 2}}
	g4 := InstanceType{Name: "g4", Arch: ARM64, Allocatable: Resources{4000, 16 * gi}, PricePerHour: 0.1632, Overhead: Resources{200, gi / 2}}
	c := &Cluster{Types: []InstanceType{amdType, a4, armType, g4}, ARMCap: map[string]int{}}
	for i := 0; i < nodes; i++ {
		t := []InstanceType{amdType, a4, a4, armType}[r.IntN(4)]
		c.Nodes = append(c.Nodes, node(fmt.Sprintf("node-%04d", i), t))
	}
	free := make([]Resources, nodes)
	for i, n := range c.Nodes {
		free[i] = n.Allocatable.sub(n.Overhead)
	}
	for i := 0; i < pods; i++ {
		p := Pod{Name: fmt.Sprintf("ns/pod-%05d", i), Workload: fmt.Sprintf("w%03d", r.IntN(pods/10+1)),
			Requests: Resources{int64(50 + r.IntN(12)*50), int64(r.IntN(8)+1) * gi / 8}, Arches: both, Movable: r.IntN(10) != 0}
		if r.IntN(8) == 0 {
			p.Arches = amdOnly
		}
		for try := 0; try < 8; try++ {
			j := r.IntN(nodes)
			if runsOn(&p, c.Nodes[j].Arch) && free[j].fits(p.Requests) {
				p.Node, free[j] = c.Nodes[j].Name, free[j].sub(p.Requests)
				break
			}
		}
		c.Pods = append(c.Pods, p)
	}
	return c
}

// fuzzCluster builds a small cluster from fuzz bytes: up to 4 nodes, 6
// pods, the two types.
func fuzzCluster(data []byte) *Cluster {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	types := []InstanceType{amdType, armType}
	if next()%2 == 0 {
		t := armType
		t.Overhead.CPU = 300 + int64(next()%5)*100
		t.PricePerHour = 0.05 + float64(next()%8)*0.01
		types[1] = t
	}
	c := &Cluster{Types: types, ARMCap: map[string]int{}}
	nn := 1 + next()%4
	for i := 0; i < nn; i++ {
		n := node(fmt.Sprintf("n%d", i), types[next()%2])
		n.Fixed = next()%7 == 0
		n.Unschedulable = next()%9 == 0
		c.Nodes = append(c.Nodes, n)
	}
	used := make([]int64, nn)
	np := next() % 7
	for i := 0; i < np; i++ {
		p := Pod{Name: fmt.Sprintf("ns/p%d", i), Workload: fmt.Sprintf("w%d", next()%3), Requests: Resources{int64(100 + (next()%18)*100), gi / 4},
			Arches: [][]string{both, both, amdOnly, {ARM64}}[next()%4], Movable: next()%5 != 0}
		if j := next() % (nn + 1); j < nn {
			n := c.Nodes[j]
			if runsOn(&p, n.Arch) && used[j]+p.Requests.CPU <= n.Allocatable.CPU-n.Overhead.CPU {
				p.Node, used[j] = n.Name, used[j]+p.Requests.CPU
			}
		}
		// A selector that admits some existing nodes (its own among them).
		if mask := next(); mask%3 == 0 {
			p.Nodes = []string{}
			for k, n := range c.Nodes {
				if mask>>(k+2)&1 == 1 || n.Name == p.Node {
					p.Nodes = append(p.Nodes, n.Name)
				}
			}
		}
		c.Pods = append(c.Pods, p)
	}
	if next()%3 == 0 {
		c.ARMCap["w0"] = next() % 3
	}
	return c
}

// valid checks a placement: every pod bound today (less those moved) on
// one node, of an arch it runs on; pods that may not move where they
// were; no node over its allocatable; arm64 caps kept (where today's
// placement kept them); the cost the nodes' prices.
func valid(t *testing.T, c *Cluster, pl Placement, what string) {
	t.Helper()
	pods := map[string]*Pod{}
	nodes := map[string]*Node{}
	for i := range c.Pods {
		pods[c.Pods[i].Name] = &c.Pods[i]
	}
	for i := range c.Nodes {
		nodes[c.Nodes[i].Name] = &c.Nodes[i]
	}
	seen := map[string]bool{}
	arm := map[string]int{}
	cost := 0.0
	for _, n := range pl.Nodes {
		cost += n.PricePerHour
		var used Resources
		if e := nodes[n.Name]; e != nil && !n.New {
			used = e.Overhead
		} else {
			for _, ty := range c.Types {
				if ty.Name == n.InstanceType {
					used = ty.Overhead
				}
			}
		}
		for _, name := range n.Pods {
			p := pods[name]
			if p == nil || seen[name] {
				t.Fatalf("%s: pod %s unknown or placed twice", what, name)
			}
			seen[name] = true
			if !runsOn(p, n.Arch) {
				t.Fatalf("%s: pod %s (%v) on %s node %s", what, name, p.Arches, n.Arch, n.Name)
			}
			if !p.Movable && p.Node != "" && p.Node != n.Name {
				t.Fatalf("%s: unmovable pod %s moved from %s to %s", what, name, p.Node, n.Name)
			}
			if e := nodes[n.Name]; e != nil && e.Unschedulable && p.Node != n.Name {
				t.Fatalf("%s: pod %s placed on cordoned node %s", what, name, n.Name)
			}
			if !n.New && p.Nodes != nil && !slices.Contains(p.Nodes, n.Name) {
				t.Fatalf("%s: pod %s placed on node %s, which its selector does not admit (%v)", what, name, n.Name, p.Nodes)
			}
			used = used.add(p.Requests)
			if n.Arch == ARM64 {
				arm[p.Workload]++
			}
		}
		if !n.Allocatable.fits(used) {
			t.Fatalf("%s: node %s holds %+v of %+v", what, n.Name, used, n.Allocatable)
		}
	}
	for _, p := range c.Pods {
		if p.Node != "" && !seen[p.Name] {
			t.Fatalf("%s: bound pod %s placed nowhere", what, p.Name)
		}
	}
	if math.Abs(cost-pl.CostPerHour) > 1e-9 {
		t.Fatalf("%s: cost %v, nodes' prices sum to %v", what, pl.CostPerHour, cost)
	}
}

// optimum is the cheapest placement of the pods bound today, by exhaustive
// search: each movable pod on an existing node or a new node of a type,
// new nodes of a type taken in order so that the search does not repeat
// itself. Only for the fuzzer's small clusters.
func optimum(c *Cluster) float64 {
	var movable []*Pod
	free := map[string]Resources{}
	keep := map[string]bool{}
	arch := map[string]string{}
	price := map[string]float64{}
	arm := map[string]int{}
	for _, n := range c.Nodes {
		free[n.Name], arch[n.Name], price[n.Name] = n.Allocatable.sub(n.Overhead), n.Arch, n.PricePerHour
		keep[n.Name] = n.Fixed
	}
	for i := range c.Pods {
		p := &c.Pods[i]
		if p.Node == "" {
			continue
		}
		if arch[p.Node] == ARM64 {
			arm[p.Workload]++ // the cap counts every pod on arm64 now
		}
		if !p.Movable {
			free[p.Node] = free[p.Node].sub(p.Requests)
			keep[p.Node] = true
			continue
		}
		movable = append(movable, p)
	}
	type newNode struct {
		t    InstanceType
		free Resources
	}
	var added []*newNode
	used := map[string]int{}
	best := math.Inf(1)
	var rec func(i int)
	rec = func(i int) {
		if i == len(movable) {
			cost := 0.0
			for n, k := range keep {
				if k || used[n] > 0 {
					cost += price[n]
				}
			}
			for _, a := range added {
				cost += a.t.PricePerHour
			}
			best = min(best, cost)
			return
		}
		p := movable[i]
		// A cap limits moves to arm64; a pod on arm64 already may stay.
		capOK := func(a string) bool {
			c, ok := c.ARMCap[p.Workload]
			return a != ARM64 || !ok || arm[p.Workload] < c || arch[p.Node] == ARM64
		}
		try := func(a string, place, undo func()) {
			if !runsOn(p, a) || !capOK(a) {
				return
			}
			moved := a == ARM64 && arch[p.Node] != ARM64
			if moved {
				arm[p.Workload]++
			}
			place()
			rec(i + 1)
			undo()
			if moved {
				arm[p.Workload]--
			}
		}
		for _, n := range c.Nodes {
			if !free[n.Name].fits(p.Requests) || (n.Unschedulable && p.Node != n.Name) || (p.Nodes != nil && !slices.Contains(p.Nodes, n.Name)) {
				continue
			}
			name := n.Name
			try(n.Arch, func() { free[name] = free[name].sub(p.Requests); used[name]++ }, func() { free[name] = free[name].add(p.Requests); used[name]-- })
		}
		for _, a := range added {
			if a.free.fits(p.Requests) {
				a := a
				try(a.t.Arch, func() { a.free = a.free.sub(p.Requests) }, func() { a.free = a.free.add(p.Requests) })
			}
		}
		for _, ty := range c.Types {
			if !ty.Allocatable.sub(ty.Overhead).fits(p.Requests) {
				continue
			}
			ty := ty
			try(ty.Arch, func() { added = append(added, &newNode{t: ty, free: ty.Allocatable.sub(ty.Overhead).sub(p.Requests)}) },
				func() { added = added[:len(added)-1] })
		}
	}
	rec(0)
	return best
}

// FuzzPlan checks the planner's invariants on small clusters: each
// placement it reports is real (every pod on an arch it runs on, no node
// over its allocatable, unmovable pods where they were), no plan raises
// the bill, the bound is no dearer than the plan's end, and nothing the
// planner reports is cheaper than the exhaustive optimum, which would
// mean it counted a placement that cannot exist.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{1, 2, 0, 1, 0, 4, 0, 10, 0, 1, 0, 1, 5, 1, 1, 1, 2, 1, 2})
	f.Add([]byte{0, 3, 2, 3, 0, 1, 0, 0, 6, 1, 4, 2, 3, 1, 0, 9, 2, 1, 0, 1, 17, 3, 1, 4})
	f.Add([]byte{1, 1, 0, 0, 3, 0, 12, 1, 1, 0, 0, 12, 1, 1, 0, 0, 5, 0, 1, 2, 0, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzCluster(data)
		for _, margin := range []float64{0, 0.1} {
			p, bound, err := plan(c, margin)
			if err != nil {
				t.Fatal(err)
			}
			valid(t, c, bound, "bound")
			now, err := Now(c)
			if err != nil {
				t.Fatal(err)
			}
			if !(p.Bound <= p.After+1e-9 && p.After <= p.Now+1e-9) || math.Abs(now.CostPerHour-p.Now) > 1e-9 {
				t.Fatalf("bound %v, after %v, now %v (Now %v): want bound ≤ after ≤ now", p.Bound, p.After, p.Now, now.CostPerHour)
			}
			for _, s := range p.Steps {
				for _, n := range c.Nodes {
					if n.Name == s.Node && (s.Saving <= 0 || s.Saving < margin*n.PricePerHour) {
						t.Fatalf("step %+v saves less than %v of %v", s, margin, n.PricePerHour)
					}
				}
			}
			after, err := After(c, p.Moves())
			if err != nil {
				t.Fatalf("After(the plan's moves): %v", err)
			}
			valid(t, c, after, "after the plan's moves")
			if opt := optimum(c); p.Bound < opt-1e-9 || after.CostPerHour < opt-1e-9 {
				t.Fatalf("bound %v, after %v: below the exhaustive optimum %v", p.Bound, after.CostPerHour, opt)
			}
		}
		// Any set of moves of pods that run on arm64: a real placement, no
		// cheaper than the optimum.
		var moves []string
		for i, p := range c.Pods {
			if p.Node != "" && p.Movable && runsOn(&c.Pods[i], ARM64) && len(data) > i && data[len(data)-1-i]%2 == 0 {
				moves = append(moves, p.Name)
			}
		}
		if after, err := After(c, moves); err == nil {
			valid(t, c, after, "after random moves")
			if opt := optimum(c); after.CostPerHour < opt-1e-9 {
				t.Fatalf("after %v below the optimum %v", after.CostPerHour, opt)
			}
		}
	})
}

// The bench's cluster, checked once: the plan is real and pays.
func TestSyntheticPlan(t *testing.T) {
	c := synthetic(200, 2000, 3)
	p, bound, err := plan(c, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	valid(t, c, bound, "bound")
	after, err := After(c, p.Moves())
	if err != nil {
		t.Fatal(err)
	}
	valid(t, c, after, "after")
	if len(p.Steps) == 0 || !(p.Bound <= p.After && p.After < p.Now) {
		t.Fatalf("plan: %d steps, now %v after %v bound %v", len(p.Steps), p.Now, p.After, p.Bound)
	}
	var moved []string
	for _, s := range p.Steps {
		moved = append(moved, s.Moves...)
	}
	if !slices.Equal(moved, p.Moves()) {
		t.Fatalf("Moves() %v is not the steps' moves", p.Moves())
	}
}

// BenchmarkPlan is a pass over 10,000 pods and 1,000 nodes: the plan, the
// bound and today's cost, as migration's controller computes them.
func BenchmarkPlan(b *testing.B) {
	c := synthetic(1000, 10000, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MakePlan(c, 0.05); err != nil {
			b.Fatal(err)
		}
	}
}

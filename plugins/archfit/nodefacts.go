package archfit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

// nodeFacts is what ArchFit needs from a node, computed once per Node
// object. The scheduler's snapshot holds immutable Node objects (an update
// brings a new one), so the object's address is a safe key.
type nodeFacts struct {
	os, arch string
	known    bool
	// microPerVCPU is the price per allocatable vCPU-hour in millionths.
	microPerVCPU int64
}

// factsCache memoises nodeFacts. Filter and Score run on up to 16
// goroutines, so reads take no lock: they look in an immutable map of the
// cluster's current Node objects, published by PreFilter on the serial
// cycle, and fall back to a sync.Map for a Node object published since. A
// plain map lookup is several times cheaper than sync.Map's trie, which
// showed in profiles at thousands of nodes.
type factsCache struct {
	fast   atomic.Pointer[publishedFacts]
	missed atomic.Bool
	last   time.Time // of the last publish; only PreFilter touches it

	m      sync.Map // *corev1.Node → nodeFacts, for misses
	n      atomic.Int64
	max    int64
	prices *cost.Model
}

// publishedFacts is one immutable publication: the facts of the cycle's
// Node objects, and per platform what its nodes cost per vCPU. It is the
// one view of node prices that Filter, Score, PreScore's skip and
// PostBind's saving estimate all read.
//
// A cluster has a handful of distinct facts (platform × instance type), so
// the map points at one shared copy of each: pointer-sized values keep the
// map small enough to stay in CPU cache under lookups from 16 goroutines.
type publishedFacts struct {
	facts     map[*corev1.Node]*nodeFacts
	platforms map[imageplatform.OSArch]platformPrice
}

// platformPrice summarises one platform's nodes.
type platformPrice struct {
	// cheapest is the lowest price per allocatable vCPU-hour, in millionths.
	cheapest int64
	// uniform: every node of the platform costs cheapest.
	uniform bool
}

func newFactsCache(prices *cost.Model, max int64) *factsCache {
	return &factsCache{prices: prices, max: max}
}

// get returns the node's facts.
func (c *factsCache) get(node *corev1.Node) nodeFacts {
	if p := c.fast.Load(); p != nil {
		if f, ok := p.facts[node]; ok {
			return *f
		}
	}
	if !c.missed.Load() {
		c.missed.Store(true)
	}
	return c.slow(node)
}

// slow reads everything, allocatable CPU included, from the Node only on a
// miss of the sync.Map too.
func (c *factsCache) slow(node *corev1.Node) nodeFacts {
	if v, ok := c.m.Load(node); ok {
		return v.(nodeFacts)
	}
	f := nodeFacts{}
	f.os, f.arch, f.known = imageplatform.NodePlatform(node)
	f.microPerVCPU = int64(c.prices.NodePrice(node, f.arch, node.Status.Allocatable.Cpu().MilliValue()).PerVCPU * 1e6)
	if c.n.Add(1) > c.max {
		c.m.Clear()
		c.n.Store(0)
	}
	c.m.Store(node, f)
	return f
}

// publish rebuilds the fast map from the cycle's nodes when a lookup has
// missed it, or the cycle has a different number of nodes (one left), at
// most once a second: a Node object is replaced when its status is
// reported (every few minutes with node leases) or it is relabelled, and a
// miss only costs the slower path meanwhile. Only the serial scheduling
// cycle calls it.
func (c *factsCache) publish(nodes []fwk.NodeInfo, now time.Time) {
	if len(nodes) == 0 || now.Sub(c.last) < time.Second {
		return
	}
	if p := c.fast.Load(); p != nil && !c.missed.Load() && len(p.facts) == len(nodes) {
		return
	}
	c.missed.Store(false)
	c.last = now
	p := &publishedFacts{facts: make(map[*corev1.Node]*nodeFacts, len(nodes)), platforms: map[imageplatform.OSArch]platformPrice{}}
	shared := map[nodeFacts]*nodeFacts{}
	for _, ni := range nodes {
		n := ni.Node()
		if n == nil {
			continue
		}
		f := c.slow(n)
		if shared[f] == nil {
			shared[f] = &f
		}
		p.facts[n] = shared[f]
		if !f.known {
			continue
		}
		k := imageplatform.OSArch{OS: f.os, Arch: f.arch}
		pp, seen := p.platforms[k]
		switch {
		case !seen:
			pp = platformPrice{cheapest: f.microPerVCPU, uniform: true}
		case f.microPerVCPU != pp.cheapest:
			pp.uniform = false
			pp.cheapest = min(pp.cheapest, f.microPerVCPU)
		}
		p.platforms[k] = pp
	}
	c.fast.Store(p)
}

// uniformPrice reports whether, at the last publication, every node of the
// platform cost the same per vCPU. It can lag a node joining by up to the
// publication interval; it only ever decides whether to score.
func (c *factsCache) uniformPrice(k imageplatform.OSArch) bool {
	p := c.fast.Load()
	return p != nil && p.platforms[k].uniform
}

// cheapestOther returns, for PostBind's saving estimate, the cheapest
// per-vCPU price among the other platforms of the same OS the pod could
// have used, at the last publication; "" when there is none.
func (c *factsCache) cheapestOther(os, arch string, pp *imageplatform.PodPlatforms) (string, float64) {
	p := c.fast.Load()
	if p == nil {
		return "", 0
	}
	bestArch, best := "", int64(math.MaxInt64)
	for k, price := range p.platforms {
		if k.OS != os || k.Arch == arch || !pp.Allows(k.OS, k.Arch) {
			continue
		}
		if price.cheapest < best || (price.cheapest == best && k.Arch < bestArch) {
			bestArch, best = k.Arch, price.cheapest
		}
	}
	return bestArch, float64(best) / 1e6
}

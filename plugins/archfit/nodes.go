package archfit

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

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

// factsCache memoises nodeFacts. Reads are lock-free (sync.Map), because
// Filter and Score run on up to 16 goroutines. It is emptied when it grows
// past a bound, since replaced Node objects are never looked up again.
type factsCache struct {
	m      sync.Map // *corev1.Node → nodeFacts
	n      atomic.Int64
	max    int64
	prices *cost.Model
}

func newFactsCache(prices *cost.Model, max int64) *factsCache {
	return &factsCache{prices: prices, max: max}
}

// get returns the node's facts. Everything, allocatable CPU included, is
// read from the Node only on a miss, so a hit is one lock-free lookup.
func (c *factsCache) get(node *corev1.Node) nodeFacts {
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

// platformIndex counts the cluster's nodes per platform, from the node
// informer, so PreFilter can tell in O(platforms) that a pod fits every
// node. It may lag the scheduler's snapshot by an event; Reserve re-checks
// the chosen node, so a lag can delay a pod but never misplace it.
type platformIndex struct {
	mu      sync.Mutex
	counts  map[imageplatform.OSArch]int
	unknown int // nodes reporting no architecture
	snap    atomic.Pointer[indexSnapshot]
}

type indexSnapshot struct {
	platforms []imageplatform.OSArch
	unknown   bool
}

func newPlatformIndex() *platformIndex {
	ix := &platformIndex{counts: map[imageplatform.OSArch]int{}}
	ix.publish()
	return ix
}

func (ix *platformIndex) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { ix.update(nil, obj) },
		UpdateFunc: func(old, obj any) {
			o, okOld := old.(*corev1.Node)
			n, okNew := obj.(*corev1.Node)
			if okOld && okNew && o.Labels[imageplatform.LabelArch] == n.Labels[imageplatform.LabelArch] &&
				o.Labels[imageplatform.LabelOS] == n.Labels[imageplatform.LabelOS] &&
				o.Status.NodeInfo.Architecture == n.Status.NodeInfo.Architecture {
				return // heartbeats and the like: nothing the index keeps
			}
			ix.update(old, obj)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			ix.update(obj, nil)
		},
	}
}

func (ix *platformIndex) update(old, obj any) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if n, ok := old.(*corev1.Node); ok {
		ix.add(n, -1)
	}
	if n, ok := obj.(*corev1.Node); ok {
		ix.add(n, +1)
	}
	ix.publish()
}

func (ix *platformIndex) add(n *corev1.Node, d int) {
	os, arch, ok := imageplatform.NodePlatform(n)
	if !ok {
		ix.unknown += d
		return
	}
	k := imageplatform.OSArch{OS: os, Arch: arch}
	ix.counts[k] += d
	if ix.counts[k] <= 0 {
		delete(ix.counts, k)
	}
}

func (ix *platformIndex) publish() {
	s := &indexSnapshot{unknown: ix.unknown > 0}
	for k := range ix.counts {
		s.platforms = append(s.platforms, k)
	}
	ix.snap.Store(s)
}

// hasArch reports whether any node of this OS and arch exists.
func (ix *platformIndex) hasArch(os, arch string) bool {
	for _, p := range ix.snap.Load().platforms {
		if p.OS == os && p.Arch == arch {
			return true
		}
	}
	return false
}

// coveredBy reports whether every node in the cluster has a platform the
// pod allows.
func (ix *platformIndex) coveredBy(pp *imageplatform.PodPlatforms) bool {
	s := ix.snap.Load()
	if s.unknown {
		return false
	}
	for _, p := range s.platforms {
		if !pp.Allows(p.OS, p.Arch) {
			return false
		}
	}
	return true
}

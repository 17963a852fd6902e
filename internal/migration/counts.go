package migration

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Counter counts each workload's bound replicas per arch from a pod
// informer, so that a reader on the scheduling cycle gets them with two
// atomic loads: no API call, no lock. Only the informer writes, one event
// at a time.
type Counter struct {
	// ArchOf is the arch of a node by name ("" when unknown).
	ArchOf func(node string) string
	pods   sync.Map // pod UID → counted
	owners sync.Map // Owner(pod) → *archCount
}

type counted struct {
	owner string
	arm64 bool
}

type archCount struct{ arm64, total atomic.Int64 }

// Counts returns how many of owner's bound replicas run on arm64, and in
// all.
func (c *Counter) Counts(owner string) (arm64, total int) {
	v, ok := c.owners.Load(owner)
	if !ok {
		return 0, 0
	}
	n := v.(*archCount)
	return int(n.arm64.Load()), int(n.total.Load())
}

// Handler is the informer event handler that keeps the counts.
func (c *Counter) Handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.set(obj) },
		UpdateFunc: func(_, obj any) { c.set(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				c.move(p, counted{}, false)
			}
		},
	}
}

func (c *Counter) set(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	owner := Owner(p)
	live := owner != "" && p.Spec.NodeName != "" && Live(p)
	arch := ""
	if live {
		arch = c.ArchOf(p.Spec.NodeName)
		live = arch != ""
	}
	c.move(p, counted{owner: owner, arm64: arch == ARM64}, live)
}

// Live is a replica that counts toward its workload's share: neither
// terminating nor finished. The scheduler, the controller and the report
// count by it alike.
func Live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// move replaces a pod's contribution with now (none when !live).
func (c *Counter) move(p *corev1.Pod, now counted, live bool) {
	if old, ok := c.pods.Load(p.UID); ok {
		o := old.(counted)
		if live && o == now {
			return
		}
		c.add(o, -1)
		c.pods.Delete(p.UID)
	}
	if live {
		c.pods.Store(p.UID, now)
		c.add(now, 1)
	}
}

func (c *Counter) add(k counted, d int64) {
	v, _ := c.owners.LoadOrStore(k.owner, &archCount{})
	n := v.(*archCount)
	n.total.Add(d)
	if k.arm64 {
		n.arm64.Add(d)
	}
	if n.total.Load() == 0 {
		c.owners.Delete(k.owner)
	}
}

package archfit

import (
	"slices"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	"github.com/archfit/archfit/internal/imageplatform"
)

// platformIndex keeps the cluster's node names per platform, from the node
// informer, so PreFilter can answer in O(platforms) whether a pod fits every
// node (Skip Filter) or exactly one platform (a PreFilterResult naming its
// nodes, so the framework never visits the others). It may lag the
// scheduler's snapshot by an event: Reserve re-checks the chosen node when
// Filter was skipped, Filter still runs on the named nodes, and PostFilter
// re-activates a pod that a lagging set may have failed.
type platformIndex struct {
	mu      sync.Mutex
	names   map[imageplatform.OSArch]sets.Set[string] // mutable, under mu
	unknown int                                       // nodes reporting no architecture
	dirty   map[imageplatform.OSArch]bool             // platforms whose published set is stale
	stale   atomic.Bool
	snap    atomic.Pointer[indexSnapshot]
}

// indexSnapshot is immutable once published: its sets are handed to the
// framework in PreFilterResults, so an update builds new ones.
type indexSnapshot struct {
	platforms []imageplatform.OSArch
	names     []sets.Set[string] // parallel to platforms
	unknown   bool
}

func newPlatformIndex() *platformIndex {
	ix := &platformIndex{names: map[imageplatform.OSArch]sets.Set[string]{}, dirty: map[imageplatform.OSArch]bool{}}
	ix.snap.Store(&indexSnapshot{})
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
				o.Status.NodeInfo.Architecture == n.Status.NodeInfo.Architecture &&
				o.Status.NodeInfo.OperatingSystem == n.Status.NodeInfo.OperatingSystem {
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
		ix.add(n, false)
	}
	if n, ok := obj.(*corev1.Node); ok {
		ix.add(n, true)
	}
	ix.stale.Store(true)
}

func (ix *platformIndex) add(n *corev1.Node, in bool) {
	os, arch, ok := imageplatform.NodePlatform(n)
	if !ok {
		if in {
			ix.unknown++
		} else {
			ix.unknown--
		}
		return
	}
	k := imageplatform.OSArch{OS: os, Arch: arch}
	s := ix.names[k]
	if s == nil {
		s = sets.New[string]()
		ix.names[k] = s
	}
	if in {
		s.Insert(n.Name)
	} else {
		s.Delete(n.Name)
	}
	ix.dirty[k] = true
}

// current returns the published snapshot, first rebuilding the sets of the
// platforms that changed since the last call. Rebuilding on read, not on
// every event, keeps a burst of node adds (an informer sync, a scale-up)
// from copying the sets once per node.
func (ix *platformIndex) current() *indexSnapshot {
	if !ix.stale.Load() {
		return ix.snap.Load()
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stale.Load() {
		old := ix.snap.Load()
		s := &indexSnapshot{unknown: ix.unknown > 0}
		for k, names := range ix.names {
			if names.Len() == 0 {
				continue
			}
			var published sets.Set[string]
			if !ix.dirty[k] {
				published = old.set(k)
			}
			if published == nil {
				published = names.Clone()
			}
			s.platforms = append(s.platforms, k)
			s.names = append(s.names, published)
		}
		clear(ix.dirty)
		ix.snap.Store(s)
		ix.stale.Store(false)
	}
	return ix.snap.Load()
}

func (s *indexSnapshot) set(k imageplatform.OSArch) sets.Set[string] {
	for i, p := range s.platforms {
		if p == k {
			return s.names[i]
		}
	}
	return nil
}

// hasArch reports whether any node of this OS and arch exists.
func (s *indexSnapshot) hasArch(os, arch string) bool {
	return s.set(imageplatform.OSArch{OS: os, Arch: arch}) != nil
}

// coveredBy reports whether every node in the cluster has a platform the
// pod allows.
func (s *indexSnapshot) coveredBy(pp *imageplatform.PodPlatforms) bool {
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

// pinnedBy reports whether the pod's own nodeSelector and required node
// affinity keep it off every node whose platform its images lack: pods
// that carry kubernetes.io/arch pins, as a mixed cluster's single-arch pods
// must without ArchFit. NodeAffinity then rejects those nodes, and ArchFit's
// Filter would only repeat the work on every node visited. The pod must be
// pinned to named arches, so nodes without an arch label are excluded too.
func (s *indexSnapshot) pinnedBy(pod *corev1.Pod, pp *imageplatform.PodPlatforms) bool {
	if admits(pod, imageplatform.LabelArch, "") {
		return false
	}
	for _, p := range s.platforms {
		if !pp.Allows(p.OS, p.Arch) && admits(pod, imageplatform.LabelArch, p.Arch) && admits(pod, imageplatform.LabelOS, p.OS) {
			return false
		}
	}
	return true
}

// admits reports whether the pod's required node selection can admit a
// node whose label key has value v ("" for a node without the label). It
// judges only the requirements on key that also need the label present
// (nodeSelector equality and In): ArchFit may take a node's platform from
// its status when the label is missing, and NotIn or DoesNotExist admit
// such a node whatever it runs. Anything else counts as admitting. It is
// not imageplatform's podPlatformSelector, which narrows the pod's
// platforms assuming every node carries the labels: a Skip here must also
// hold for the nodes that do not.
func admits(pod *corev1.Pod, key, v string) bool {
	if want, ok := pod.Spec.NodeSelector[key]; ok && (v == "" || want != v) {
		return false
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// Terms are ORed (an empty list admits nothing); a term's expressions
	// are ANDed.
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termAdmits(t, key, v) {
			return true
		}
	}
	return false
}

func termAdmits(t corev1.NodeSelectorTerm, key, v string) bool {
	for _, e := range t.MatchExpressions {
		if e.Key == key && e.Operator == corev1.NodeSelectorOpIn && (v == "" || !slices.Contains(e.Values, v)) {
			return false
		}
	}
	return true
}

// allowed returns how many of the cluster's platforms the pod allows and,
// when that is exactly one, that platform and the names of its nodes.
func (s *indexSnapshot) allowed(pp *imageplatform.PodPlatforms) (int, imageplatform.OSArch, sets.Set[string]) {
	n, one, names := 0, imageplatform.OSArch{}, sets.Set[string](nil)
	for i, p := range s.platforms {
		if pp.Allows(p.OS, p.Arch) {
			n, one, names = n+1, p, s.names[i]
		}
	}
	if n != 1 {
		return n, imageplatform.OSArch{}, nil
	}
	return n, one, names
}

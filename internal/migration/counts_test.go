package migration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// replica is a pod of the ReplicaSet with UID owner, bound to node ("" for
// a pending one).
func replica(uid, owner, node string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: uid, UID: types.UID(uid)}}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: types.UID(owner), Controller: ptr.To(true)}}
	}
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	return p
}

func TestOwner(t *testing.T) {
	rs := replica("a", "rs-uid", "")
	ss := replica("b", "ss-uid", "")
	ss.OwnerReferences[0].Kind = "StatefulSet"
	ds := replica("c", "ds-uid", "")
	ds.OwnerReferences[0].Kind = "DaemonSet"
	notController := replica("d", "rs-uid", "")
	notController.OwnerReferences[0].Controller = nil
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{rs, "rs-uid"}, {ss, "ss-uid"}, {ds, ""}, {notController, ""}, {replica("e", "", ""), ""},
	} {
		if got := Owner(tc.pod); got != tc.want {
			t.Errorf("Owner(%s) = %q, want %q", tc.pod.Name, got, tc.want)
		}
	}
}

func TestCounter(t *testing.T) {
	c := &Counter{ArchOf: func(node string) string {
		return map[string]string{"arm-1": "arm64", "arm-2": "arm64", "amd-1": "amd64"}[node]
	}}
	h := c.Handler()
	const web, api = "web-rs", "api-rs"
	check := func(step, owner string, arm, total int) {
		t.Helper()
		if a, n := c.Counts(owner); a != arm || n != total {
			t.Fatalf("%s: Counts(%s) = %d/%d, want %d/%d", step, owner, a, n, arm, total)
		}
	}

	check("nothing seen", web, 0, 0)
	h.OnAdd(replica("w1", web, "arm-1"), false)
	h.OnAdd(replica("w2", web, "amd-1"), false)
	h.OnAdd(replica("a1", api, "arm-2"), false)
	check("added", web, 1, 2)
	check("added", api, 1, 1)

	// The same pod again, as a resync or a status update brings it.
	h.OnUpdate(replica("w1", web, "arm-1"), replica("w1", web, "arm-1"))
	h.OnAdd(replica("w1", web, "arm-1"), false)
	check("seen twice", web, 1, 2)

	pending := replica("w3", web, "")
	h.OnAdd(pending, false)
	check("pending pod", web, 1, 2)
	h.OnUpdate(pending, replica("w3", web, "arm-2"))
	check("bound", web, 2, 3)

	// A pod moving from one node's arch to another's (the informer only
	// shows it as an update) moves its count.
	h.OnUpdate(replica("w3", web, "arm-2"), replica("w3", web, "amd-1"))
	check("rebound to amd64", web, 1, 3)
	h.OnUpdate(replica("w3", web, "amd-1"), replica("w3", web, "arm-1"))
	check("rebound to arm64", web, 2, 3)

	// A terminating pod no longer counts: its replacement is on its way.
	terminating := replica("w3", web, "arm-1")
	terminating.DeletionTimestamp = ptr.To(metav1.Now())
	h.OnUpdate(replica("w3", web, "arm-1"), terminating)
	check("terminating", web, 1, 2)
	h.OnDelete(terminating)
	check("deleted after terminating", web, 1, 2)

	done := replica("w2", web, "amd-1")
	done.Status.Phase = corev1.PodSucceeded
	h.OnUpdate(replica("w2", web, "amd-1"), done)
	check("succeeded", web, 1, 1)

	unknownNode := replica("w4", web, "gone")
	h.OnAdd(unknownNode, false)
	check("node of unknown arch", web, 1, 1)

	h.OnAdd(replica("orphan", "", "arm-1"), false)
	check("no controller", "", 0, 0)

	// A delete the informer missed arrives as a tombstone.
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "shop/w1", Obj: replica("w1", web, "arm-1")})
	check("tombstone", web, 0, 0)
	h.OnDelete(replica("a1", api, "arm-2"))
	check("deleted", api, 0, 0)
	h.OnDelete(replica("never-seen", api, "arm-2"))
	check("deleting a pod never counted", api, 0, 0)

	owners := 0
	c.owners.Range(func(_, _ any) bool { owners++; return true })
	if owners != 0 {
		t.Errorf("%d owners left with no replicas; want their entries dropped", owners)
	}
}

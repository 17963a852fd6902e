//go:build k8s1.35 || k8s1.36

// kube-scheduler 1.35 and 1.36 keep their node snapshot to themselves: the
// scheduling-cycle test updates the one every profile's handle lists from.

package archfit_test

import (
	"k8s.io/kubernetes/pkg/scheduler"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
)

func snapshotOptions(*schedcache.Snapshot) []scheduler.Option { return nil }

func schedulersSnapshot(sched *scheduler.Scheduler, _ *schedcache.Snapshot) *schedcache.Snapshot {
	for _, fw := range sched.Profiles {
		return fw.SnapshotSharedLister().(*schedcache.Snapshot)
	}
	return nil
}

//go:build k8s1.36

// The scheduling-cycle test's calls into kube-scheduler 1.36, which keeps
// its node snapshot to itself: the test updates the one every profile's
// handle lists from.

package archfit_test

import (
	"context"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func snapshotOptions(*schedcache.Snapshot) []scheduler.Option { return nil }

func schedulersSnapshot(sched *scheduler.Scheduler, _ *schedcache.Snapshot) *schedcache.Snapshot {
	for _, fw := range sched.Profiles {
		return fw.SnapshotSharedLister().(*schedcache.Snapshot)
	}
	return nil
}

func schedulePod(ctx context.Context, sched *scheduler.Scheduler, fw framework.Framework, state fwk.CycleState, p *framework.QueuedPodInfo) (scheduler.ScheduleResult, error) {
	return sched.SchedulePod(ctx, fw, state, p)
}

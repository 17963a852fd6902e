//go:build !k8s1.35 && !k8s1.36

// The scheduling-cycle test's calls into kube-scheduler 1.37 (the main
// module's build), which take the node snapshot from outside.

package archfit_test

import (
	"context"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func snapshotOptions(s *schedcache.Snapshot) []scheduler.Option {
	return []scheduler.Option{scheduler.WithNodeInfoSnapshot(s)}
}

func schedulersSnapshot(_ *scheduler.Scheduler, s *schedcache.Snapshot) *schedcache.Snapshot {
	return s
}

func schedulePod(ctx context.Context, sched *scheduler.Scheduler, fw framework.Framework, state fwk.CycleState, p *framework.QueuedPodInfo) (scheduler.ScheduleResult, error) {
	return sched.SchedulePod(ctx, fw, state, p)
}

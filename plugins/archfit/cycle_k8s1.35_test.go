//go:build k8s1.35

// The scheduling-cycle test's call into kube-scheduler 1.35's SchedulePod,
// which takes a *v1.Pod (its snapshot: cycle_k8s1.35-1.36_test.go).

package archfit_test

import (
	"context"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func schedulePod(ctx context.Context, sched *scheduler.Scheduler, fw framework.Framework, state fwk.CycleState, p *framework.QueuedPodInfo) (scheduler.ScheduleResult, error) {
	return sched.SchedulePod(ctx, fw, state, p.Pod)
}

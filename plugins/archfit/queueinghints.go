package archfit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/archfit/archfit/internal/imageplatform"
)

// EventsToRegister: a node joining, or changing its arch/os labels, can make
// a pod rejected by ArchFit schedulable. Price changes cannot (Score never
// rejects), so they do not requeue anything.
func (pl *ArchFit) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

func (pl *ArchFit) isSchedulableAfterNodeChange(logger klog.Logger, pod *corev1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	oldNode, newNode, err := util.As[*corev1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	newOS, newArch, ok := imageplatform.NodePlatform(newNode)
	if !ok {
		return fwk.QueueSkip, nil
	}
	if oldNode != nil {
		oldOS, oldArch, _ := imageplatform.NodePlatform(oldNode)
		if oldOS == newOS && oldArch == newArch {
			return fwk.QueueSkip, nil
		}
	}
	pp := pl.evaluateCached(pod)
	if len(pp.Pending) > 0 || pp.Allows(newOS, newArch) {
		logger.V(5).Info("node can host the pod's images", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "platform", newOS+"/"+newArch)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

package archfit

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// startWarming resolves the images of this profile's unscheduled pods as
// they appear, so PreFilter nearly always finds them in cache.
func (pl *ArchFit) startWarming(ctx context.Context, inf cache.SharedIndexInformer) {
	profile := pl.handle.ProfileName()
	_, err := inf.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			pod, ok := obj.(*corev1.Pod)
			return ok && pod.Spec.NodeName == "" && pod.Spec.SchedulerName == profile
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				select {
				case pl.warmQ <- obj.(*corev1.Pod):
				default: // full: PreFilter will resolve it within its budget
				}
			},
		},
	})
	if err != nil {
		klog.FromContext(ctx).Error(err, "ArchFit could not watch pods to warm its cache; lookups will happen in PreFilter")
		return
	}
	for i := 0; i < 4; i++ {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case pod := <-pl.warmQ:
					wctx, cancel := context.WithTimeout(ctx, pl.args.RequestTimeout.Duration+time.Second)
					pl.evaluate(wctx, pod)
					cancel()
				}
			}
		}()
	}
}

// activateWhenResolved finishes the pod's lookups off the scheduling cycle
// and then moves it back to the active queue, instead of leaving it to the
// periodic flush of unschedulable pods.
func (pl *ArchFit) activateWhenResolved(pod *corev1.Pod) {
	if _, loaded := pl.waiting.LoadOrStore(pod.UID, struct{}{}); loaded {
		return
	}
	go func() {
		defer pl.waiting.Delete(pod.UID)
		ctx, cancel := context.WithTimeout(pl.ctx, pl.args.RequestTimeout.Duration+time.Second)
		defer cancel()
		pl.evaluate(ctx, pod)
		if pl.ctx.Err() != nil {
			return
		}
		pl.handle.Activate(klog.FromContext(pl.ctx), map[string]*corev1.Pod{pod.Namespace + "/" + pod.Name: pod})
	}()
}

// Package controller releases the pods placement's webhook gated. It lives
// apart from the webhook so that the webhook, and its fuzzer, link no
// client-go: the engine ships the whole coverage map with every input.
package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/placement"
)

// Controller releases gated pods: it resolves their images, writes the
// constraint, removes the gate and says what it did in an Event. A pod is
// released at the latest MaxGate after its creation, with the unknown-image
// policy's answer for whatever is still unknown then, so no pod stays gated
// because a registry is down.
type Controller struct {
	client kubernetes.Interface
	pods   corelisters.PodLister
	synced cache.InformerSynced
	// queue exists while the controller runs (while it leads): a replica
	// that lost the Lease and wins it again starts with a fresh one.
	queue    atomic.Pointer[workqueue.TypedRateLimitingInterface[string]]
	evaluate func(context.Context, *corev1.Pod) imageplatform.PodPlatforms
	policy   imageplatform.PodPolicy
	recorder events.EventRecorder
	metrics  *placement.Metrics
	o        Options
}

// Options tune the controller.
type Options struct {
	// MaxGate bounds how long a pod stays gated, from its creation.
	MaxGate time.Duration
	// Retry is how soon a pod whose images are still being looked up is
	// looked at again.
	Retry time.Duration
	// LookupBudget bounds one evaluation; the lookup itself goes on in the
	// background.
	LookupBudget time.Duration
	Workers      int
	Now          func() time.Time
}

// GatedSelector selects the pods the controller watches.
func GatedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{placement.GatedLabel: "true"})
}

// NewGatedPodInformer returns an informer factory that lists only gated
// pods, so the controller holds few pods in memory whatever the cluster's
// size.
func NewGatedPodInformer(client kubernetes.Interface) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = GatedSelector().String()
	}))
}

// New wires the controller to an informer factory made by
// NewGatedPodInformer. Start the factory, then Run.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, ev *placement.Evaluator, recorder events.EventRecorder, m *placement.Metrics, o Options) (*Controller, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	inf := f.Core().V1().Pods()
	c := &Controller{
		client: client, pods: inf.Lister(), synced: inf.Informer().HasSynced,
		evaluate: ev.Evaluate, policy: ev.Policy, recorder: recorder, metrics: m, o: o,
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	return c, err
}

func (c *Controller) enqueue(obj any) {
	q := c.queue.Load()
	if q == nil {
		return // not leading; Run lists every gated pod when it starts
	}
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		(*q).Add(key)
	}
}

// GatedCount is how many gated pods the informer holds.
func (c *Controller) GatedCount() float64 {
	l, err := c.pods.List(labels.Everything())
	if err != nil {
		return 0
	}
	return float64(len(l))
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("gated pod informer did not sync")
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "archfit-placement"})
	c.queue.Store(&q)
	defer func() {
		c.queue.Store(nil)
		q.ShutDown()
	}()
	// Pods gated while no replica led (or before this one did) have had
	// their events already: take them from the cache.
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, p := range pods {
		c.enqueue(p)
	}
	logger := klog.FromContext(ctx)
	logger.Info("placement controller running", "maxGate", c.o.MaxGate, "workers", c.o.Workers, "gatedPods", len(pods))
	var wg sync.WaitGroup
	for i := 0; i < c.o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.worker(ctx, q)
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) worker(ctx context.Context, q workqueue.TypedRateLimitingInterface[string]) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		after, err := c.sync(ctx, key)
		switch {
		case err != nil && ctx.Err() == nil:
			utilruntime.HandleErrorWithContext(ctx, err, "placement: releasing pod", "pod", key)
			q.AddRateLimited(key)
		case after > 0:
			q.Forget(key)
			q.AddAfter(key, after)
		default:
			q.Forget(key)
		}
		q.Done(key)
	}
}

// sync decides one gated pod. It returns a delay when the pod must be
// looked at again (images still being resolved, within MaxGate).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil {
		return 0, nil
	}
	now := c.o.Now()
	deadline := pod.CreationTimestamp.Add(c.o.MaxGate)
	final := !now.Before(deadline)
	if !placement.HasGate(pod) {
		// Someone removed the gate by hand; drop the label so the pod
		// leaves the watch.
		_, err := c.write(ctx, pod, nil)
		return 0, err
	}
	budget := c.o.LookupBudget
	if !final && deadline.Sub(now) < budget {
		budget = deadline.Sub(now)
	}
	bctx, cancel := context.WithTimeout(ctx, budget)
	images := c.evaluate(bctx, pod)
	cancel()
	d, ready := placement.Decide(pod, images, final)
	if !ready {
		return min(c.o.Retry, deadline.Sub(now)+time.Millisecond), nil
	}
	gone, err := c.write(ctx, pod, &d)
	if apierrors.IsInvalid(err) {
		// The API refuses the write itself (a rule of the pod's own
		// affinity this version of kube-apiserver will not narrow):
		// retrying cannot help, and a pod must not stay gated, so release
		// it without the constraint and say so.
		if _, err2 := c.write(ctx, pod, nil); err2 != nil {
			return 0, err2
		}
		c.metrics.Ungated.WithLabelValues("rejected").Inc()
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, placement.ReasonRejected, "Placement",
			"released without the image-platform constraint: kube-apiserver refused it (%v); ArchFit's Filter still applies under archfit-scheduler", err)
		return 0, nil
	} else if err != nil || gone {
		return 0, err
	}
	c.metrics.Ungated.WithLabelValues(string(d.Outcome)).Inc()
	c.metrics.GateDuration.Observe(now.Sub(pod.CreationTimestamp.Time).Seconds())
	typ, reason, note := placement.Explain(d, c.policy)
	if d.Outcome == placement.OutcomePolicy || d.Outcome == placement.OutcomeUnconstrained {
		note += fmt.Sprintf(" (gated %s)", now.Sub(pod.CreationTimestamp.Time).Round(10*time.Millisecond))
	}
	c.recorder.Eventf(pod, nil, typ, reason, "Placement", "%s", note)
	klog.FromContext(ctx).V(2).Info("released gated pod", "pod", klog.KObj(pod), "decision", d.Summary())
	return 0, nil
}

// write applies the decision (nil: only drop the gate and label) with an
// Update, so a concurrent change is a conflict and the pod is decided again
// from its new state. gone reports a pod deleted meanwhile, which is
// counted once here and gets no Event.
func (c *Controller) write(ctx context.Context, pod *corev1.Pod, d *placement.Decision) (gone bool, err error) {
	p := pod.DeepCopy()
	if d != nil {
		placement.Apply(p, *d)
	} else {
		placement.Ungate(p)
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{FieldManager: "archfit-placement"})
	if apierrors.IsNotFound(err) {
		c.metrics.Ungated.WithLabelValues("gone").Inc()
		return true, nil
	}
	if err != nil {
		c.metrics.UpdateErrors.Inc()
		return false, fmt.Errorf("updating pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return false, nil
}

// Package kubeletsim plays the kubelet's part for pods bound to nodes that
// run no kubelet (the in-process control plane of the tests, the benchmarks
// and the demo): it reports a bound pod's status as kubelet does, with the
// image digest the runtime reports, lets the caller say which containers
// fail on which arch (exec format error, crash loop), and finishes the
// deletion of terminating pods as kubelet does once their containers stop.
// kube-apiserver, the controllers and the Eviction API stay real.
package kubeletsim

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Failure is how a container fares on a node.
type Failure int

const (
	// Runs: Running and Ready.
	Runs Failure = iota
	// ExecFormat: the binary is for another arch; runc cannot start it.
	ExecFormat
	// CrashLoop: the container starts and exits, again and again.
	CrashLoop
)

// ExecFormatMessage is what containerd reports for a binary of another
// arch.
const ExecFormatMessage = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app": exec format error: unknown`

// Kubelet is the stand-in.
type Kubelet struct {
	Client kubernetes.Interface
	// Namespace limits it to one namespace; "" is every namespace.
	Namespace string
	// ImageID is the runtime's imageID for an image as written in the pod
	// spec (for a tag, "repo@<digest it resolved to>").
	ImageID func(image string) string
	// ImageIDOn, when set, wins over ImageID: the imageID a runtime
	// reports on a node of arch. Runtimes differ in which digest that is:
	// the index's (containerd, for a multi-arch tag), the platform
	// manifest's, or the config's.
	ImageIDOn func(image, arch string) string
	// Fail says how a container fares on a node of arch; nil: it runs.
	Fail func(pod *corev1.Pod, c corev1.Container, arch string) Failure
	// StartDelay is how long a bound pod's image pull and container start
	// take; until then its status says ContainerCreating, with no
	// imageID, as kubelet's does. nil: at once.
	StartDelay func(pod *corev1.Pod) time.Duration

	mu    sync.Mutex
	wrote map[string]Failure // pod UID/container → what status says
	seen  map[string]time.Time
}

// creating is the Failure value kubeletsim notes for a pod still pulling.
const creating Failure = -1

// Run works until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(k.Client, 0, informers.WithNamespace(k.Namespace))
	pods := f.Core().V1().Pods()
	nodes := f.Core().V1().Nodes()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	add := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }}); err != nil {
		return err
	}
	nodeLister := nodes.Lister()
	nodes.Informer()
	k.wrote = map[string]Failure{}
	k.seen = map[string]time.Time{}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced, nodes.Informer().HasSynced) {
		return fmt.Errorf("kubeletsim: informers did not sync")
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for i := 0; i < 4; i++ {
		go func() {
			for {
				key, quit := q.Get()
				if quit {
					return
				}
				ns, name, _ := cache.SplitMetaNamespaceKey(key)
				p, err := pods.Lister().Pods(ns).Get(name)
				var after time.Duration
				if err == nil {
					after, err = k.sync(ctx, p, nodeLister)
				}
				switch {
				case err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil:
					q.AddRateLimited(key)
				case after > 0:
					q.Forget(key)
					q.AddAfter(key, after)
				default:
					q.Forget(key)
				}
				q.Done(key)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func (k *Kubelet) sync(ctx context.Context, p *corev1.Pod, nodes interface {
	Get(string) (*corev1.Node, error)
}) (time.Duration, error) {
	if p.Spec.NodeName == "" {
		return 0, nil
	}
	if p.DeletionTimestamp != nil {
		// The containers have stopped: kubelet confirms the deletion.
		uid := p.UID
		k.mu.Lock()
		delete(k.seen, string(uid))
		k.mu.Unlock()
		return 0, k.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid}})
	}
	node, err := nodes.Get(p.Spec.NodeName)
	if err != nil {
		return 0, nil // a node that is gone: the pod GC's business
	}
	if k.StartDelay != nil {
		k.mu.Lock()
		first, ok := k.seen[string(p.UID)]
		if !ok {
			first = time.Now()
			k.seen[string(p.UID)] = first
		}
		k.mu.Unlock()
		if left := k.StartDelay(p) - time.Since(first); left > 0 {
			return left, k.writeCreating(ctx, p)
		}
	}
	return 0, k.writeStarted(ctx, p, node)
}

// writeCreating reports a pod whose images are still being pulled.
func (k *Kubelet) writeCreating(ctx context.Context, p *corev1.Pod) error {
	k.mu.Lock()
	done := len(p.Spec.Containers) > 0 && k.wrote[string(p.UID)+"/"+p.Spec.Containers[0].Name] == creating
	k.mu.Unlock()
	if done {
		return nil
	}
	now := metav1.Now()
	st := p.DeepCopy()
	st.Status.Phase = corev1.PodPending
	st.Status.HostIP = "10.0.0.1"
	st.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		st.Status.ContainerStatuses = append(st.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
	}
	st.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now},
	}
	if _, err := k.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil {
		return err
	}
	k.mu.Lock()
	for _, c := range p.Spec.Containers {
		k.wrote[string(p.UID)+"/"+c.Name] = creating
	}
	k.mu.Unlock()
	return nil
}

// writeStarted reports a pod whose containers started: running and Ready,
// or failing as Fail says.
func (k *Kubelet) writeStarted(ctx context.Context, p *corev1.Pod, node *corev1.Node) error {
	_, arch, _ := imageplatform.NodePlatform(node)
	want := make([]Failure, len(p.Spec.Containers))
	same := p.Status.Phase == corev1.PodRunning
	k.mu.Lock()
	for i, c := range p.Spec.Containers {
		if k.Fail != nil {
			want[i] = k.Fail(p, c, arch)
		}
		if w, ok := k.wrote[string(p.UID)+"/"+c.Name]; !ok || w != want[i] {
			same = false
		}
	}
	k.mu.Unlock()
	if same {
		return nil
	}
	now := metav1.Now()
	st := p.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	st.Status.StartTime = &now
	st.Status.HostIP = "10.0.0.1"
	st.Status.PodIP = "10.1.0.1"
	ready := corev1.ConditionTrue
	st.Status.ContainerStatuses = nil
	for i, c := range p.Spec.Containers {
		id := c.Image
		switch {
		case k.ImageIDOn != nil:
			id = k.ImageIDOn(c.Image, arch)
		case k.ImageID != nil:
			id = k.ImageID(c.Image)
		}
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: id, ContainerID: "containerd://" + string(p.UID)[:8] + c.Name}
		switch want[i] {
		case ExecFormat:
			ready = corev1.ConditionFalse
			cs.RestartCount = 3
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 40s restarting failed container=%s pod=%s_%s(%s)", c.Name, p.Name, p.Namespace, p.UID)}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError",
				Message: ExecFormatMessage, StartedAt: metav1.Unix(0, 0), FinishedAt: now}
		case CrashLoop:
			ready = corev1.ConditionFalse
			cs.RestartCount = 5
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 2m40s restarting failed container=%s pod=%s_%s(%s)", c.Name, p.Name, p.Namespace, p.UID)}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 139, Reason: "Error", StartedAt: now, FinishedAt: now}
		default:
			t := true
			cs.Ready, cs.Started = true, &t
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		}
		st.Status.ContainerStatuses = append(st.Status.ContainerStatuses, cs)
	}
	st.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
	}
	if _, err := k.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil {
		return err
	}
	k.mu.Lock()
	for i, c := range p.Spec.Containers {
		k.wrote[string(p.UID)+"/"+c.Name] = want[i]
	}
	k.mu.Unlock()
	return nil
}

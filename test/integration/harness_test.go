package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/archfit"
	"github.com/archfit/archfit/test/harness/controlplane"
)

// controlPlane is test/harness/controlplane's real etcd and kube-apiserver,
// started once for this test binary.
type controlPlane struct {
	*controlplane.ControlPlane
	client     kubernetes.Interface
	kubeconfig string
}

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	cp, err := controlplane.Start(context.Background(), controlplane.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	return &controlPlane{ControlPlane: cp, client: cp.Client, kubeconfig: cp.Kubeconfig}
}

// shippedConfig returns a file from scheduler-config/, changed only where a
// test must: the loopback registries allowed over plain HTTP.
// (StartScheduler points it at this control plane and turns leader
// election off, because kube-scheduler exits the process when it stops
// leading; the process-level e2e job keeps it on.)
func shippedConfig(t *testing.T, name string, insecure []string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "scheduler-config", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	anchor := "          kind: ArchFitArgs\n"
	if !strings.Contains(s, anchor) {
		t.Fatalf("%s: no ArchFitArgs to extend", name)
	}
	return []byte(strings.Replace(s, anchor, anchor+fmt.Sprintf("          insecureRegistries: [%s]\n", strings.Join(insecure, ", ")), 1))
}

// startScheduler runs our scheduler as cmd/archfit-scheduler does (app.Setup
// with the ArchFit plugin, then app.Run) until the test ends.
func startScheduler(t *testing.T, cp *controlPlane, config []byte) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	stop, err := cp.StartScheduler(ctx, config, app.WithPlugin(archfit.Name, archfit.New))
	if err != nil {
		t.Fatalf("scheduler: %v", err)
	}
	t.Cleanup(stop)
}

type nodeOpt func(*corev1.Node)

func instanceType(it string) nodeOpt {
	return func(n *corev1.Node) { n.Labels[cost.LabelInstanceType] = it }
}

func hourlyPrice(p string) nodeOpt {
	return func(n *corev1.Node) {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[cost.DefaultPriceAnnotation] = p
	}
}

// statusArchOnly drops the arch labels, leaving status.nodeInfo.
func statusArchOnly() nodeOpt {
	return func(n *corev1.Node) {
		delete(n.Labels, imageplatform.LabelArch)
		delete(n.Labels, imageplatform.LabelArchBeta)
	}
}

// createNode creates a Ready node of an arch in a scenario. Status is set
// with UpdateStatus because the apiserver drops it on create.
func createNode(t *testing.T, cs kubernetes.Interface, scenario, name, arch string, opts ...nodeOpt) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		imageplatform.LabelArch: arch, imageplatform.LabelOS: "linux", "kubernetes.io/hostname": name, "archfit.test/scenario": scenario,
	}}}
	for _, o := range opts {
		o(n)
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	created.Status = corev1.NodeStatus{
		Capacity: res, Allocatable: res,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		NodeInfo:   corev1.NodeSystemInfo{Architecture: arch, OperatingSystem: "linux"},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

type podOpt func(*corev1.Pod)

func initImage(image string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "init", Image: image})
	}
}

func schedulerName(n string) podOpt { return func(p *corev1.Pod) { p.Spec.SchedulerName = n } }

func nodeSelector(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Spec.NodeSelector[k] = v }
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

// ownedBy makes the pod a replica of a controller. The controller object
// need not exist: no garbage collector runs here.
func ownedBy(kind, name, uid string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}}
	}
}

func listEvents(t *testing.T, cs kubernetes.Interface, ns string) []eventsv1.Event {
	t.Helper()
	list, err := cs.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// reasonsIn counts the namespace's Events by reason.
func reasonsIn(t *testing.T, cs kubernetes.Interface, ns string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, e := range listEvents(t, cs, ns) {
		out[e.Reason] = append(out[e.Reason], e.Regarding.Name+": "+e.Note)
	}
	return out
}

func cpu(q string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
}

// createPod creates an archfit-scheduler pod confined to a scenario's nodes
// (by a label that ArchFit ignores and NodeAffinity enforces).
func createPod(t *testing.T, cs kubernetes.Interface, ns, scenario, name, image string, opts ...podOpt) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			SchedulerName: "archfit-scheduler",
			NodeSelector:  map[string]string{"archfit.test/scenario": scenario},
			Containers: []corev1.Container{{Name: "main", Image: image, Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	created, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func waitBound(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration) string {
	t.Helper()
	var node string
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last, node = p, p.Spec.NodeName
		return node != "", nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not bound within %v: %v; conditions %+v", ns, name, timeout, err, conditions(last))
	}
	return node
}

// waitUnschedulable waits for the scheduler to mark the pod unschedulable
// and returns the condition's message.
func waitUnschedulable(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	var msg string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("pod was bound to %s", p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				msg = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not marked unschedulable: %v", ns, name, err)
	}
	return msg
}

func conditions(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status.Conditions
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// eventsFor lists the events.k8s.io Events regarding a pod.
func eventsFor(t *testing.T, cs kubernetes.Interface, ns, pod string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range listEvents(t, cs, ns) {
		if e.Regarding.Name == pod {
			out[e.Reason] = e.Note
		}
	}
	return out
}

func waitEvent(t *testing.T, cs kubernetes.Interface, ns, pod, reason string) string {
	t.Helper()
	var note string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		n, ok := eventsFor(t, cs, ns, pod)[reason]
		note = n
		return ok, nil
	})
	if err != nil {
		t.Fatalf("no %s Event on %s/%s; have %v", reason, ns, pod, eventsFor(t, cs, ns, pod))
	}
	return note
}

//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	"github.com/archfit/archfit/test/harness/kubeletsim"
)

// TestCAMigration runs migration with what ships: archfit-placement from
// the image, with manifests/base's RBAC and flags (moves enabled and a
// short pass interval, as an operator enables them), archfit-scheduler,
// archfit-expander, kwok and the real cluster-autoscaler. No controller
// manager runs here, so the test creates the ReplicaSet's pods as its
// controller would, and writes the one failing container's status as
// kubelet would; kwok runs the rest.
func TestCAMigration(t *testing.T) {
	e := newCAEnv(t)
	ctx := context.Background()
	amd0, arm0 := e.addGroupNode(t, ngAMD64), e.addGroupNode(t, ngARM64)
	// arm64 has no room for one more pod: the move must grow it.
	e.fill(t, arm0, "1900m")
	e.startPlacement(t, "--migration-mode=Enabled", "--migration-interval=1s")
	ca := e.startCA(t, "grpc,priority")
	from := ca.mark()
	image := e.reg.Host + "/app/multi:1"

	labels := map[string]string{"app": "web"}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: e.ns,
		Annotations: map[string]string{migration.TargetAnnotation: "50%"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: e.appPod("", image, "200m").Spec}}}
	rs, err := e.cs.AppsV1().ReplicaSets(e.ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replica := func(name string) {
		t.Helper()
		p := e.appPod(name, image, "200m")
		p.Labels = labels
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}
		if _, err := e.cs.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	replica("web-0")
	replica("web-1")
	for _, n := range []string{"web-0", "web-1"} {
		if node := e.waitRunning(t, n, 60*time.Second); node.Name != amd0 {
			t.Fatalf("%s on %s, want %s: at its target share (0 of 0) a workload prefers amd64", n, node.Name, amd0)
		}
	}

	// Below 50%: the controller asks placement to constrain the
	// ReplicaSet's new pods to arm64, then evicts one pod.
	var evicted string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, n := range []string{"web-0", "web-1"} {
			if _, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, n, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				evicted = n
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no pod was moved: %v\n%s", err, e.placementTail())
	}
	got, err := e.cs.AppsV1().ReplicaSets(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[migration.NextAnnotation] != "arm64" {
		t.Fatalf("ReplicaSet annotations %v, want %s=arm64 while it moves", got.Annotations, migration.NextAnnotation)
	}
	if n := e.countWorkloadEvents(t, "ReplicaSet", "web", migrationctl.ReasonMoved); n != 1 {
		t.Errorf("%d %s Events, want 1", n, migrationctl.ReasonMoved)
	}
	t.Logf("evicted %s", evicted)

	// Its replacement, as the ReplicaSet controller creates it, is
	// constrained to arm64; arm64 has no room, so CA grows ng-arm64.
	replica("web-2")
	e.checkPlaced(t, "web-2", "arm64")
	ca.waitLog(t, from, `Scale-up: setting group ng-arm64 size to 2`, 90*time.Second)
	node := e.waitRunning(t, "web-2", 90*time.Second)
	if node.Labels[groupLabel] != ngARM64.name || node.Name == arm0 {
		t.Fatalf("web-2 on %s, want a new ng-arm64 node", node.Name)
	}
	// At 1 of 2 the workload is at its target: nothing more moves.
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		rs, err := e.cs.AppsV1().ReplicaSets(e.ns).Get(ctx, "web", metav1.GetOptions{})
		_, next := rs.Annotations[migration.NextAnnotation]
		return err == nil && !next, err
	})
	if err != nil {
		t.Fatalf("%s not removed at the target: %v", migration.NextAnnotation, err)
	}

	// The image's arm64 build turns out not to run: kubelet reports an
	// exec format error. The controller records the digest under the
	// shipped RBAC, pauses the ReplicaSet and evicts the pod.
	res, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(e.reg.Host), imageplatform.WithAllowedPrivateRegistries(e.reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	digest := res.Resolve(ctx, imageplatform.Request{Image: image}).Digest
	if digest == "" {
		t.Fatal("no digest for the image")
	}
	p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "web-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: image, ImageID: strings.TrimSuffix(image, ":1") + "@" + digest,
		RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError",
			Message: kubeletsim.ExecFormatMessage, FinishedAt: now}}}}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var rec []migration.Record
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		cm, err := e.cs.CoreV1().ConfigMaps("archfit").Get(ctx, "archfit-rollbacks", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		all, _ := migration.ParseRecords(cm)
		rec = all[digest]
		return len(rec) > 0, nil
	})
	if err != nil || len(rec) != 1 || rec[0].Arch != "arm64" || rec[0].Reason != migration.ReasonExecFormatError || rec[0].Workload != "ReplicaSet/"+e.ns+"/web" {
		t.Fatalf("rollback record %+v (%v)\n%s", rec, err, e.placementTail())
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "web-2", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the failing pod was not evicted: %v", err)
	}
	got, err = e.cs.AppsV1().ReplicaSets(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Annotations[migration.PausedAnnotation], "arm64") {
		t.Errorf("ReplicaSet not paused: %v", got.Annotations)
	}
	if n := e.countWorkloadEvents(t, "ReplicaSet", "web", migrationctl.ReasonRollback); n != 1 {
		t.Errorf("%d %s Events, want 1", n, migrationctl.ReasonRollback)
	}
	// The next replacement is kept off arm64 by the record.
	replica("web-3")
	e.checkPlaced(t, "web-3", "amd64")
	if node := e.waitRunning(t, "web-3", 60*time.Second); node.Labels["kubernetes.io/arch"] != "amd64" {
		t.Errorf("web-3 on %s", node.Name)
	}
}

func (e *caEnv) countWorkloadEvents(t *testing.T, kind, name, reason string) int {
	t.Helper()
	evs, err := e.cs.EventsV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs.Items {
		if ev.Regarding.Kind == kind && ev.Regarding.Name == name && ev.Reason == reason {
			n++
		}
	}
	return n
}

// placementTail is the end of archfit-placement's log, for failures.
func (c *cluster) placementTail() string {
	if c.placement == nil {
		return ""
	}
	return c.placement.tail(40)
}

package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2/ktesting"

	"github.com/archfit/archfit/expander/app"
	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/plugins/apis/config"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// expanderScenarios runs archfit-expander with Kubernetes access: pull
// secrets, the priority ConfigMap and Events.
func expanderScenarios(t *testing.T, cp *controlPlane) {
	cs := cp.client
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	private := registrytest.New()
	t.Cleanup(private.Close)
	multiDigest, err := reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		second(reg.PushImage("app/arm:1", "linux/arm64", false)),
		second(private.PushIndex("team/api:1", []string{"linux/amd64", "linux/arm64"}, false, false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	private.RequireBasicAuth("robot", "hunter2")

	ca, err := testcerts.NewCA("expander-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	addr, _, stop, err := app.Start(ctx, &app.Options{
		GRPCAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile,
		PolicyReloadInterval: time.Second, Kubeconfig: cp.kubeconfig, UsePullSecrets: true,
		Flags: resolverflags.Defaults().With(func(c *config.ResolverConfig) {
			c.InsecureRegistries = []string{reg.Host, private.Host}
			c.RequestTimeout.Duration = 5 * time.Second
		}),
		PriorityNamespace: "kube-system", PriorityName: "cluster-autoscaler-priority-expander", PriorityKey: "priorities",
		ShutdownGrace: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("expander: %v", err)
		}
	})
	creds, err := credentials.NewClientTLSFromFile(caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := protos.NewExpanderClient(conn)

	createNamespace(t, cs, "scaleup")
	ask := func(t *testing.T, pod *corev1.Pod, groups ...[2]string) []string {
		t.Helper()
		b, err := pod.Marshal() // exactly what CA puts in podBytes
		if err != nil {
			t.Fatal(err)
		}
		req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
		for _, g := range groups {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "template-node-for-" + g[0], Labels: map[string]string{
				"kubernetes.io/arch": g[1], "kubernetes.io/os": "linux", "cluster-autoscaler.kubernetes.io/template-node": "true"}}}
			nb, err := n.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			req.NodeBytesMap[g[0]] = nb
			req.Options = append(req.Options, &protos.Option{NodeGroupId: g[0], NodeCount: 1, PodBytes: [][]byte{b}})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.BestOptions(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, o := range resp.Options {
			out = append(out, o.NodeGroupId)
		}
		sort.Strings(out)
		return out
	}

	t.Run("a rollback record keeps a multi-arch image off arm64 groups", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "recorded", Namespace: "scaleup"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: reg.Host + "/app/multi:1"}}}}
		if got := ask(t, pod, [2]string{"ng-amd64", "amd64"}, [2]string{"ng-arm64", "arm64"}); strings.Join(got, ",") != "ng-arm64" {
			t.Fatalf("before any record: %v, want ng-arm64", got)
		}
		if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "archfit"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		rec, _ := json.Marshal([]migration.Record{{Arch: "arm64", Reason: migration.ReasonExecFormatError, Image: reg.Host + "/app/multi:1", Workload: "Deployment/scaleup/web"}})
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "archfit-rollbacks", Namespace: "archfit"}, Data: map[string]string{migration.Key(multiDigest): string(rec)}}
		if _, err := cs.CoreV1().ConfigMaps("archfit").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cs.CoreV1().ConfigMaps("archfit").Delete(context.Background(), cm.Name, metav1.DeleteOptions{})
		}()
		pollAnswer(t, func() []string { return ask(t, pod, [2]string{"ng-amd64", "amd64"}, [2]string{"ng-arm64", "arm64"}) }, "[ng-amd64]")
	})

	t.Run("a veto is explained in an Event on the pod", func(t *testing.T) {
		pod := createPendingPod(t, cs, "scaleup", "edge", reg.Host+"/app/arm:1", "")
		if got := ask(t, pod, [2]string{"ng-amd-a", "amd64"}, [2]string{"ng-amd-b", "amd64"}); len(got) != 0 {
			t.Fatalf("answer %v, want none", got)
		}
		note := waitEvent(t, cs, "scaleup", "edge", "ArchFitScaleUpVetoed")
		if !strings.Contains(note, "lack linux/amd64") || !strings.Contains(note, "ng-amd-a") {
			t.Errorf("Event note = %q", note)
		}
	})

	t.Run("pull secrets authenticate lookups", func(t *testing.T) {
		secret := dockerConfigSecret("scaleup", "robot-pull", private.Host, "robot", "hunter2")
		if _, err := cs.CoreV1().Secrets("scaleup").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		withSecret := createPendingPod(t, cs, "scaleup", "api-auth", private.Host+"/team/api:1", "robot-pull")
		// The informer needs a moment to see the new Secret.
		var got []string
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
			got = ask(t, withSecret, [2]string{"ng-amd64", "amd64"}, [2]string{"ng-arm64", "arm64"})
			return fmt.Sprint(got) == "[ng-arm64]", nil
		})
		if err != nil {
			t.Fatalf("with the pull secret: %v, want [ng-arm64]", got)
		}
		anonymous := createPendingPod(t, cs, "scaleup", "api-anon", private.Host+"/team/api:1", "")
		if got := ask(t, anonymous, [2]string{"ng-amd64", "amd64"}, [2]string{"ng-arm64", "arm64"}); fmt.Sprint(got) != "[ng-amd64]" {
			t.Fatalf("without a secret the image is unknown → Fallback amd64; got %v", got)
		}
	})

	t.Run("the priority ConfigMap is read, updated and a bad update keeps the last good", func(t *testing.T) {
		pod := createPendingPod(t, cs, "scaleup", "web", reg.Host+"/app/multi:1", "")
		groups := [][2]string{{"spot-amd64", "amd64"}, {"ondemand-arm64", "arm64"}}
		if got := ask(t, pod, groups...); fmt.Sprint(got) != "[ondemand-arm64]" {
			t.Fatalf("without priorities: %v", got)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cluster-autoscaler-priority-expander"},
			Data: map[string]string{"priorities": "50:\n  - ^spot-.*\n10:\n  - .*\n"}}
		created, err := cs.CoreV1().ConfigMaps("kube-system").Create(context.Background(), cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pollAnswer(t, func() []string { return ask(t, pod, groups...) }, "[spot-amd64]")
		created.Data["priorities"] = "fifty: [\"(\"]"
		if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(context.Background(), created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		note := waitEvent(t, cs, "kube-system", "cluster-autoscaler-priority-expander", "ArchFitPrioritiesRejected")
		if !strings.Contains(note, "keeping the last good") {
			t.Errorf("Event note = %q", note)
		}
		if got := ask(t, pod, groups...); fmt.Sprint(got) != "[spot-amd64]" {
			t.Fatalf("after a bad update: %v, want the last good priorities", got)
		}
	})
}

func pollAnswer(t *testing.T, f func() []string, want string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		got = f()
		return fmt.Sprint(got) == want, nil
	})
	if err != nil {
		t.Fatalf("answer %v, want %s", got, want)
	}
}

// createPendingPod creates a pod no scheduler handles, as a stand-in for
// CA's pending pods, and returns it as stored (with its UID).
func createPendingPod(t *testing.T, cs kubernetes.Interface, ns, name, image, pullSecret string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{SchedulerName: "nobody", Containers: []corev1.Container{{Name: "main", Image: image,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}},
	}
	if pullSecret != "" {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: pullSecret}}
	}
	created, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func dockerConfigSecret(ns, name, host, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))},
	}
}

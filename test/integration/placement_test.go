package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2/ktesting"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/placement"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/test/harness/placementtest"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// placementServer is placementtest's server, stopped when the test ends.
type placementServer struct {
	*placementtest.Server
	t *testing.T
}

func newPlacementServer(t *testing.T, cp *controlPlane) *placementServer {
	t.Helper()
	s, err := placementtest.NewServer(cp.Config, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ps := &placementServer{Server: s, t: t}
	t.Cleanup(ps.down)
	return ps
}

func (s *placementServer) up(change func(*placementapp.Options)) {
	s.t.Helper()
	_, ctx := ktesting.NewTestContext(s.t)
	if err := s.Up(ctx, change); err != nil {
		s.t.Fatal(err)
	}
}

func (s *placementServer) down() {
	if err := s.Down(); err != nil {
		s.t.Errorf("archfit-placement stopped with %v", err)
	}
}

func podSpec(scenario, image string) corev1.PodSpec {
	return corev1.PodSpec{
		SchedulerName: "archfit-scheduler",
		NodeSelector:  map[string]string{"archfit.test/scenario": scenario},
		Containers:    []corev1.Container{{Name: "main", Image: image}},
	}
}

func waitPod(t *testing.T, cs kubernetes.Interface, ns, name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: %s within %v: %v; gates %v, annotations %v", ns, name, what, timeout, err, last.Spec.SchedulingGates, last.Annotations)
	}
	return last
}

func ungated(p *corev1.Pod) bool {
	return !placement.HasGate(p) && p.Labels[placement.GatedLabel] == ""
}

func requiredTerms(p *corev1.Pod) []corev1.NodeSelectorTerm {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
}

func terms(ts ...[]corev1.NodeSelectorRequirement) []corev1.NodeSelectorTerm {
	out := make([]corev1.NodeSelectorTerm, len(ts))
	for i, t := range ts {
		out[i] = corev1.NodeSelectorTerm{MatchExpressions: t}
	}
	return out
}

func platformTerm(archs ...string) []corev1.NodeSelectorRequirement {
	return []corev1.NodeSelectorRequirement{
		{Key: imageplatform.LabelOS, Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
		{Key: imageplatform.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: archs},
	}
}

// placementScenarios runs archfit-placement's webhook through a real
// MutatingWebhookConfiguration over TLS, its controller, and
// archfit-scheduler, against a real registry.
func placementScenarios(t *testing.T, cp *controlPlane) {
	cs := cp.client
	ctx := context.Background()
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	img := func(repo string) string { return reg.Host + "/" + repo }
	multi, amd, arm := img("app/multi:1"), img("app/amd:1"), img("app/arm:1")
	slowImg, stuckImg, lateImg := img("app/slow:1"), img("app/stuck:1"), img("app/late:1")
	for _, err := range []error{
		second(reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(reg.PushImage("app/amd:1", "linux/amd64", false)),
		second(reg.PushImage("app/arm:1", "linux/arm64", true)),
		second(reg.PushIndex("app/slow:1", []string{"linux/amd64", "linux/arm64"}, true, false)),
		second(reg.PushIndex("app/stuck:1", []string{"linux/amd64", "linux/arm64"}, false, false)),
		second(reg.PushImage("app/late:1", "linux/arm64", false)),
		second(reg.PushImage("app/refused:1", "linux/amd64", false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A registry that answers for some repositories only after a while,
	// and for one never in time.
	reg.SetFault("/app/slow/", registrytest.Fault{Delay: 1500 * time.Millisecond})
	reg.SetFault("/app/stuck/", registrytest.Fault{Delay: time.Minute})

	const sc = "placement"
	// archfit (the Lease's namespace) may exist already: the manifests
	// scenario applies namespace.yaml.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "archfit"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, ns := range []string{"placed", "team-a", "team-b"} {
		createNamespace(t, cs, ns)
	}
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, "team-a", "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"archfit.dev/placement":"enabled"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, cs, sc, "placement-amd", "amd64", instanceType("m6i.large"))
	createNode(t, cs, sc, "placement-arm", "arm64", instanceType("m7g.large"))
	startScheduler(t, cp, shippedConfig(t, "archfit-scheduler.yaml", []string{reg.Host}))
	ctrlCtx, stopControllers := context.WithCancel(ctx)
	t.Cleanup(stopControllers)
	if err := cp.StartControllers(ctrlCtx); err != nil {
		t.Fatal(err)
	}

	srv := newPlacementServer(t, cp)
	withRegistry := func(o *placementapp.Options) {
		o.InsecureRegistries = []string{reg.Host}
		o.MaxGate = 20 * time.Second
	}
	srv.up(withRegistry)
	if err := srv.Install(ctx, cs, "placed", multi); err != nil {
		t.Fatal(err)
	}
	ns := "placed"

	t.Run("Deployment pods get the affinity, the same for every replica, and land on a node it admits", func(t *testing.T) {
		r := int32(3)
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}}, Spec: podSpec(sc, amd)}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}, Spec: appsv1.DeploymentSpec{
			Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl}}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pods []corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=legacy"})
			if err != nil {
				return false, err
			}
			pods = l.Items
			bound := 0
			for _, p := range pods {
				if p.Spec.NodeName != "" {
					bound++
				}
			}
			return bound == 3 && len(pods) == 3, nil
		})
		if err != nil {
			t.Fatalf("the Deployment's pods were not all bound: %d pods", len(pods))
		}
		want := terms(platformTerm("amd64"))
		for _, p := range pods {
			if diff := cmp.Diff(want, requiredTerms(&p)); diff != "" {
				t.Errorf("%s: required terms (-want +got):\n%s", p.Name, diff)
			}
			if got := p.Annotations[placement.Annotation]; got != "written: linux/amd64" {
				t.Errorf("%s: annotation %q", p.Name, got)
			}
			if p.Spec.NodeName != "placement-amd" || !ungated(&p) {
				t.Errorf("%s: on %s, gates %v", p.Name, p.Spec.NodeName, p.Spec.SchedulingGates)
			}
		}
	})

	t.Run("a slow registry: admitted at once with the gate, released with the affinity and an Event", func(t *testing.T) {
		// A term of the pod's own: kube-apiserver lets the controller
		// narrow a gated pod's terms, not add to their number.
		own := corev1.NodeSelectorRequirement{Key: "archfit.test/scenario", Operator: corev1.NodeSelectorOpIn, Values: []string{sc}}
		spec := podSpec(sc, slowImg)
		spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{own}}}}}}
		created, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "slow"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The registry holds every request 1.5 s and admission's budget is
		// 100 ms: a pod that came back gated was not held for the lookup.
		if !placement.HasGate(created) || created.Labels[placement.GatedLabel] != "true" {
			t.Fatalf("admitted without the gate: gates %v labels %v annotations %v", created.Spec.SchedulingGates, created.Labels, created.Annotations)
		}
		p := waitPod(t, cs, ns, "slow", "released", 20*time.Second, ungated)
		if diff := cmp.Diff(terms(append([]corev1.NodeSelectorRequirement{own}, platformTerm("amd64", "arm64")...)), requiredTerms(p)); diff != "" {
			t.Errorf("required terms (-want +got):\n%s", diff)
		}
		note := waitEvent(t, cs, ns, "slow", placement.ReasonWritten)
		if !strings.Contains(note, slowImg+": ") || !strings.Contains(note, "kubernetes.io/arch In [amd64,arm64]") {
			t.Errorf("Event note = %q", note)
		}
		waitBound(t, cs, ns, "slow", 20*time.Second)
	})

	t.Run("the merge rules, on the API server", func(t *testing.T) {
		// Two ORed terms: the platform is ANDed into each.
		zoneTerms := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "archfit.test/scenario", Operator: corev1.NodeSelectorOpIn, Values: []string{sc}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "archfit.test/scenario", Operator: corev1.NodeSelectorOpIn, Values: []string{"elsewhere"}}}},
			}}}}
		spec := podSpec(sc, arm)
		spec.Affinity = zoneTerms
		created, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "two-terms"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := requiredTerms(created)
		if len(got) != 2 {
			t.Fatalf("terms %+v, want the pod's two, narrowed", got)
		}
		for i, term := range got {
			want := append(slices.Clone(zoneTerms.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[i].MatchExpressions), platformTerm("arm64")...)
			if diff := cmp.Diff(want, term.MatchExpressions); diff != "" {
				t.Errorf("term %d (-want +got):\n%s", i, diff)
			}
		}
		if node := waitBound(t, cs, ns, "two-terms", 20*time.Second); node != "placement-arm" {
			t.Errorf("bound to %s", node)
		}

		// Init containers count: an amd64-only init container narrows a
		// multi-arch pod to amd64.
		spec = podSpec(sc, multi)
		spec.InitContainers = []corev1.Container{{Name: "init", Image: amd}}
		created, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "init"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(terms(platformTerm("amd64")), requiredTerms(created)); diff != "" {
			t.Errorf("init container pod terms (-want +got):\n%s", diff)
		}

		// The archfit.dev/platforms override replaces the lookup.
		created, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "override",
			Annotations: map[string]string{imageplatform.PlatformsAnnotation: "linux/arm64"}}, Spec: podSpec(sc, reg.Host+"/private/app:1")}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(terms(platformTerm("arm64")), requiredTerms(created)); diff != "" {
			t.Errorf("override pod terms (-want +got):\n%s", diff)
		}

		// A pod pinned to an arch its image lacks is left as it is, with
		// a Warning; ArchFit then keeps it off the arm64 node.
		spec = podSpec(sc, amd)
		spec.NodeSelector[imageplatform.LabelArch] = "arm64"
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pinned-wrong"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, cs, ns, "pinned-wrong", "released", 20*time.Second, ungated)
		if p.Spec.Affinity != nil || p.Annotations[placement.Annotation] != "conflict: linux/arm64" {
			t.Errorf("a pinned pod was changed: affinity %+v annotation %q", p.Spec.Affinity, p.Annotations[placement.Annotation])
		}
		if note := waitEvent(t, cs, ns, "pinned-wrong", placement.ReasonPinConflict); !strings.Contains(note, amd) {
			t.Errorf("Warning does not name the image: %q", note)
		}
		waitUnschedulable(t, cs, ns, "pinned-wrong")
	})

	t.Run("opt-in by namespace label; other namespaces and kube-system untouched", func(t *testing.T) {
		spec := podSpec(sc, arm)
		spec.SchedulerName = "" // the default scheduler
		a, err := cs.CoreV1().Pods("team-a").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(terms(platformTerm("arm64")), requiredTerms(a)); diff != "" {
			t.Errorf("labelled namespace, default scheduler (-want +got):\n%s", diff)
		}
		b, err := cs.CoreV1().Pods("team-b").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sys, err := cs.CoreV1().Pods("kube-system").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sys"}, Spec: podSpec(sc, arm)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*corev1.Pod{b, sys} {
			if p.Spec.Affinity != nil || p.Annotations[placement.Annotation] != "" || placement.HasGate(p) {
				t.Errorf("%s/%s was touched: %+v %v %v", p.Namespace, p.Name, p.Spec.Affinity, p.Annotations, p.Spec.SchedulingGates)
			}
		}
	})

	t.Run("the controller down, then back: the gate clears", func(t *testing.T) {
		created, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}, Spec: podSpec(sc, stuckImg)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !placement.HasGate(created) {
			t.Fatal("not gated at admission")
		}
		srv.down()
		// Nothing releases it while placement is down, and no scheduler
		// places it.
		time.Sleep(2 * time.Second)
		p := waitPod(t, cs, ns, "orphan", "still gated", time.Second, func(p *corev1.Pod) bool { return placement.HasGate(p) })
		if p.Spec.NodeName != "" {
			t.Fatalf("a gated pod was bound to %s", p.Spec.NodeName)
		}
		reg.ClearFaults() // the registry recovers meanwhile
		srv.up(withRegistry)
		p = waitPod(t, cs, ns, "orphan", "released after the restart", 30*time.Second, ungated)
		if diff := cmp.Diff(terms(platformTerm("amd64", "arm64")), requiredTerms(p)); diff != "" {
			t.Errorf("required terms (-want +got):\n%s", diff)
		}
		waitBound(t, cs, ns, "orphan", 20*time.Second)
	})

	t.Run("a registry that never answers: released at --max-gate-duration with the policy's answer", func(t *testing.T) {
		srv.down()
		reg.SetFault("/app/late/", registrytest.Fault{Delay: time.Minute})
		srv.up(func(o *placementapp.Options) {
			withRegistry(o)
			o.MaxGate = 3 * time.Second
			o.LookupBudget = 500 * time.Millisecond
		})
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "never"}, Spec: podSpec(sc, lateImg)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, cs, ns, "never", "released", 30*time.Second, ungated)
		// Fallback: amd64, although the image (unknown to placement) is
		// arm64-only; that is the policy's documented, fail-safe answer.
		if diff := cmp.Diff(terms(platformTerm("amd64")), requiredTerms(p)); diff != "" {
			t.Errorf("required terms (-want +got):\n%s", diff)
		}
		if got := p.Annotations[placement.Annotation]; got != "policy: linux/amd64" {
			t.Errorf("annotation %q", got)
		}
		note := waitEvent(t, cs, ns, "never", placement.ReasonPolicy)
		if !strings.Contains(note, lateImg) || !strings.Contains(note, "unknownImagePolicy Fallback") {
			t.Errorf("Warning note = %q", note)
		}
		reg.ClearFaults()
	})

	t.Run("kube-apiserver refuses the controller's write: the pod is released without it, with a Warning", func(t *testing.T) {
		// A ValidatingAdmissionPolicy stands for any rule of a cluster (or
		// of a future API version) that refuses the narrowing as Invalid:
		// retrying cannot help, and the pod must not stay gated.
		const label = "archfit.test/refuse-placement"
		fail := admissionregistrationv1.Fail
		invalid := metav1.StatusReasonInvalid
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "refuse-placement"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: &fail,
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}},
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					}}},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: "!has(object.spec.affinity)", Reason: &invalid, Message: "this test's cluster refuses node affinity on update"}},
			},
		}
		if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, vap, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "refuse-placement"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: vap.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
		}
		if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
			_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, vap.Name, metav1.DeleteOptions{})
		})
		// kube-apiserver loads policies from an informer: wait until a
		// labelled pod's update that adds affinity is refused as Invalid.
		probe, err := cs.CoreV1().Pods("team-b").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "refuse-probe", Labels: map[string]string{label: "true"}},
			Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "archfit.test/hold"}}, Containers: []corev1.Container{{Name: "c", Image: amd}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods("team-b").Get(ctx, probe.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: terms(platformTerm("amd64"))}}}
			_, err = cs.CoreV1().Pods("team-b").Update(ctx, p, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
			return apierrors.IsInvalid(err), nil
		})
		if err != nil {
			t.Fatalf("the policy never refused an update: %v", err)
		}

		reg.SetFault("/app/refused/", registrytest.Fault{Delay: 1500 * time.Millisecond})
		spec := podSpec(sc, img("app/refused:1"))
		created, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "refused", Labels: map[string]string{label: "true"}}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !placement.HasGate(created) {
			t.Fatal("not gated at admission")
		}
		p := waitPod(t, cs, ns, "refused", "released", 30*time.Second, ungated)
		if p.Spec.Affinity != nil {
			t.Errorf("affinity written despite the refusal: %+v", p.Spec.Affinity)
		}
		if note := waitEvent(t, cs, ns, "refused", placement.ReasonRejected); !strings.Contains(note, "this test's cluster refuses node affinity on update") {
			t.Errorf("Warning does not carry kube-apiserver's reason: %q", note)
		}
		if node := waitBound(t, cs, ns, "refused", 20*time.Second); node != "placement-amd" {
			t.Errorf("bound to %s; ArchFit should still keep an amd64-only pod on amd64", node)
		}
		reg.ClearFaults()
	})

	t.Run("the webhook down: pods are admitted unchanged, and ArchFit still keeps them off the wrong arch", func(t *testing.T) {
		srv.down()
		created, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unplaced"}, Spec: podSpec(sc, amd)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("pod creation failed with the webhook down (failurePolicy must be Ignore): %v", err)
		}
		if created.Spec.Affinity != nil || placement.HasGate(created) || created.Annotations[placement.Annotation] != "" {
			t.Fatalf("a pod admitted with the webhook down was changed")
		}
		if node := waitBound(t, cs, ns, "unplaced", 20*time.Second); node != "placement-amd" {
			t.Errorf("an amd64-only pod was bound to %s", node)
		}
	})

	t.Run("uninstall: with the webhook configuration deleted, nothing is gated and nothing is left gated", func(t *testing.T) {
		if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "archfit-placement", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: placement.GatedLabel})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range l.Items {
			t.Errorf("pod %s/%s is still gated", p.Namespace, p.Name)
		}
	})
}

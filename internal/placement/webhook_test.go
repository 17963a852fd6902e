package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/imageplatform"
)

func newWebhook(t testing.TB) (*Webhook, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry(), nil)
	sel, err := labels.Parse("archfit.dev/placement=enabled")
	if err != nil {
		t.Fatal(err)
	}
	nsLabels := map[string]map[string]string{"team-a": {"archfit.dev/placement": "enabled"}}
	return &Webhook{
		Scope: Scope{
			SchedulerNames: []string{"archfit-scheduler"}, SkipNamespaces: []string{"kube-system", "archfit"},
			NamespaceSelector: sel,
			NamespaceLabels:   func(n string) (map[string]string, error) { return nsLabels[n], nil },
		},
		Evaluate: evaluator(imageplatform.PolicyFallback).Evaluate,
		Budget:   50 * time.Millisecond,
		Metrics:  m,
	}, m
}

// admit sends the pod through the webhook's HTTP handler as kube-apiserver
// does and returns the pod with the response's patch applied.
func admit(t *testing.T, w *Webhook, ns string, pod *corev1.Pod) (*corev1.Pod, *admissionv1.AdmissionResponse) {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, _ := json.Marshal(review)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "uid-1" || !out.Response.Allowed {
		t.Fatalf("response is not an allowed AdmissionReview for uid-1: %+v", out)
	}
	if out.Response.Patch == nil {
		return pod, out.Response
	}
	if out.Response.PatchType == nil || *out.Response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", out.Response.PatchType)
	}
	p, err := jsonpatch.DecodePatch(out.Response.Patch)
	if err != nil {
		t.Fatalf("patch does not decode: %v: %s", err, out.Response.Patch)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v: %s", err, out.Response.Patch)
	}
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	return &got, out.Response
}

func TestWebhookReview(t *testing.T) {
	daemon := st.MakePod().Name("d").SchedulerName("archfit-scheduler").Container(amdOnly).OwnerReference("ds", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}).Obj()
	daemon.OwnerReferences[0].Controller = ptr.To(true)
	tests := []struct {
		name   string
		ns     string
		pod    *corev1.Pod
		result string
		gated  bool
		terms  []corev1.NodeSelectorTerm
	}{
		{name: "opted in by schedulerName, cached multi-arch image: written at once", ns: "default",
			pod: st.MakePod().Name("a").SchedulerName("archfit-scheduler").Container(multi).Obj(), result: "written",
			terms: terms([]corev1.NodeSelectorRequirement{linux, both})},
		{name: "opted in by namespace label, default scheduler", ns: "team-a",
			pod: st.MakePod().Name("b").Container(amdOnly).Obj(), result: "written",
			terms: terms([]corev1.NodeSelectorRequirement{linux, amd})},
		{name: "slow registry: gated, admission does not wait", ns: "default",
			pod: st.MakePod().Name("c").SchedulerName("archfit-scheduler").Container(slow).Obj(), result: "gated", gated: true},
		{name: "pin that conflicts: gated, for the controller's Warning", ns: "default",
			pod: st.MakePod().Name("c2").SchedulerName("archfit-scheduler").Container(amdOnly).NodeSelector(map[string]string{imageplatform.LabelArch: "arm64"}).Obj(), result: "gated", gated: true},
		{name: "pin that agrees: annotation only", ns: "default",
			pod: st.MakePod().Name("c3").SchedulerName("archfit-scheduler").Container(multi).NodeSelector(map[string]string{imageplatform.LabelArch: "arm64"}).Obj(), result: "pinned"},
		{name: "not opted in", ns: "default", pod: st.MakePod().Name("e").Container(amdOnly).Obj(), result: SkipNotOptedIn},
		{name: "kube-system", ns: "kube-system", pod: st.MakePod().Name("f").SchedulerName("archfit-scheduler").Container(amdOnly).Obj(), result: SkipNamespace},
		{name: "own namespace", ns: "archfit", pod: st.MakePod().Name("f2").SchedulerName("archfit-scheduler").Container(amdOnly).Obj(), result: SkipNamespace},
		{name: "nodeName set", ns: "default", pod: st.MakePod().Name("g").SchedulerName("archfit-scheduler").Node("n1").Container(amdOnly).Obj(), result: SkipNodeName},
		{name: "DaemonSet pod", ns: "default", pod: daemon, result: SkipDaemonSet},
		{name: "static pod mirror", ns: "default", pod: st.MakePod().Name("h").SchedulerName("archfit-scheduler").Annotation("kubernetes.io/config.mirror", "x").Container(amdOnly).Obj(), result: SkipMirror},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, m := newWebhook(t)
			got, resp := admit(t, w, tc.ns, tc.pod)
			if v := testutil.ToFloat64(m.Admissions.WithLabelValues(tc.result)); v != 1 {
				t.Fatalf("admissions{result=%s} = %v, want 1", tc.result, v)
			}
			if tc.result == "written" || tc.result == "gated" || tc.result == "pinned" {
				if resp.Patch == nil {
					t.Fatal("no patch for a pod in scope")
				}
			} else if resp.Patch != nil {
				t.Fatalf("a pod out of scope was patched: %s", resp.Patch)
			}
			if HasGate(got) != tc.gated || (got.Labels[GatedLabel] == "true") != tc.gated {
				t.Errorf("gated = %v (gates %v, labels %v), want %v", HasGate(got), got.Spec.SchedulingGates, got.Labels, tc.gated)
			}
			if tc.terms == nil {
				if diff := cmp.Diff(tc.pod.Spec.Affinity, got.Spec.Affinity); diff != "" {
					t.Errorf("affinity changed:\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tc.terms, got.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms); diff != "" {
				t.Errorf("terms (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWebhookReinvocation: a pod placement already wrote is left alone,
// as kube-apiserver's reinvocation would send it again.
func TestWebhookReinvocation(t *testing.T) {
	w, _ := newWebhook(t)
	first, _ := admit(t, w, "default", st.MakePod().Name("a").SchedulerName("archfit-scheduler").Container(multi).Obj())
	second, resp := admit(t, w, "default", first)
	if resp.Patch != nil {
		t.Fatalf("second admission patched again: %s", resp.Patch)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Fatalf("pod changed on reinvocation:\n%s", diff)
	}
}

// TestWebhookMalformed: bad requests get a clear HTTP error, which
// kube-apiserver's failurePolicy Ignore turns into an unchanged pod.
func TestWebhookMalformed(t *testing.T) {
	w, m := newWebhook(t)
	for _, tc := range []struct {
		name, method, body string
		code               int
	}{
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "{", http.StatusBadRequest},
		{"no request", http.MethodPost, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"too large", http.MethodPost, string(make([]byte, maxReviewBytes+2)), http.StatusRequestEntityTooLarge},
	} {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(tc.method, "/mutate-pods", bytes.NewReader([]byte(tc.body))))
		if rec.Code != tc.code {
			t.Errorf("%s: HTTP %d, want %d", tc.name, rec.Code, tc.code)
		}
	}
	if v := testutil.ToFloat64(m.Admissions.WithLabelValues("error")); v != 3 {
		t.Errorf("admissions{result=error} = %v, want 3 (the GET is not counted)", v)
	}
	// A pod that does not decode is admitted unchanged, with a warning.
	resp, result := w.Review(context.Background(), &admissionv1.AdmissionRequest{
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create, Namespace: "default",
		Object: runtime.RawExtension{Raw: []byte(`{"spec":{"containers":"not a list"}}`)},
	})
	if !resp.Allowed || resp.Patch != nil || len(resp.Warnings) != 1 || result != "error" {
		t.Errorf("undecodable pod: allowed %v patch %s warnings %v result %s", resp.Allowed, resp.Patch, resp.Warnings, result)
	}
}

package placement

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

// BenchmarkWebhookReview is one admission review of a pod whose images are
// cached, from the request body to the encoded response: the webhook's own
// share of admission latency (kube-apiserver adds TLS and the call).
func BenchmarkWebhookReview(b *testing.B) {
	w, _ := newWebhook(b)
	pod := st.MakePod().Name("web-7d9f-abcde").Namespace("default").SchedulerName("archfit-scheduler").
		Container(multi).Container(amdOnly).Label("app", "web").Obj()
	pod.Spec.InitContainers = pod.Spec.Containers[1:]
	pod.Spec.Containers = pod.Spec.Containers[:1]
	raw, _ := json.Marshal(pod)
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: "default", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body)))
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}

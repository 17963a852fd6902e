package placement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// FuzzWebhookServeHTTP sends fuzzed bodies through the webhook's HTTP
// handler as kube-apiserver would POST them. Whatever the body, the answer
// is a 4xx with a message when it is not an AdmissionReview with a request,
// and otherwise a 200 AdmissionReview that allows the request's UID, with
// at most a JSON Patch of the fields placement owns that applies to the pod.
func FuzzWebhookServeHTTP(f *testing.F) {
	w, _ := newWebhook(f)
	const create = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",` +
		`"kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"%s","object":` +
		`{"metadata":{"name":"p"},"spec":{%s"containers":[{"name":"c","image":"%s"}]}}}}`
	for _, s := range []string{
		fmt.Sprintf(create, "default", `"schedulerName":"archfit-scheduler",`, multi),
		fmt.Sprintf(create, "team-a", "", amdOnly),
		fmt.Sprintf(create, "team-a", `"nodeSelector":{"kubernetes.io/arch":"arm64"},`, slow),
		`{"request":{"uid":"u2","kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE"}}`,
		`{"request":{"uid":"u3","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":"x"}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"request":`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body)))
		var in admissionv1.AdmissionReview
		isReview := json.Unmarshal(body, &in) == nil && in.Request != nil
		if rec.Code != http.StatusOK {
			if rec.Code < 400 || rec.Code > 499 || isReview || len(bytes.TrimSpace(rec.Body.Bytes())) == 0 {
				t.Fatalf("HTTP %d %q for a body that is a review: %v", rec.Code, rec.Body, isReview)
			}
			return
		}
		if !isReview {
			t.Fatalf("HTTP 200 for a body that is not a review with a request: %s", rec.Body)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not an AdmissionReview with a response (%v): %s", err, rec.Body)
		}
		if out.Response.UID != in.Request.UID || !out.Response.Allowed {
			t.Fatalf("response for UID %q, allowed %v; want UID %q, allowed", out.Response.UID, out.Response.Allowed, in.Request.UID)
		}
		if out.Response.Patch != nil {
			checkPatch(t, in.Request.Object.Raw, out.Response)
		}
	})
}

// checkPatch: a patch changes only what placement owns, and applies to the
// pod the webhook decoded.
func checkPatch(t *testing.T, raw []byte, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	var ops []struct{ Op, Path string }
	if err := json.Unmarshal(resp.Patch, &ops); err != nil || len(ops) == 0 {
		t.Fatalf("patch is not a list of operations (%v): %s", err, resp.Patch)
	}
	owned := []string{"/metadata/labels", "/metadata/annotations", "/spec/affinity", "/spec/schedulingGates"}
	for _, op := range ops {
		if op.Op != "add" && op.Op != "remove" || !slices.Contains(owned, op.Path) {
			t.Fatalf("patch operation %s %s: not one of placement's", op.Op, op.Path)
		}
	}
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatalf("patched a pod that does not decode: %v", err)
	}
	doc, err := json.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch does not decode: %v: %s", err, resp.Patch)
	}
	patched, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("patch does not apply: %v: %s", err, resp.Patch)
	}
	if err := json.Unmarshal(patched, &corev1.Pod{}); err != nil {
		t.Fatalf("patched pod does not decode: %v", err)
	}
}

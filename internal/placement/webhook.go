package placement

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/imageplatform"
)

// maxReviewBytes bounds a request body. kube-apiserver's own limit on an
// object is 3 MiB; a review carries the object once more at most.
const maxReviewBytes = 7 << 20

// Webhook is the mutating admission webhook for pod CREATE. It never
// rejects a pod and never waits on a registry beyond Budget: when every
// image is known within it (usually from cache) it writes the constraint
// at once; otherwise it adds the scheduling gate, and the controller
// finishes.
type Webhook struct {
	Scope    Scope
	Evaluate func(context.Context, *corev1.Pod) imageplatform.PodPlatforms
	Budget   time.Duration
	Metrics  *Metrics
}

// ServeHTTP implements the AdmissionReview v1 protocol.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		http.Error(rw, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil || len(body) > maxReviewBytes {
		w.fail(rw, http.StatusRequestEntityTooLarge, fmt.Errorf("request body unreadable or over %d bytes", maxReviewBytes))
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		w.fail(rw, http.StatusBadRequest, fmt.Errorf("decoding AdmissionReview: %w", err))
		return
	}
	if review.Request == nil {
		w.fail(rw, http.StatusBadRequest, fmt.Errorf("AdmissionReview has no request"))
		return
	}
	resp, result := w.Review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		w.fail(rw, http.StatusInternalServerError, err)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write(out)
	w.Metrics.Admissions.WithLabelValues(result).Inc()
	w.Metrics.AdmissionDuration.Observe(time.Since(start).Seconds())
}

// fail answers with an HTTP error. kube-apiserver then applies the
// webhook's failurePolicy (Ignore in the shipped configuration): the pod is
// admitted unchanged, and ArchFit's Filter stays the safety net.
func (w *Webhook) fail(rw http.ResponseWriter, code int, err error) {
	w.Metrics.Admissions.WithLabelValues("error").Inc()
	klog.Background().V(2).Info("rejecting malformed admission request", "err", err)
	http.Error(rw, err.Error(), code)
}

// Review decides one request and returns the response (always allowed)
// and the result label.
func (w *Webhook) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != admissionv1.Create || req.SubResource != "" {
		return allow, "skipped_not_pod_create"
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		allow.Warnings = []string{"archfit-placement: pod not decoded, left unchanged: " + err.Error()}
		return allow, "error"
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	if why := w.Scope.Check(&pod, req.Namespace); why != "" {
		return allow, why
	}
	bctx, cancel := context.WithTimeout(ctx, w.Budget)
	images := w.Evaluate(bctx, &pod)
	cancel()
	mutated := pod.DeepCopy()
	d, ready := Decide(&pod, images, false)
	result := "gated"
	switch {
	case !ready:
		Gate(mutated)
	case d.Outcome == OutcomeConflict || d.Outcome == OutcomePolicy || d.Outcome == OutcomeUnconstrained:
		// These warrant a Warning Event, which only a pod with a name can
		// carry, and a pod has none yet during mutating admission when it
		// comes from generateName: the controller decides again and says so.
		Gate(mutated)
	default:
		Apply(mutated, d)
		result = string(d.Outcome)
	}
	patch, err := jsonPatch(&pod, mutated)
	if err != nil {
		allow.Warnings = []string{"archfit-placement: " + err.Error()}
		return allow, "error"
	}
	if len(patch) > 0 {
		pt := admissionv1.PatchTypeJSONPatch
		allow.Patch, allow.PatchType = patch, &pt
	}
	return allow, result
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// jsonPatch replaces each field placement may change, whole, when it
// differs. "add" on an existing member replaces it (RFC 6902), so one op
// serves whether or not the pod had the field.
func jsonPatch(before, after *corev1.Pod) ([]byte, error) {
	var ops []patchOp
	add := func(path string, b, a any, wasEmpty, empty bool) {
		if reflect.DeepEqual(b, a) || (wasEmpty && empty) {
			return
		}
		if empty {
			ops = append(ops, patchOp{Op: "remove", Path: path})
			return
		}
		ops = append(ops, patchOp{Op: "add", Path: path, Value: a})
	}
	add("/metadata/labels", before.Labels, after.Labels, len(before.Labels) == 0, len(after.Labels) == 0)
	add("/metadata/annotations", before.Annotations, after.Annotations, len(before.Annotations) == 0, len(after.Annotations) == 0)
	add("/spec/affinity", before.Spec.Affinity, after.Spec.Affinity, before.Spec.Affinity == nil, after.Spec.Affinity == nil)
	add("/spec/schedulingGates", before.Spec.SchedulingGates, after.Spec.SchedulingGates, len(before.Spec.SchedulingGates) == 0, len(after.Spec.SchedulingGates) == 0)
	if len(ops) == 0 {
		return nil, nil
	}
	return json.Marshal(ops)
}

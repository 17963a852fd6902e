package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/placement"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/test/harness/controlplane"
	"github.com/archfit/archfit/test/harness/placementtest"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// placementBench measures what archfit-placement's webhook adds to pod
// creation, with the images cached (the steady state): the webhook's own
// p99 from its histogram, and pods created per second by 16 clients with
// the webhook configuration installed (W) and deleted (O), in ABBA blocks
// against one control plane, as the throughput section does. Rounds F use
// a floor webhook instead: the same configuration calling a handler that
// only decodes the review and answers with a one-operation patch, which is
// what any mutating webhook costs kube-apiserver in this process.
func placementBench(ctx context.Context, pods int, order string) ([]row, error) {
	rounds, err := placementRounds(order)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "archfit-bench-placement-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	progress("placement: starting etcd, kube-apiserver, a registry and archfit-placement")
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	reg := registrytest.New()
	defer reg.Close()
	if _, err := reg.PushIndex("app/web:1", []string{"linux/amd64", "linux/arm64"}, false, true); err != nil {
		return nil, err
	}
	image := reg.Host + "/app/web:1"
	for _, ns := range []string{"archfit", "bench-probe"} {
		if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	srv, err := placementtest.NewServer(cp.Config, dir)
	if err != nil {
		return nil, err
	}
	if err := srv.Up(ctx, func(o *placementapp.Options) {
		o.InsecureRegistries = []string{reg.Host}
		o.LeaderElect = false
	}); err != nil {
		return nil, err
	}
	defer srv.Down()
	floor, floorCA, err := floorWebhook()
	if err != nil {
		return nil, err
	}
	defer floor.Close()
	installed := "O"
	install := func(kind string) error {
		if kind == installed {
			return nil
		}
		switch installed {
		case "P":
			if err := uninstallPolicy(ctx, cp); err != nil {
				return err
			}
			if err := placementtest.WaitCalled(ctx, cp.Client, "bench-probe", image, false); err != nil {
				return err
			}
		case "W", "F":
			if err := placementtest.Uninstall(ctx, cp.Client, "bench-probe", image); err != nil {
				return err
			}
		}
		installed = "O"
		switch kind {
		case "W":
			if err := srv.Install(ctx, cp.Client, "bench-probe", image); err != nil {
				return err
			}
		case "F":
			mwc, err := placementtest.WebhookConfiguration(floor.URL+placementapp.WebhookPath, floorCA)
			if err != nil {
				return err
			}
			if _, err := cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
				return err
			}
			if err := placementtest.WaitCalled(ctx, cp.Client, "bench-probe", image, true); err != nil {
				return err
			}
		case "P":
			if err := installPolicy(ctx, cp); err != nil {
				return err
			}
			if err := placementtest.WaitCalled(ctx, cp.Client, "bench-probe", image, true); err != nil {
				return err
			}
		}
		installed = kind
		return nil
	}
	// Warm: the image is now cached, and kube-apiserver has made its TLS
	// connections to both webhooks before any measured round.
	warm := []string{"F", "W"}
	if slices.Contains(rounds, "P") {
		warm = append(warm, "P")
	}
	for _, k := range warm {
		if err := install(k); err != nil {
			return nil, err
		}
		if _, err := createPods(ctx, cp, "bench-warm-"+strings.ToLower(k), image, 200, false); err != nil {
			return nil, err
		}
	}
	before, err := scrapeHistogram(srv.MetricsAddr, "archfit_placement_admission_duration_seconds")
	if err != nil {
		return nil, err
	}
	totals := map[string][]time.Duration{}
	lats := map[string][]time.Duration{}
	for i, r := range rounds {
		if err := install(r); err != nil {
			return nil, err
		}
		ns := fmt.Sprintf("bench-%d-%s", i, strings.ToLower(r))
		lat, err := createPods(ctx, cp, ns, image, pods, r == "A")
		if err != nil {
			return nil, err
		}
		total := lat[len(lat)-1]
		totals[r] = append(totals[r], total)
		lats[r] = append(lats[r], lat[:len(lat)-1]...)
		progress("placement: round %d (%s): %d pods in %v, %.0f pods/s", i+1, roundName[r], pods, total.Round(time.Millisecond), float64(pods)/total.Seconds())
		if err := cp.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
			return nil, err
		}
	}
	after, err := scrapeHistogram(srv.MetricsAddr, "archfit_placement_admission_duration_seconds")
	if err != nil {
		return nil, err
	}
	reviews := after.minus(before)
	results, err := scrapeCounter(srv.MetricsAddr, "archfit_placement_admissions_total", "result")
	if err != nil {
		return nil, err
	}
	out := []row{
		{"placement", "webhook p99, cached images (its own histogram, measured rounds)", fmt.Sprintf("%.2f ms over %d reviews", reviews.quantile(0.99)*1000, int(reviews.count)), "≤ 5 ms"},
	}
	for _, k := range []string{"W", "F", "P", "A"} {
		if len(totals[k]) == 0 {
			continue
		}
		ratio, blocks := blockRatios(rounds, k, totals, pods)
		goal := map[string]string{"W": "≥ 0.9", "F": "— (what any mutating webhook costs here)", "P": "— (what an in-process CEL mutation of the same size costs)", "A": "— (what the constraint itself costs, with no admission step)"}[k]
		out = append(out,
			row{"placement", fmt.Sprintf("pods created per second, %s ÷ no webhook (median of %d ABBA blocks; %s)", roundName[k], len(blocks), strings.Join(blocks, ", ")), fmt.Sprintf("%.3f", ratio), goal},
			row{"placement", fmt.Sprintf("pod CREATE p99 seen by the client, %s / no webhook", roundName[k]), fmt.Sprintf("%.1f / %.1f ms", pct(lats[k], 0.99), pct(lats["O"], 0.99)), "—"},
		)
	}
	out = append(out,
		row{"placement", "pods created per second, pooled: " + pooled(totals, pods), "", "—"},
		row{"placement", "admission results, whole run (written at admission / gated)", results, "—"})
	return out, nil
}

var roundName = map[string]string{"W": "archfit-placement's webhook", "F": "floor webhook", "P": "MutatingAdmissionPolicy", "A": "no webhook, affinity written by the client", "O": "no webhook"}

func pooled(totals map[string][]time.Duration, pods int) string {
	var parts []string
	for _, k := range []string{"W", "F", "P", "A", "O"} {
		if len(totals[k]) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", roundName[k], rate(totals[k], pods)))
		}
	}
	return strings.Join(parts, ", ")
}

// floorWebhook serves AdmissionReviews over TLS with the least a mutating
// webhook can do: decode the review, answer allowed with one patch
// operation (an annotation, which also tells the probe it was called).
func floorWebhook() (*httptest.Server, []byte, error) {
	ca, err := testcerts.NewCA("archfit-floor-webhook")
	if err != nil {
		return nil, nil, err
	}
	cert, key, err := ca.Issue("floor", "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, nil, err
	}
	patch := []byte(`[{"op":"add","path":"/metadata/annotations","value":{"` + placement.Annotation + `":"floor"}}]`)
	pt := admissionv1.PatchTypeJSONPatch
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		out, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: &admissionv1.AdmissionResponse{
			UID: review.Request.UID, Allowed: true, Patch: patch, PatchType: &pt}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	return srv, ca.CertPEM, nil
}

// createPods creates n archfit-scheduler pods from 16 clients, as a rollout
// of several Deployments would, and returns each Create's latency followed
// by the whole round's duration.
func createPods(ctx context.Context, cp *controlplane.ControlPlane, ns, image string, n int, placed bool) ([]time.Duration, error) {
	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	start := time.Now()
	err := parallel(n, func(i int) error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				SchedulerName: "archfit-scheduler",
				// No node matches: the round measures admission, not
				// scheduling.
				NodeSelector: map[string]string{"archfit.bench/none": "true"},
				Containers: []corev1.Container{{Name: "web", Image: image, Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
			},
		}
		if placed {
			p.Annotations = map[string]string{placement.Annotation: "client"}
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
					{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
				}}}}}}
		}
		t0 := time.Now()
		if _, err := cp.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
		mu.Lock()
		lat[i] = time.Since(t0)
		mu.Unlock()
		return nil
	})
	return append(lat, time.Since(start)), err
}

// blockRatios is the kind÷O rate for each block of four rounds that
// holds kind, and their median.
func blockRatios(rounds []string, kind string, totals map[string][]time.Duration, pods int) (float64, []string) {
	var ratios []float64
	seen := map[string]int{}
	for b := 0; b+4 <= len(rounds); b += 4 {
		got := map[string][]time.Duration{}
		for _, r := range rounds[b : b+4] {
			got[r] = append(got[r], totals[r][seen[r]])
			seen[r]++
		}
		if len(got[kind]) > 0 {
			ratios = append(ratios, rate(got[kind], pods)/rate(got["O"], pods))
		}
	}
	var s []string
	for _, r := range ratios {
		s = append(s, fmt.Sprintf("%.3f", r))
	}
	sort.Float64s(ratios)
	if len(ratios) == 0 {
		return math.NaN(), s
	}
	m := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		m = (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	}
	return m, s
}

func rate(ds []time.Duration, pods int) float64 {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	return float64(pods*len(ds)) / total.Seconds()
}

func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(math.Ceil(q*float64(len(s))))-1]) / float64(time.Millisecond)
}

// histogram is a scraped Prometheus histogram: cumulative counts per upper
// bound.
type histogram struct {
	bounds []float64
	counts []float64
	count  float64
}

func scrapeHistogram(addr, name string) (histogram, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return histogram{}, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return histogram{}, err
	}
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) != 1 {
		return histogram{}, fmt.Errorf("no single histogram %s on %s", name, addr)
	}
	h := mf.GetMetric()[0].GetHistogram()
	out := histogram{count: float64(h.GetSampleCount())}
	for _, b := range h.GetBucket() {
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.counts = append(out.counts, float64(b.GetCumulativeCount()))
	}
	return out, nil
}

// scrapeCounter renders a counter vector as label=value pairs.
func scrapeCounter(addr, name, label string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				parts = append(parts, fmt.Sprintf("%s=%.0f", l.GetValue(), m.GetCounter().GetValue()))
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " "), nil
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{bounds: h.bounds, count: h.count - o.count}
	for i := range h.counts {
		out.counts = append(out.counts, h.counts[i]-o.counts[i])
	}
	return out
}

// quantile interpolates linearly within the bucket, as PromQL's
// histogram_quantile does.
func (h histogram) quantile(q float64) float64 {
	rank := q * h.count
	lower, prev := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if c == prev {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = h.bounds[i], c
	}
	return math.Inf(1)
}

// placementRounds checks -placement-order: W (archfit-placement's
// webhook), F (the floor webhook) and O (none), in blocks of four with two
// O and two of one other kind, so that drift cancels within a block.
func placementRounds(order string) ([]string, error) {
	var out []string
	for _, c := range strings.ToUpper(order) {
		if !strings.ContainsRune("WFPAO", c) {
			return nil, fmt.Errorf("-placement-order %q: want only W, F, P, A and O, got %q", order, c)
		}
		out = append(out, string(c))
	}
	if len(out) == 0 || len(out)%4 != 0 {
		return nil, fmt.Errorf("-placement-order %q: want blocks of four rounds", order)
	}
	for i := 0; i < len(out); i += 4 {
		b := strings.Join(out[i:i+4], "")
		if strings.Count(b, "O") != 2 || (strings.Count(b, "W") != 2 && strings.Count(b, "F") != 2 && strings.Count(b, "P") != 2 && strings.Count(b, "A") != 2) {
			return nil, fmt.Errorf("-placement-order %q: rounds %d to %d must be two O and two of W, F, P or A", order, i+1, i+4)
		}
	}
	return out, nil
}

// benchPolicy names the MutatingAdmissionPolicy and its binding of rounds P.
const benchPolicy = "archfit-bench-in-process"

// installPolicy installs, for rounds P, a MutatingAdmissionPolicy that
// writes what archfit-placement writes for the bench's pods (the arch/os
// affinity and the annotation) with CEL inside kube-apiserver: what pod
// creation would cost if the cached case needed no webhook call.
func installPolicy(ctx context.Context, cp *controlplane.ControlPlane) error {
	const affinity = `Object.spec.affinity{nodeAffinity: Object.spec.affinity.nodeAffinity{
	  requiredDuringSchedulingIgnoredDuringExecution: Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution{
	    nodeSelectorTerms: [Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms{
	      matchExpressions: [
	        Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.matchExpressions{key: "kubernetes.io/arch", operator: "In", values: ["amd64", "arm64"]},
	        Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.matchExpressions{key: "kubernetes.io/os", operator: "In", values: ["linux"]}]}]}}}`
	never, ignore := admissionregistrationv1.NeverReinvocationPolicy, admissionregistrationv1.Ignore
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: benchPolicy},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy:      &ignore,
			ReinvocationPolicy: never,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{
				{Name: "archfit-scheduler", Expression: "object.spec.schedulerName == 'archfit-scheduler'"},
				{Name: "not-bound", Expression: "!has(object.spec.nodeName) || object.spec.nodeName == ''"},
			},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[
				  JSONPatch{op: "add", path: "/metadata/annotations", value: {"` + placement.Annotation + `": "policy"}},
				  JSONPatch{op: "add", path: "/spec/affinity", value: ` + affinity + `}]`},
			}},
		},
	}
	if _, err := cp.Client.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: benchPolicy},
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: benchPolicy},
	}
	_, err := cp.Client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{})
	return err
}

func uninstallPolicy(ctx context.Context, cp *controlplane.ControlPlane) error {
	if err := cp.Client.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Delete(ctx, benchPolicy, metav1.DeleteOptions{}); err != nil {
		return err
	}
	return cp.Client.AdmissionregistrationV1().MutatingAdmissionPolicies().Delete(ctx, benchPolicy, metav1.DeleteOptions{})
}

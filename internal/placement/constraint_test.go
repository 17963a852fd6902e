package placement

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Images used in the tables, with what their registries say.
const (
	multi   = "reg.example/app/multi:1"
	amdOnly = "reg.example/app/amd:1"
	armOnly = "reg.example/app/arm:1"
	winAmd  = "reg.example/app/win:1"
	slow    = "reg.example/app/slow:1"
	down    = "reg.example/app/down:1"
	missing = "reg.example/app/missing:1"
)

type mapResolver map[string]imageplatform.Result

func (m mapResolver) Resolve(_ context.Context, req imageplatform.Request) imageplatform.Result {
	if r, ok := m[req.Image]; ok {
		r.Image = req.Image
		return r
	}
	return imageplatform.Result{Image: req.Image, Source: imageplatform.SourceUnknown, Err: errors.New("no such image in the test")}
}

func (m mapResolver) ResolveCached(req imageplatform.Request) imageplatform.Result {
	return m.Resolve(context.Background(), req)
}

func platforms(ss ...string) []imageplatform.Platform {
	var out []imageplatform.Platform
	for _, s := range ss {
		p, err := imageplatform.ParsePlatform(s)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

func testResolver() mapResolver {
	return mapResolver{
		multi:   {Platforms: platforms("linux/arm64", "linux/amd64"), Source: imageplatform.SourceIndex},
		amdOnly: {Platforms: platforms("linux/amd64"), Source: imageplatform.SourceManifest},
		armOnly: {Platforms: platforms("linux/arm64"), Source: imageplatform.SourceManifest},
		winAmd:  {Platforms: platforms("linux/amd64", "linux/arm64", "windows/amd64"), Source: imageplatform.SourceIndex},
		slow:    {Source: imageplatform.SourceUnknown, Err: imageplatform.ErrPending},
		down:    {Source: imageplatform.SourceUnknown, Err: context.DeadlineExceeded},
		missing: {Source: imageplatform.SourceUnknown, Err: imageplatform.ErrInvalidReference},
	}
}

func evaluator(policy imageplatform.UnknownImagePolicy) *Evaluator {
	return &Evaluator{Resolver: testResolver(), Policy: imageplatform.PodPolicy{Unknown: policy, FallbackArchitectures: []string{"amd64"}}}
}

func req(key string, op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: vals}
}

var (
	linux   = req(imageplatform.LabelOS, corev1.NodeSelectorOpIn, "linux")
	both    = req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "amd64", "arm64")
	amd     = req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "amd64")
	zoneA   = req("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "a")
	zoneB   = req("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "b")
	noneArc = req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, UnresolvedArch)
)

func terms(ts ...[]corev1.NodeSelectorRequirement) []corev1.NodeSelectorTerm {
	out := make([]corev1.NodeSelectorTerm, len(ts))
	for i, t := range ts {
		out[i] = corev1.NodeSelectorTerm{MatchExpressions: t}
	}
	return out
}

func required(ts ...[]corev1.NodeSelectorRequirement) *corev1.NodeAffinity {
	return &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms(ts...)}}
}

// TestDecideAndApply is the merge rules' table: what each pod looks like
// after placement, and what it was told.
func TestDecideAndApply(t *testing.T) {
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zoneA}}}}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		policy  imageplatform.UnknownImagePolicy
		final   bool
		ready   bool
		outcome Outcome
		// wantTerms is the required terms after Apply; nil: the pod's
		// affinity is unchanged.
		wantTerms []corev1.NodeSelectorTerm
		summary   string
	}{
		{
			name: "multi-arch image, no affinity: one term", pod: st.MakePod().Name("p").Container(multi).Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, both}),
			summary: "written: linux/amd64,linux/arm64",
		},
		{
			name: "init container narrows: amd64-only init, multi-arch main", pod: st.MakePod().Name("p").Container(multi).Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, amd}),
			summary: "written: linux/amd64",
		},
		{
			name:  "two terms (zone a OR zone b): the platform is ANDed into each",
			pod:   st.MakePod().Name("p").Container(armOnly).NodeAffinity(required([]corev1.NodeSelectorRequirement{zoneA}, []corev1.NodeSelectorRequirement{zoneB})).Obj(),
			ready: true, outcome: OutcomeWritten,
			wantTerms: terms(
				[]corev1.NodeSelectorRequirement{zoneA, linux, req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "arm64")},
				[]corev1.NodeSelectorRequirement{zoneB, linux, req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "arm64")}),
			summary: "written: linux/arm64",
		},
		{
			name:  "a non-platform nodeSelector is not a pin",
			pod:   st.MakePod().Name("p").Container(multi).NodeSelector(map[string]string{"disktype": "ssd"}).Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, both}),
			summary: "written: linux/amd64,linux/arm64",
		},
		{
			name: "OSes with different arches: one term per OS",
			pod:  st.MakePod().Name("p").Container(winAmd).Obj(), ready: true, outcome: OutcomeWritten,
			wantTerms: terms(
				[]corev1.NodeSelectorRequirement{linux, both},
				[]corev1.NodeSelectorRequirement{req(imageplatform.LabelOS, corev1.NodeSelectorOpIn, "windows"), amd}),
			summary: "written: linux/amd64,linux/arm64,windows/amd64",
		},
		{
			name: "OSes with different arches under the pod's own term: one wider term, never more terms",
			pod:  st.MakePod().Name("p").Container(winAmd).NodeAffinity(required([]corev1.NodeSelectorRequirement{zoneA})).Obj(), ready: true, outcome: OutcomeWritten,
			wantTerms: terms([]corev1.NodeSelectorRequirement{zoneA, req(imageplatform.LabelOS, corev1.NodeSelectorOpIn, "linux", "windows"), both}),
			summary:   "written: linux/amd64,linux/arm64,windows/amd64",
		},
		{
			name:  "the archfit.dev/platforms override is honoured",
			pod:   st.MakePod().Name("p").Container(missing).Annotation(imageplatform.PlatformsAnnotation, "linux/arm64").Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "arm64")}),
			summary: "written: linux/arm64",
		},
		{
			name:  "pinned by nodeSelector, images agree: left as it is",
			pod:   st.MakePod().Name("p").Container(multi).NodeSelector(map[string]string{imageplatform.LabelArch: "arm64"}).Obj(),
			ready: true, outcome: OutcomePinned, summary: "pinned: linux/arm64",
		},
		{
			name:  "pinned by affinity to an arch the image lacks: left, conflict",
			pod:   st.MakePod().Name("p").Container(amdOnly).NodeAffinity(required([]corev1.NodeSelectorRequirement{req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "arm64")})).Obj(),
			ready: true, outcome: OutcomeConflict, summary: "conflict: linux/arm64",
		},
		{
			name:  "pinned by the beta label too",
			pod:   st.MakePod().Name("p").Container(amdOnly).NodeSelector(map[string]string{imageplatform.LabelArchBeta: "amd64", imageplatform.LabelOSBeta: "linux"}).Obj(),
			ready: true, outcome: OutcomePinned, summary: "pinned: linux/amd64",
		},
		{
			name: "lookup still running: not ready", pod: st.MakePod().Name("p").Container(slow).Obj(), ready: false,
		},
		{
			name: "registry timed out: not ready before the deadline", pod: st.MakePod().Name("p").Container(down).Obj(), ready: false,
		},
		{
			name: "registry timed out, at the deadline, Fallback: amd64", pod: st.MakePod().Name("p").Container(down).Obj(), final: true,
			ready: true, outcome: OutcomePolicy, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, amd}), summary: "policy: linux/amd64",
		},
		{
			name: "still pending at the deadline, Fallback, with a known multi-arch image: amd64", pod: st.MakePod().Name("p").Container(multi).Container(slow).Obj(),
			final: true, ready: true, outcome: OutcomePolicy, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, amd}), summary: "policy: linux/amd64",
		},
		{
			name: "a bad reference is not transient: the policy at once", pod: st.MakePod().Name("p").Container(missing).Obj(),
			ready: true, outcome: OutcomePolicy, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, amd}), summary: "policy: linux/amd64",
		},
		{
			name: "Deny: an arch no node has", pod: st.MakePod().Name("p").Container(missing).Obj(), policy: imageplatform.PolicyDeny,
			ready: true, outcome: OutcomePolicy, wantTerms: terms([]corev1.NodeSelectorRequirement{noneArc}), summary: "policy: none",
		},
		{
			name: "AllowAll over unknown images only: nothing written", pod: st.MakePod().Name("p").Container(missing).Obj(), policy: imageplatform.PolicyAllowAll,
			ready: true, outcome: OutcomeUnconstrained, summary: "unconstrained",
		},
		{
			name: "AllowAll: known images still constrain", pod: st.MakePod().Name("p").Container(armOnly).Container(missing).Obj(), policy: imageplatform.PolicyAllowAll,
			ready: true, outcome: OutcomePolicy, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, "arm64")}), summary: "policy: linux/arm64",
		},
		{
			name: "images with no platform in common: nothing can run it", pod: st.MakePod().Name("p").Container(amdOnly).Container(armOnly).Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{noneArc}), summary: "written: none",
		},
		{
			name:  "preferred affinity is kept as it is",
			pod:   st.MakePod().Name("p").Container(amdOnly).NodeAffinity(&corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}).Obj(),
			ready: true, outcome: OutcomeWritten, wantTerms: terms([]corev1.NodeSelectorRequirement{linux, amd}), summary: "written: linux/amd64",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "init container narrows: amd64-only init, multi-arch main" {
				tc.pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: amdOnly}}
			}
			policy := tc.policy
			if policy == "" {
				policy = imageplatform.PolicyFallback
			}
			before := tc.pod.DeepCopy()
			images := evaluator(policy).Evaluate(context.Background(), tc.pod)
			d, ready := Decide(tc.pod, images, tc.final)
			if ready != tc.ready {
				t.Fatalf("ready = %v, want %v (images %+v)", ready, tc.ready, images)
			}
			if !ready {
				return
			}
			if d.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s", d.Outcome, tc.outcome)
			}
			got := tc.pod.DeepCopy()
			Apply(got, d)
			if got.Annotations[Annotation] != tc.summary {
				t.Errorf("annotation = %q, want %q", got.Annotations[Annotation], tc.summary)
			}
			if tc.wantTerms == nil {
				if diff := cmp.Diff(before.Spec.Affinity, got.Spec.Affinity); diff != "" {
					t.Errorf("affinity changed for a pod placement must leave alone (-before +after):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(tc.wantTerms, got.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms); diff != "" {
				t.Errorf("required terms (-want +got):\n%s", diff)
			}
			if b := before.Spec.Affinity; b != nil && b.NodeAffinity != nil {
				if diff := cmp.Diff(b.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution, got.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution); diff != "" {
					t.Errorf("preferred terms changed:\n%s", diff)
				}
			}
			// The input pod is never modified.
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("Decide/Evaluate modified the input pod:\n%s", diff)
			}
		})
	}
}

// TestApplyIsIdempotent: applying a decision again changes nothing, and a
// placed pod is out of scope for good.
func TestApplyIsIdempotent(t *testing.T) {
	pod := st.MakePod().Name("p").SchedulerName("archfit-scheduler").Container(multi).NodeAffinity(required([]corev1.NodeSelectorRequirement{zoneA})).Obj()
	Gate(pod)
	d, _ := Decide(pod, evaluator(imageplatform.PolicyFallback).Evaluate(context.Background(), pod), false)
	once := pod.DeepCopy()
	Apply(once, d)
	twice := once.DeepCopy()
	Apply(twice, d)
	if diff := cmp.Diff(once, twice); diff != "" {
		t.Fatalf("second Apply changed the pod:\n%s", diff)
	}
	if HasGate(once) || once.Labels[GatedLabel] != "" {
		t.Errorf("gate or label left after Apply: gates %v labels %v", once.Spec.SchedulingGates, once.Labels)
	}
	if got := (Scope{SchedulerNames: []string{"archfit-scheduler"}}).Check(once, "default"); got != SkipAlreadyDone {
		t.Errorf("a placed pod's scope check = %q, want %q", got, SkipAlreadyDone)
	}
}

// TestSameTemplateSameAffinity: replicas of one template get identical
// affinity whatever order the registry lists platforms in.
func TestSameTemplateSameAffinity(t *testing.T) {
	r := testResolver()
	flipped := r[multi]
	flipped.Platforms = platforms("linux/amd64", "linux/arm64")
	r2 := mapResolver{multi: flipped}
	pod := func() *corev1.Pod { return st.MakePod().Name("p").Container(multi).Obj() }
	var got []*corev1.Affinity
	for _, res := range []imageplatform.Resolver{r, r2} {
		ev := &Evaluator{Resolver: res, Policy: imageplatform.PodPolicy{Unknown: imageplatform.PolicyFallback, FallbackArchitectures: []string{"amd64"}}}
		p := pod()
		d, _ := Decide(p, ev.Evaluate(context.Background(), p), false)
		Apply(p, d)
		got = append(got, p.Spec.Affinity)
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Fatalf("same template, different affinity:\n%s", diff)
	}
}

// TestGateKeepsOtherGates: placement adds and removes only its own gate.
func TestGateKeepsOtherGates(t *testing.T) {
	pod := st.MakePod().Name("p").SchedulingGates([]string{"example.com/quota"}).Obj()
	Gate(pod)
	Gate(pod)
	if got := len(pod.Spec.SchedulingGates); got != 2 {
		t.Fatalf("gates after two Gate calls = %v, want the other gate and ours", pod.Spec.SchedulingGates)
	}
	Ungate(pod)
	if diff := cmp.Diff([]corev1.PodSchedulingGate{{Name: "example.com/quota"}}, pod.Spec.SchedulingGates); diff != "" {
		t.Fatalf("Ungate removed another gate:\n%s", diff)
	}
}

func TestExplain(t *testing.T) {
	policy := imageplatform.PodPolicy{Unknown: imageplatform.PolicyFallback, FallbackArchitectures: []string{"amd64"}}
	ev := evaluator(imageplatform.PolicyFallback)
	tests := []struct {
		pod    *corev1.Pod
		final  bool
		typ    string
		reason string
		note   string
	}{
		{st.MakePod().Container(multi).Obj(), false, corev1.EventTypeNormal, ReasonWritten,
			"wrote required node affinity kubernetes.io/os In [linux] and kubernetes.io/arch In [amd64,arm64]: the platforms every image is built for (reg.example/app/multi:1: linux/arm64,linux/amd64)"},
		{st.MakePod().Container(down).Obj(), true, corev1.EventTypeWarning, ReasonPolicy,
			"could not learn the platforms of reg.example/app/down:1 (timeout: context deadline exceeded); unknownImagePolicy Fallback: wrote required node affinity kubernetes.io/os In [linux] and kubernetes.io/arch In [amd64]"},
		{st.MakePod().Container(amdOnly).NodeSelector(map[string]string{imageplatform.LabelArch: "arm64"}).Obj(), false, corev1.EventTypeWarning, ReasonPinConflict,
			"the pod's own nodeSelector/affinity admits linux/arm64 but its images run on linux/amd64 (reg.example/app/amd:1: linux/amd64); left as it is: placement never overrides a pod's own constraint"},
	}
	for _, tc := range tests {
		d, ready := Decide(tc.pod, ev.Evaluate(context.Background(), tc.pod), tc.final)
		if !ready {
			t.Fatalf("%s: not ready", tc.note)
		}
		typ, reason, note := Explain(d, policy)
		if typ != tc.typ || reason != tc.reason || note != tc.note {
			t.Errorf("Explain = %s %s %q\nwant      %s %s %q", typ, reason, note, tc.typ, tc.reason, tc.note)
		}
	}
}

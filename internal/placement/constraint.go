package placement

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Names written onto pods. They are a contract with operators' tooling and
// with the uninstall procedure in the operator guide.
const (
	// GateName is the scheduling gate a pod carries while its images are
	// being resolved. No scheduler, cluster-autoscaler included, considers
	// a gated pod, so a pod is never placed before its constraint is known.
	GateName = "archfit.dev/image-platforms"
	// GatedLabel marks a gated pod, so the controller watches only those
	// pods and an operator can list them (kubectl get pods -A -l
	// archfit.dev/gated). It is removed with the gate.
	GatedLabel = "archfit.dev/gated"
	// Annotation records what placement decided and why. Its presence makes
	// placement idempotent: a pod that carries it is never changed again.
	Annotation = "archfit.dev/placement"
	// UnresolvedArch is the arch value written under unknownImagePolicy
	// Deny. No node carries it, so the pod stays Pending, visibly, until it
	// is recreated once its images can be resolved: fail closed without
	// holding a gate forever.
	UnresolvedArch = "archfit-unresolved-image"
)

// Outcome is what placement did with a pod; it is a metric label and an
// Event reason's basis, so the set is fixed.
type Outcome string

const (
	// OutcomeWritten: the images' platforms were written as required node
	// affinity.
	OutcomeWritten Outcome = "written"
	// OutcomePolicy: an image's platforms could not be learned; the
	// unknownImagePolicy's answer was written.
	OutcomePolicy Outcome = "policy"
	// OutcomeUnconstrained: nothing constrains the pod (AllowAll over
	// images that are all unknown); nothing was written.
	OutcomeUnconstrained Outcome = "unconstrained"
	// OutcomePinned: the pod pins os/arch itself and its images agree; it
	// was left as it is.
	OutcomePinned Outcome = "pinned"
	// OutcomeConflict: the pod pins os/arch itself to a platform an image
	// lacks. It is left as it is (placement never overrides a pod's own
	// constraint), with a Warning.
	OutcomeConflict Outcome = "conflict"
)

// Decision is what placement will write onto one pod.
type Decision struct {
	Outcome Outcome
	// Allowed is the set written (sorted), for OutcomeWritten and
	// OutcomePolicy; empty there means no platform, written as
	// UnresolvedArch.
	Allowed []imageplatform.OSArch
	// Pinned is the set the pod's own pin admits, for OutcomePinned and
	// OutcomeConflict.
	Pinned []imageplatform.OSArch
	// Images is the images' verdicts, for messages.
	Images imageplatform.PodPlatforms
}

// Decide turns an images-only evaluation (ImagesOnly) into a decision.
// ready is false while an image is still being looked up, or failed in a
// way that may clear soon, and final is false: the caller gates the pod and
// asks again later. With final set it always decides, applying the policy
// the evaluation was made with to whatever is still unknown.
func Decide(pod *corev1.Pod, images imageplatform.PodPlatforms, final bool) (d Decision, ready bool) {
	if !final {
		if len(images.Pending) > 0 {
			return Decision{}, false
		}
		for _, u := range images.Unknown {
			if imageplatform.IsTransient(u.Result.Err) {
				return Decision{}, false
			}
		}
	}
	d.Images = images
	if pin := imageplatform.PinSelector(pod); pin != nil {
		// Judge the pin on the OSes the images are built for: a pod that
		// pins only kubernetes.io/arch=arm64 also admits windows/arm64 in
		// principle, but an OS mismatch is kept away by the taints Windows
		// nodes carry, not by arch, and is not what this check is about.
		oses := map[string]bool{}
		for _, p := range images.Allowed {
			oses[p.OS] = true
		}
		if images.Unconstrained || len(oses) == 0 {
			oses["linux"] = true
		}
		for _, p := range imageplatform.KnownPlatforms() {
			if pin(p) && oses[p.OS] {
				d.Pinned = append(d.Pinned, p)
			}
		}
		sortPlatforms(d.Pinned)
		d.Outcome = OutcomePinned
		for _, p := range d.Pinned {
			if !images.Allows(p.OS, p.Arch) {
				d.Outcome = OutcomeConflict
				break
			}
		}
		return d, true
	}
	switch {
	case images.Unconstrained:
		d.Outcome = OutcomeUnconstrained
	case len(images.Pending) > 0 || len(images.Unknown) > 0 || images.OverrideErr != nil:
		d.Outcome = OutcomePolicy
	default:
		d.Outcome = OutcomeWritten
	}
	d.Allowed = slices.Clone(images.Allowed)
	sortPlatforms(d.Allowed)
	return d, true
}

// Writes reports whether the decision adds node affinity to the pod.
func (d Decision) Writes() bool { return d.Outcome == OutcomeWritten || d.Outcome == OutcomePolicy }

// Summary is the annotation's value: what was decided, in one line.
func (d Decision) Summary() string {
	switch d.Outcome {
	case OutcomeWritten, OutcomePolicy:
		return fmt.Sprintf("%s: %s", d.Outcome, describe(d.Allowed))
	case OutcomePinned, OutcomeConflict:
		return fmt.Sprintf("%s: %s", d.Outcome, describe(d.Pinned))
	}
	return string(d.Outcome)
}

func describe(ps []imageplatform.OSArch) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func sortPlatforms(ps []imageplatform.OSArch) {
	slices.SortFunc(ps, func(a, b imageplatform.OSArch) int { return strings.Compare(a.String(), b.String()) })
}

// ImagesOnly returns a copy of the pod without its own scheduling
// constraints, so that EvaluatePod on it yields what the images (and the
// archfit.dev/platforms override) allow, apart from any pin the pod has.
func ImagesOnly(pod *corev1.Pod) *corev1.Pod {
	c := *pod
	c.Spec.NodeSelector = nil
	c.Spec.Affinity = nil
	return &c
}

// Apply writes the decision onto pod (which the caller owns): the merged
// required node affinity when the decision writes one, the annotation, and
// the gate and its label removed. Applying the same decision twice gives
// the same pod.
func Apply(pod *corev1.Pod, d Decision) {
	if d.Writes() {
		pod.Spec.Affinity = mergeAffinity(pod.Spec.Affinity, d.Allowed)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[Annotation] = d.Summary()
	Ungate(pod)
}

// Gate adds the scheduling gate and its label, once.
func Gate(pod *corev1.Pod) {
	if !HasGate(pod) {
		pod.Spec.SchedulingGates = append(pod.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: GateName})
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[GatedLabel] = "true"
}

// Ungate removes placement's gate and label, leaving any other gate.
func Ungate(pod *corev1.Pod) {
	pod.Spec.SchedulingGates = slices.DeleteFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == GateName })
	if len(pod.Spec.SchedulingGates) == 0 {
		pod.Spec.SchedulingGates = nil
	}
	delete(pod.Labels, GatedLabel)
}

// HasGate reports whether the pod carries placement's gate.
func HasGate(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == GateName })
}

// mergeAffinity narrows the pod's required node affinity to the allowed
// platforms. nodeSelectorTerms are ORed, so the platform requirement is
// ANDed into every term: the pod's own constraint is never widened, and a
// pod without one gets a single term. Platforms are grouped by OS, one term
// per OS, unless every OS allows the same arches, when one term says both
// lists; either way the terms admit exactly the allowed set. Preferred
// affinity is left alone: cluster-autoscaler ignores it, and cost
// preference is the scheduler's.
func mergeAffinity(in *corev1.Affinity, allowed []imageplatform.OSArch) *corev1.Affinity {
	out := &corev1.Affinity{}
	if in != nil {
		out = in.DeepCopy()
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	req := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	var terms []corev1.NodeSelectorTerm
	if req == nil || len(req.NodeSelectorTerms) == 0 {
		terms = []corev1.NodeSelectorTerm{{}}
	} else {
		terms = req.NodeSelectorTerms
	}
	groups := platformTerms(allowed)
	if len(groups) > 1 && req != nil && len(req.NodeSelectorTerms) > 0 {
		// kube-apiserver lets a gated pod's existing terms be narrowed,
		// not multiplied, and the webhook and the controller must write
		// the same thing for one template. So a pod with terms of its own
		// gets one term: every OS and every arch allowed, a superset of
		// the exact set only when the OSes allow different arches.
		groups = unionTerm(allowed)
	}
	merged := make([]corev1.NodeSelectorTerm, 0, len(terms)*len(groups))
	for _, t := range terms {
		for _, g := range groups {
			m := *t.DeepCopy()
			for _, e := range g {
				// Skipping an expression the term already has makes a
				// second Apply a no-op.
				if !slices.ContainsFunc(m.MatchExpressions, func(x corev1.NodeSelectorRequirement) bool { return reflect.DeepEqual(x, e) }) {
					m.MatchExpressions = append(m.MatchExpressions, e)
				}
			}
			merged = append(merged, m)
		}
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: merged}
	return out
}

// unionTerm is one term admitting every OS and every arch of allowed.
func unionTerm(allowed []imageplatform.OSArch) [][]corev1.NodeSelectorRequirement {
	var oses, archs []string
	for _, p := range allowed {
		if !slices.Contains(oses, p.OS) {
			oses = append(oses, p.OS)
		}
		if !slices.Contains(archs, p.Arch) {
			archs = append(archs, p.Arch)
		}
	}
	slices.Sort(oses)
	slices.Sort(archs)
	return [][]corev1.NodeSelectorRequirement{{
		{Key: imageplatform.LabelOS, Operator: corev1.NodeSelectorOpIn, Values: oses},
		{Key: imageplatform.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: archs},
	}}
}

// platformTerms returns the expressions for each term that together admit
// exactly the allowed platforms.
func platformTerms(allowed []imageplatform.OSArch) [][]corev1.NodeSelectorRequirement {
	if len(allowed) == 0 {
		return [][]corev1.NodeSelectorRequirement{{{Key: imageplatform.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: []string{UnresolvedArch}}}}
	}
	var oses []string
	archs := map[string][]string{}
	for _, p := range allowed {
		if _, ok := archs[p.OS]; !ok {
			oses = append(oses, p.OS)
		}
		if !slices.Contains(archs[p.OS], p.Arch) {
			archs[p.OS] = append(archs[p.OS], p.Arch)
		}
	}
	slices.Sort(oses)
	for _, os := range oses {
		slices.Sort(archs[os])
	}
	same := true
	for _, os := range oses[1:] {
		if !slices.Equal(archs[os], archs[oses[0]]) {
			same = false
		}
	}
	expr := func(oses, archs []string) []corev1.NodeSelectorRequirement {
		return []corev1.NodeSelectorRequirement{
			{Key: imageplatform.LabelOS, Operator: corev1.NodeSelectorOpIn, Values: slices.Clone(oses)},
			{Key: imageplatform.LabelArch, Operator: corev1.NodeSelectorOpIn, Values: slices.Clone(archs)},
		}
	}
	if same {
		return [][]corev1.NodeSelectorRequirement{expr(oses, archs[oses[0]])}
	}
	out := make([][]corev1.NodeSelectorRequirement, 0, len(oses))
	for _, os := range oses {
		out = append(out, expr([]string{os}, archs[os]))
	}
	return out
}

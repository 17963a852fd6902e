package imageplatform

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Well-known node labels that carry a node's platform. The beta labels are
// still set by kubelets and still used in old pod specs.
const (
	LabelArch     = "kubernetes.io/arch"
	LabelOS       = "kubernetes.io/os"
	LabelArchBeta = "beta.kubernetes.io/arch"
	LabelOSBeta   = "beta.kubernetes.io/os"
)

// UnknownImagePolicy decides what a pod may run on when an image's platforms
// cannot be learned (registry down, unauthorised, timeout, malformed).
type UnknownImagePolicy string

const (
	// PolicyFallback restricts the pod to the fallback architectures. An
	// unknown image is most likely x86, and an amd64 node is where it ran
	// before archfit existed: fail safe, not fail open.
	PolicyFallback UnknownImagePolicy = "Fallback"
	// PolicyAllowAll lets the unknown image run anywhere (fail open); the
	// risk of an exec format error is accepted.
	PolicyAllowAll UnknownImagePolicy = "AllowAll"
	// PolicyDeny keeps the pod off every node until the image is known (fail
	// closed).
	PolicyDeny UnknownImagePolicy = "Deny"
)

// ParseUnknownImagePolicy validates a policy name.
func ParseUnknownImagePolicy(s string) (UnknownImagePolicy, error) {
	switch p := UnknownImagePolicy(s); p {
	case PolicyFallback, PolicyAllowAll, PolicyDeny:
		return p, nil
	}
	return "", fmt.Errorf("unknown image policy %q: want Fallback, AllowAll or Deny", s)
}

// PodPolicy is the part of configuration that the whole-pod rule needs.
type PodPolicy struct {
	Unknown UnknownImagePolicy
	// FallbackArchitectures, on linux, for PolicyFallback.
	FallbackArchitectures []string
}

// KnownPlatforms is the universe used when a pod is not constrained by its
// images (AllowAll on an unknown image) but is by its own affinity: the
// platforms Kubernetes nodes actually run.
var knownPlatforms = []OSArch{
	{"linux", "amd64"}, {"linux", "arm64"}, {"linux", "arm"}, {"linux", "ppc64le"},
	{"linux", "s390x"}, {"linux", "riscv64"}, {"linux", "386"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// ImageVerdict is one container image's contribution to a pod's decision.
type ImageVerdict struct {
	Container string
	Result    Result
}

// PodPlatforms is what a pod can run on. When Unconstrained is true, nothing
// restricts it and Allowed is empty; otherwise only Allowed node platforms
// fit (an empty Allowed means no node fits).
type PodPlatforms struct {
	Unconstrained bool
	Allowed       []OSArch
	Images        []ImageVerdict
	// Pending lists images whose lookup had not finished in the budget.
	Pending []string
	// Unknown lists images whose platforms could not be learned, with why.
	Unknown []ImageVerdict
	// OverrideErr is set when the archfit.dev/platforms annotation is
	// malformed; the pod is then judged as if every image were unknown.
	OverrideErr error
}

// Allows reports whether a node of this os/arch fits. It does not allocate.
func (p *PodPlatforms) Allows(os, arch string) bool {
	if p.Unconstrained {
		return true
	}
	for _, a := range p.Allowed {
		if a.Arch == arch && a.OS == os {
			return true
		}
	}
	return false
}

// AllowsArch reports whether any OS with this arch fits.
func (p *PodPlatforms) AllowsArch(arch string) bool {
	if p.Unconstrained {
		return true
	}
	for _, a := range p.Allowed {
		if a.Arch == arch {
			return true
		}
	}
	return false
}

// BlockingImages lists the images that lack the given arch, for Events that
// name the image that keeps a pod off cheaper nodes.
func (p *PodPlatforms) BlockingImages(os, arch string) []string {
	var out []string
	for _, v := range p.Images {
		if v.Result.Err != nil || v.Result.Source == SourceUnknown {
			continue
		}
		ok := false
		for _, pl := range v.Result.Platforms {
			if pl.OS == os && pl.Architecture == arch {
				ok = true
				break
			}
		}
		if !ok && !slices.Contains(out, v.Result.Image) {
			out = append(out, v.Result.Image)
		}
	}
	return out
}

// PodImages lists every image a pod runs, with the container that names it:
// init, regular and ephemeral containers alike, since each must exec.
func PodImages(pod *corev1.Pod) []ImageVerdict {
	var out []ImageVerdict
	for _, c := range pod.Spec.InitContainers {
		out = append(out, ImageVerdict{Container: c.Name, Result: Result{Image: c.Image}})
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, ImageVerdict{Container: c.Name, Result: Result{Image: c.Image}})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		out = append(out, ImageVerdict{Container: c.Name, Result: Result{Image: c.Image}})
	}
	return out
}

// EvaluatePod computes the platforms a pod can run on: the intersection over
// all its images, narrowed by its own nodeSelector and required node
// affinity on the os/arch labels. resolve is called once per distinct image.
// It is the single rule both the scheduler plugin and the expander apply.
func EvaluatePod(ctx context.Context, pod *corev1.Pod, policy PodPolicy, resolve func(context.Context, string) Result) PodPlatforms {
	out := PodPlatforms{Images: PodImages(pod)}

	var override []Platform
	if v, ok := pod.Annotations[PlatformsAnnotation]; ok {
		ps, err := ParsePlatformList(v)
		if err != nil {
			out.OverrideErr = fmt.Errorf("%w: %v", ErrInvalidOverride, err)
		} else {
			override = ps
		}
	}

	seen := map[string]Result{}
	for i := range out.Images {
		img := out.Images[i].Result.Image
		res, ok := seen[img]
		if !ok {
			switch {
			case out.OverrideErr != nil:
				res = Result{Image: img, Source: SourceUnknown, Err: out.OverrideErr}
			case override != nil:
				res = Result{Image: img, Platforms: override, Source: SourceOverride, Cached: true}
			default:
				res = resolve(ctx, img)
			}
			seen[img] = res
		}
		out.Images[i].Result = res
	}

	// Start from everything, narrow by each image.
	var allowed []OSArch
	constrained := false
	intersect := func(set []OSArch) {
		if !constrained {
			allowed = append([]OSArch(nil), set...)
			constrained = true
			return
		}
		allowed = slices.DeleteFunc(allowed, func(a OSArch) bool { return !slices.Contains(set, a) })
	}
	reported := map[string]bool{}
	for _, v := range out.Images {
		res := v.Result
		if res.Err == nil && res.Source != SourceUnknown {
			set := make([]OSArch, 0, len(res.Platforms))
			for _, p := range res.Platforms {
				if !slices.Contains(set, p.OSArch()) {
					set = append(set, p.OSArch())
				}
			}
			intersect(set)
			continue
		}
		if !reported[res.Image] {
			reported[res.Image] = true
			if res.IsPending() {
				out.Pending = append(out.Pending, res.Image)
			} else {
				out.Unknown = append(out.Unknown, v)
			}
		}
		switch policy.Unknown {
		case PolicyAllowAll:
		case PolicyDeny:
			intersect(nil)
		default:
			fb := make([]OSArch, 0, len(policy.FallbackArchitectures))
			for _, a := range policy.FallbackArchitectures {
				fb = append(fb, OSArch{OS: "linux", Arch: a})
			}
			intersect(fb)
		}
	}

	// The pod's own os/arch constraints.
	if sel := podPlatformSelector(pod); sel != nil {
		if !constrained {
			allowed = append([]OSArch(nil), knownPlatforms...)
			constrained = true
		}
		allowed = slices.DeleteFunc(allowed, func(a OSArch) bool { return !sel(a) })
	}

	out.Unconstrained = !constrained
	sort.Slice(allowed, func(i, j int) bool { return allowed[i].String() < allowed[j].String() })
	out.Allowed = allowed
	return out
}

// podPlatformSelector returns a predicate over node platforms from the pod's
// nodeSelector and required node affinity, considering only os/arch label
// requirements (other requirements are for NodeAffinity to judge), or nil
// when the pod says nothing about os/arch.
func podPlatformSelector(pod *corev1.Pod) func(OSArch) bool {
	var preds []func(OSArch) bool
	for k, v := range pod.Spec.NodeSelector {
		if isArchKey(k) || isOSKey(k) {
			k, v := k, v
			preds = append(preds, func(a OSArch) bool { return labelOf(a, k) == v })
		}
	}
	if aff := pod.Spec.Affinity; aff != nil && aff.NodeAffinity != nil && aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		relevant := false
		for _, t := range terms {
			for _, e := range t.MatchExpressions {
				if isArchKey(e.Key) || isOSKey(e.Key) {
					relevant = true
				}
			}
		}
		if relevant {
			preds = append(preds, func(a OSArch) bool {
				for _, t := range terms { // terms are ORed
					if termAllows(t, a) {
						return true
					}
				}
				return false
			})
		}
	}
	if len(preds) == 0 {
		return nil
	}
	return func(a OSArch) bool {
		for _, p := range preds {
			if !p(a) {
				return false
			}
		}
		return true
	}
}

func termAllows(t corev1.NodeSelectorTerm, a OSArch) bool {
	for _, e := range t.MatchExpressions { // expressions are ANDed
		if !isArchKey(e.Key) && !isOSKey(e.Key) {
			continue
		}
		v := labelOf(a, e.Key)
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			if !slices.Contains(e.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if slices.Contains(e.Values, v) {
				return false
			}
		case corev1.NodeSelectorOpDoesNotExist:
			return false // every node carries these labels
		}
	}
	return true
}

func isArchKey(k string) bool { return k == LabelArch || k == LabelArchBeta }
func isOSKey(k string) bool   { return k == LabelOS || k == LabelOSBeta }

func labelOf(a OSArch, key string) string {
	if isArchKey(key) {
		return a.Arch
	}
	return a.OS
}

// NodePlatform reads a node's os/arch: the well-known labels first, then
// status.nodeInfo, which the kubelet always reports. ok is false when the
// node says nothing about its arch.
func NodePlatform(node *corev1.Node) (os, arch string, ok bool) {
	arch = node.Labels[LabelArch]
	if arch == "" {
		arch = node.Labels[LabelArchBeta]
	}
	if arch == "" {
		arch = node.Status.NodeInfo.Architecture
	}
	os = node.Labels[LabelOS]
	if os == "" {
		os = node.Labels[LabelOSBeta]
	}
	if os == "" {
		os = node.Status.NodeInfo.OperatingSystem
	}
	if os == "" {
		os = "linux"
	}
	return os, arch, arch != ""
}

// Describe renders the allowed set for messages.
func (p *PodPlatforms) Describe() string {
	if p.Unconstrained {
		return "any"
	}
	if len(p.Allowed) == 0 {
		return "none"
	}
	parts := make([]string, len(p.Allowed))
	for i, a := range p.Allowed {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// PinSelector is the pod's own os/arch constraint (nodeSelector and required
// node affinity on the well-known labels) as a predicate over platforms, or
// nil when the pod sets none. Placement uses it to leave pinned pods alone.
func PinSelector(pod *corev1.Pod) func(OSArch) bool { return podPlatformSelector(pod) }

// KnownPlatforms lists the platforms Kubernetes nodes run, the universe a
// pin is judged against.
func KnownPlatforms() []OSArch { return slices.Clone(knownPlatforms) }

// IsTransient reports whether a lookup failure may clear on its own soon
// (a slow, overloaded or unreachable registry), as opposed to one that will
// give the same answer next time (a bad reference, a missing image, a
// refused credential). Placement waits out the first kind, within a bound,
// and applies the unknown-image policy to the second at once.
func IsTransient(err error) bool {
	switch ErrorReason(err) {
	case "pending", "timeout", "network", "server_error", "rate_limited", "circuit_open", "truncated", "registry_error":
		return true
	}
	return false
}

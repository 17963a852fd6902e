package placement

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Evaluator answers what a pod's images allow, under the unknown-image
// policy, for the webhook and the controller alike.
type Evaluator struct {
	Resolver imageplatform.Resolver
	Policy   imageplatform.PodPolicy
	// Credentials, if set, gives the pod's registry credentials.
	Credentials func(context.Context, *corev1.Pod) imageplatform.Credentials
	// Narrow, if set, names the one arch the pod's workload wants its new
	// pods on ("" for none): migration asks for arm64 while it moves a
	// workload there, so that the autoscaler grows arm64 for the
	// replacement instead of it landing back on the node just freed. It
	// narrows only a pod whose images are all known and allow that arch.
	Narrow func(*corev1.Pod) string
}

// Evaluate resolves the pod's images until ctx ends; images not known by
// then are Pending in the result, and their lookups go on in the
// background, filling the cache for the next call.
func (e *Evaluator) Evaluate(ctx context.Context, pod *corev1.Pod) imageplatform.PodPlatforms {
	var creds imageplatform.Credentials
	if e.Credentials != nil {
		creds = e.Credentials(ctx, pod)
	}
	pp := imageplatform.EvaluatePod(ctx, ImagesOnly(pod), e.Policy, func(ctx context.Context, img string) imageplatform.Result {
		return e.Resolver.Resolve(ctx, imageplatform.Request{Image: img, Credentials: creds})
	})
	if e.Narrow == nil || pp.Unconstrained || len(pp.Pending) > 0 || len(pp.Unknown) > 0 {
		return pp
	}
	if arch := e.Narrow(pod); arch != "" && pp.AllowsArch(arch) {
		pp.Allowed = slices.DeleteFunc(slices.Clone(pp.Allowed), func(a imageplatform.OSArch) bool { return a.Arch != arch })
	}
	return pp
}

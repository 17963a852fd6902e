package placement

import (
	"context"

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
}

// Evaluate resolves the pod's images until ctx ends; images not known by
// then are Pending in the result, and their lookups go on in the
// background, filling the cache for the next call.
func (e *Evaluator) Evaluate(ctx context.Context, pod *corev1.Pod) imageplatform.PodPlatforms {
	var creds imageplatform.Credentials
	if e.Credentials != nil {
		creds = e.Credentials(ctx, pod)
	}
	return imageplatform.EvaluatePod(ctx, ImagesOnly(pod), e.Policy, func(ctx context.Context, img string) imageplatform.Result {
		return e.Resolver.Resolve(ctx, imageplatform.Request{Image: img, Credentials: creds})
	})
}

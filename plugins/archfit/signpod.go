package archfit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/cost"
)

// SignPod lets identical replicas keep opportunistic batching (KEP-5598):
// ArchFit's decision depends on the runnable platform set, the resource
// shape (for the saving estimate) and the price inputs (per node, so the
// table and weights), and for a migrating workload the side of arm64 it
// wants. A pod whose lookups are not done is not signed.
func (pl *ArchFit) SignPod(_ context.Context, pod *corev1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	pp := pl.evaluateCached(pod)
	if len(pp.Pending) > 0 {
		return nil, fwk.NewStatus(fwk.Unschedulable, "image platforms not known yet")
	}
	out := []fwk.SignFragment{
		{Key: "archfit.dev/Pod.RunnablePlatforms()", Value: pp.Describe()},
		{Key: "archfit.dev/Pod.SkippedNamespace()", Value: pl.skipped(pod)},
		{Key: "archfit.dev/Pod.RequestedMilliCPU()", Value: cost.PodVCPU(&pod.Spec)},
		{Key: "archfit.dev/PriceInputs()", Value: pl.priceInputs()},
	}
	// A migrating workload's replicas are identical but may want different
	// sides as they land: one reusing the last replica's ranking would
	// follow it to arm64 past the target.
	if p := pl.preferenceFor(pod); p != noPreference {
		out = append(out, fwk.SignFragment{Key: "archfit.dev/MigrationPreference()", Value: p.String()})
	}
	return out, nil
}

func (pl *ArchFit) priceInputs() string {
	return fmt.Sprintf("%s|%p", pl.args.PriceAnnotation, pl.prices)
}

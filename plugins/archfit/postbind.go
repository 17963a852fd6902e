package archfit

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/cost"
)

// PostBind counts the decision and, when the pod went to a cheaper arch
// than its next-cheapest option, says so with the estimated saving.
func (pl *ArchFit) PostBind(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) {
	if pl.nodes == nil {
		return
	}
	node, err := pl.nodes.Get(nodeName)
	if err != nil {
		return
	}
	f := pl.facts.get(node)
	os, arch := f.os, f.arch
	pl.metrics.decisions.WithLabelValues(pl.handle.ProfileName(), arch).Inc()
	s, err := getPreFilterState(state)
	if err != nil {
		return // a skipped namespace: no saving to explain
	}
	pp := &s.pp
	chosen := float64(f.microPerVCPU) / 1e6
	altArch, alt := pl.facts.cheapestOther(os, arch, pp)
	if altArch == "" || alt <= chosen {
		return
	}
	cpu := cost.PodVCPU(&pod.Spec)
	pl.placementEvent(pod, EventPlacedCheaper, arch,
		"placed on %s node %s at %.4f/vCPU-hour instead of %s at %.4f/vCPU-hour: estimated saving %.4f per hour for %.3g vCPU requested",
		arch, nodeName, chosen, altArch, alt, (alt-chosen)*cpu, cpu)
}

package archfit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Filter rejects nodes whose os/arch the pod cannot run on. No I/O, no lock,
// and no allocation on a node that passes; a rejection allocates only its
// Status (the framework stamps the plugin's name on each), not the reason
// list, which is shared and never written.
func (pl *ArchFit) Filter(_ context.Context, state fwk.CycleState, _ *corev1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("%s: %w", Name, err))
	}
	f := pl.facts.get(nodeInfo.Node())
	if !f.known {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, pl.reasons.archUnknown...)
	}
	if !s.pp.Allows(f.os, f.arch) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, pl.reasons.imageArch...)
	}
	return nil
}

// PreScore leaves pods in skipped namespaces to the other score plugins,
// and skips Score when every feasible node costs the same per vCPU: a
// single-arch pod in a cluster with one instance type per arch, say.
// NormalizeScore would then give every node 100, which ranks nothing; Skip
// spares the framework a Score call, a score entry and a normalisation per
// node (BENCH.md has what a score plugin costs at scale). The check stops at the first node whose price
// differs, so a pod with a choice of arch pays a node or two.
//
// A pod whose workload has a migration target and whose feasible nodes
// are both arm64 and not gets the side it should go to written for Score
// instead, and is scored even at one price: the preference is the ranking
// then.
func (pl *ArchFit) PreScore(_ context.Context, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if pl.skipped(pod) {
		return fwk.NewStatus(fwk.Skip)
	}
	// A pod that can run on one platform only has only that platform's
	// nodes here (Filter saw to it); when the last publication of node
	// facts found them all at one price, there is nothing to walk. The
	// index and the publication can lag a node joining by an event or a
	// second: the worst that does is skip a price preference once.
	s, err := getPreFilterState(state)
	onePlatform := err == nil && s.only != (imageplatform.OSArch{})
	if onePlatform && pl.facts.uniformPrice(s.only) {
		return fwk.NewStatus(fwk.Skip)
	}
	if !onePlatform {
		if p := pl.preferenceFor(pod); p != noPreference && spansArm64(nodes, pl.facts) {
			state.Write(preferenceKey, p)
			return nil
		}
	}
	if onePrice(nodes, pl.facts) {
		return fwk.NewStatus(fwk.Skip)
	}
	return nil
}

// onePrice reports whether all the nodes have the same price per vCPU.
func onePrice(nodes []fwk.NodeInfo, facts *factsCache) bool {
	if len(nodes) == 0 {
		return true
	}
	first := facts.get(nodes[0].Node()).microPerVCPU
	for _, ni := range nodes[1:] {
		if facts.get(ni.Node()).microPerVCPU != first {
			return false
		}
	}
	return true
}

// Score is the node's price per allocatable vCPU-hour in micro-units of the
// table's currency; NormalizeScore turns it into 0–100, cheapest highest.
// Under a migration preference the nodes on the side the workload does not
// want score otherSide more, which NormalizeScore ranks below every node
// on the side it wants.
func (pl *ArchFit) Score(_ context.Context, state fwk.CycleState, _ *corev1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	f := pl.facts.get(nodeInfo.Node())
	p, err := getPreference(state)
	if err != nil {
		return 0, fwk.AsStatus(fmt.Errorf("%s: %w", Name, err))
	}
	if p == noPreference {
		return f.microPerVCPU, nil
	}
	return sideScore(p, f), nil
}

// ScoreExtensions implements fwk.ScorePlugin.
func (pl *ArchFit) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps prices to 0–100 linearly, the cheapest at 100 and the
// dearest at 0. Equal prices all score 100: no preference. Under a
// migration preference each side has its own band (normalizeSides).
func (pl *ArchFit) NormalizeScore(_ context.Context, state fwk.CycleState, _ *corev1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	if len(scores) == 0 {
		return nil
	}
	p, err := getPreference(state)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("%s: %w", Name, err))
	}
	if p != noPreference {
		normalizeSides(scores)
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores[1:] {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = fwk.MaxNodeScore
			continue
		}
		scores[i].Score = fwk.MaxNodeScore * (hi - scores[i].Score) / (hi - lo)
	}
	return nil
}

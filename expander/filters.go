package expander

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/archfit/archfit/internal/cost"
)

// candidate is an option still in the running, with what the filters have
// learned about it so far.
type candidate struct {
	opt  *option
	v    Verdict
	rank int // index in the architecture preference
}

// filter narrows the candidates, as a cluster-autoscaler expander.Filter
// narrows its options. Every candidate it drops leaves with a reason. A
// filter never drops them all unless none qualifies: the ranking filters
// always keep their best.
type filter interface {
	narrow(in []*candidate) (kept, dropped []*candidate)
}

// chain runs the filters in order, each on what the previous one kept.
func chain(in []*candidate, filters ...filter) (kept, dropped []*candidate) {
	kept = in
	for _, f := range filters {
		var d []*candidate
		kept, d = f.narrow(kept)
		dropped = append(dropped, d...)
		if len(kept) == 0 {
			break
		}
	}
	return kept, dropped
}

// compatible drops an option whose template node cannot run every one of
// its pods: the whole-pod rule the scheduler plugin applies, so that the
// expander never grows a group for pods that would fail there.
type compatible struct{}

func (compatible) narrow(in []*candidate) (kept, dropped []*candidate) {
	for _, c := range in {
		switch {
		case c.opt.arch == "":
			c.v.Reason = "template node reports no architecture"
		default:
			c.v.Reason = incompatible(c.opt)
		}
		if c.v.Reason != "" {
			dropped = append(dropped, c)
		} else {
			kept = append(kept, c)
		}
	}
	return kept, dropped
}

// priorityTier keeps the options in the best tier of CA's priority
// expander format: any matched group outranks an unmatched one, then the
// highest priority wins. Teams that already rank their groups keep that
// ranking above archfit's own preferences.
type priorityTier struct{ tiers Tiers }

func (f priorityTier) narrow(in []*candidate) (kept, dropped []*candidate) {
	for _, c := range in {
		c.v.Priority, c.v.Matched = f.tiers.PriorityOf(c.v.ID)
	}
	better := func(a, b *candidate) bool {
		if a.v.Matched != b.v.Matched {
			return a.v.Matched
		}
		return a.v.Priority > b.v.Priority
	}
	return keepBest(in, better, func(c, best *candidate) string {
		if !c.v.Matched {
			return fmt.Sprintf("outranked by %s: it matches a priority tier (%d), this group none", best.v.ID, best.v.Priority)
		}
		return fmt.Sprintf("outranked by %s: priority %d over %d", best.v.ID, best.v.Priority, c.v.Priority)
	})
}

// archPreference keeps the options of the most preferred architecture
// among those left (arm64 first by default): the saving archfit exists for.
type archPreference struct{ policy *Policy }

func (f archPreference) narrow(in []*candidate) (kept, dropped []*candidate) {
	for _, c := range in {
		c.rank = f.policy.preferenceRank(c.opt.arch)
	}
	return keepBest(in, func(a, b *candidate) bool { return a.rank < b.rank }, func(c, best *candidate) string {
		return fmt.Sprintf("outranked by %s: %s is preferred to %s", best.v.ID, best.opt.arch, c.opt.arch)
	})
}

// costBand keeps the options whose cost per requested vCPU-hour is within
// tolerance of the cheapest, cheapest first. Near-equal groups go back
// together, so CA's next expander (least-waste, say) breaks the tie.
type costBand struct {
	prices    *cost.Model
	tolerance float64
}

func (f costBand) narrow(in []*candidate) (kept, dropped []*candidate) {
	if len(in) == 0 {
		return nil, nil
	}
	for _, c := range in {
		o := c.opt
		price := f.prices.NodePrice(o.node, o.arch, o.node.Status.Allocatable.Cpu().MilliValue())
		count := max(float64(o.src.NodeCount), 1)
		c.v.CostPerVCPU = count * price.Hourly / math.Max(o.cpu, 0.001)
	}
	sorted := slices.Clone(in)
	slices.SortStableFunc(sorted, func(a, b *candidate) int { return cmp.Compare(a.v.CostPerVCPU, b.v.CostPerVCPU) })
	best := sorted[0]
	limit := best.v.CostPerVCPU * (1 + f.tolerance)
	for _, c := range sorted {
		if c.v.CostPerVCPU <= limit {
			kept = append(kept, c)
			continue
		}
		c.v.Reason = fmt.Sprintf("outranked by %s: %.4f per requested vCPU-hour against %.4f, more than %g%% apart",
			best.v.ID, c.v.CostPerVCPU, best.v.CostPerVCPU, f.tolerance*100)
		dropped = append(dropped, c)
	}
	return kept, dropped
}

// keepBest keeps, in their order, the candidates no other one is better
// than, and drops the rest with why(c, best), best being the first kept.
func keepBest(in []*candidate, better func(a, b *candidate) bool, why func(c, best *candidate) string) (kept, dropped []*candidate) {
	if len(in) == 0 {
		return nil, nil
	}
	best := in[0]
	for _, c := range in[1:] {
		if better(c, best) {
			best = c
		}
	}
	for _, c := range in {
		if better(best, c) {
			c.v.Reason = why(c, best)
			dropped = append(dropped, c)
		} else {
			kept = append(kept, c)
		}
	}
	return kept, dropped
}

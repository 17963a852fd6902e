package archfit

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
)

// preferenceKey holds PreScore's migration preference, apart from
// PreFilter's state: PreFilter's is written before the feasible nodes are
// known, and the preference only matters once they are.
const preferenceKey fwk.StateKey = Name + "/migration"

// preference is the side of arm64 a migrating workload wants its next
// replica on. A value type, so writing it to the cycle state allocates
// nothing and nobody can change it once written.
type preference uint8

const (
	noPreference preference = iota
	preferArm64
	preferOther
)

func (p preference) Clone() fwk.StateData { return p }

func (p preference) String() string {
	switch p {
	case preferArm64:
		return "arm64"
	case preferOther:
		return "other"
	}
	return ""
}

// otherSide is added to the price of a node on the side the workload does
// not want. It is above any price per vCPU-hour in millionths (a million
// per vCPU-hour), so NormalizeScore tells the sides apart by value alone
// and prices are clamped below it.
const otherSide int64 = 1 << 40

// getPreference is the one way to read the preference. A missing one is
// no preference (the pod has no target, or PreScore did not run), which
// Score sees on every node of most pods: that path returns no error, so it
// allocates nothing. One of another type is an error.
func getPreference(state fwk.CycleState) (preference, error) {
	if state == nil {
		return noPreference, nil
	}
	data, err := state.Read(preferenceKey)
	if err != nil {
		return noPreference, nil
	}
	p, ok := data.(preference)
	if !ok {
		return noPreference, fmt.Errorf("invalid migration preference in the cycle state, got type %T", data)
	}
	return p, nil
}

// preferenceFor answers from informers only, since it runs on the
// scheduling cycle: the workload from the listers, its replicas from the
// counter.
func (pl *ArchFit) preferenceFor(pod *corev1.Pod) preference {
	if pl.workloads == nil || migration.Owner(pod) == "" {
		return noPreference
	}
	w, ok := pl.workloads.Of(pod)
	if !ok || !w.HasTarget {
		// A target that does not parse is the controller's to report; the
		// scheduler ranks by price as if there were none.
		return noPreference
	}
	arm, total := pl.counter.Counts(migration.Owner(pod))
	// The pod being placed is not bound, so not counted: count it, or a
	// replacement for a replica that left would be judged against one
	// replica too few and put the workload back below its target (at 100%
	// the first replica would never go to arm64). A paused workload keeps
	// this rule at the step it stopped on: Percent reads that step.
	if migration.Below(arm, total+1, w.Percent()) {
		return preferArm64
	}
	return preferOther
}

// spansArm64 reports whether the nodes hold both arm64 and other nodes:
// otherwise the preference ranks nothing. It stops at the first node on
// the other side from the first one.
func spansArm64(nodes []fwk.NodeInfo, facts *factsCache) bool {
	if len(nodes) == 0 {
		return false
	}
	first := facts.get(nodes[0].Node()).arch == migration.ARM64
	for _, ni := range nodes[1:] {
		if (facts.get(ni.Node()).arch == migration.ARM64) != first {
			return true
		}
	}
	return false
}

// sideScore is Score's value for a node under a preference: its price,
// plus otherSide on the side the workload does not want.
func sideScore(p preference, f nodeFacts) int64 {
	price := min(max(f.microPerVCPU, 0), otherSide-1)
	if (f.arch == migration.ARM64) != (p == preferArm64) {
		price += otherSide
	}
	return price
}

// normalizeSides maps the wanted side's prices to 50–100 and the other's
// to 0–49, each cheapest highest, so that every wanted node outranks every
// other and price still orders each side. With nodes on one side only, it
// uses the whole 0–100 as without a preference.
func normalizeSides(scores fwk.NodeScoreList) {
	var lo, hi [2]int64
	var seen [2]bool
	for _, s := range scores {
		k := side(s.Score)
		if !seen[k] {
			lo[k], hi[k], seen[k] = s.Score, s.Score, true
			continue
		}
		lo[k], hi[k] = min(lo[k], s.Score), max(hi[k], s.Score)
	}
	base, width := [2]int64{0, 0}, [2]int64{fwk.MaxNodeScore, fwk.MaxNodeScore}
	if seen[0] && seen[1] {
		half := fwk.MaxNodeScore / 2
		base, width = [2]int64{half, 0}, [2]int64{fwk.MaxNodeScore - half, half - 1}
	}
	for i := range scores {
		k := side(scores[i].Score)
		if hi[k] == lo[k] {
			scores[i].Score = base[k] + width[k]
			continue
		}
		scores[i].Score = base[k] + width[k]*(hi[k]-scores[i].Score)/(hi[k]-lo[k])
	}
}

// side is 0 for a wanted node's score, 1 for another's.
func side(score int64) int {
	if score >= otherSide {
		return 1
	}
	return 0
}

// watchMigration reads workloads and counts their replicas per arch from
// the scheduler's informers, so PreScore makes no API call.
func (pl *ArchFit) watchMigration(ctx context.Context, f informers.SharedInformerFactory) {
	apps, core := f.Apps().V1(), f.Core().V1()
	pl.workloads = &migration.Workloads{
		ReplicaSets:  apps.ReplicaSets().Lister(),
		Deployments:  apps.Deployments().Lister(),
		StatefulSets: apps.StatefulSets().Lister(),
		Namespaces:   core.Namespaces().Lister(),
	}
	nodes := core.Nodes().Lister()
	pl.counter = &migration.Counter{ArchOf: func(name string) string {
		n, err := nodes.Get(name)
		if err != nil {
			return ""
		}
		_, arch, _ := imageplatform.NodePlatform(n)
		return arch
	}}
	// A pod whose node the lister does not hold yet is left uncounted
	// until the pod changes, which for a running replica may be never. So
	// the counter hears of pods only once the nodes are listed: an
	// informer replays every pod it holds to a handler added late.
	pods, nodesSynced := core.Pods().Informer(), core.Nodes().Informer().HasSynced
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), nodesSynced) {
			return
		}
		if _, err := pods.AddEventHandler(pl.counter.Handler()); err != nil {
			klog.FromContext(ctx).Error(err, "ArchFit could not watch pods to count replicas per arch; replica counts stay empty")
		}
	}()
}

// watchRollbacks makes the resolver drop the arches the rollback records
// deny, for every caller of pl.resolver: Filter, warming, queueing hints
// and SignPod alike.
func (pl *ArchFit) watchRollbacks(ctx context.Context, h fwk.Handle) error {
	ns, name, ok := migration.SplitName(pl.args.RollbackRecords)
	if !ok || h.ClientSet() == nil {
		return nil
	}
	logger := klog.FromContext(ctx)
	records := &migration.Records{}
	f, _, err := migration.WatchRecords(h.ClientSet(), ns, name, records, func(err error) {
		logger.Error(err, "ArchFit: skipping malformed rollback records")
	})
	if err != nil {
		return fmt.Errorf("%s: watching rollback records %s: %w", Name, pl.args.RollbackRecords, err)
	}
	// Not waited for: New must not hang on a ConfigMap the scheduler may
	// not be allowed to read. Until the list returns no arch is denied,
	// but kube-scheduler schedules nothing before its own informers,
	// which list far more than one object, have synced.
	f.Start(ctx.Done())
	pl.records = records
	pl.resolver = imageplatform.WithDenials(pl.resolver, records)
	return nil
}

package archfit

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/archfit/archfit/internal/imageplatform"
)

const stateKey fwk.StateKey = Name

// preFilterState is what Filter reads. It is immutable once written, so
// Clone can share it.
type preFilterState struct {
	pp imageplatform.PodPlatforms
	// narrowed is the node set PreFilter handed the framework, or nil when
	// every node went through Filter. The set is shared and never mutated.
	narrowed sets.Set[string]
	// only is the one platform of the cluster's the pod can run on, per
	// the node index, when there is exactly one; else the zero OSArch.
	only imageplatform.OSArch
}

func (s *preFilterState) Clone() fwk.StateData { return s }

// getPreFilterState is the one way to read PreFilter's state: a missing
// state or one of another type is an error for the caller to weigh, never
// a panic in the scheduling cycle.
func getPreFilterState(state fwk.CycleState) (*preFilterState, error) {
	data, err := state.Read(stateKey)
	if err != nil {
		return nil, fmt.Errorf("reading %q from the cycle state: %w", stateKey, err)
	}
	s, ok := data.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("invalid PreFilter state, got type %T", data)
	}
	return s, nil
}

// skipped reports pods ArchFit must leave alone: skipped namespaces, and
// namespaces outside the selector.
func (pl *ArchFit) skipped(pod *corev1.Pod) bool {
	if pl.skipNS[pod.Namespace] {
		return true
	}
	if pl.nsSelector != nil && pl.namespaces != nil {
		ns, err := pl.namespaces.Get(pod.Namespace)
		if err != nil || !pl.nsSelector.Matches(labels.Set(ns.Labels)) {
			return true
		}
	}
	return false
}

func (pl *ArchFit) credentials(ctx context.Context, pod *corev1.Pod) imageplatform.Credentials {
	if pl.secrets == nil {
		return pl.defaultKC
	}
	getSecret := func(ns, name string) (*corev1.Secret, error) { return pl.secrets.Secrets(ns).Get(name) }
	getSA := func(ns, name string) (*corev1.ServiceAccount, error) {
		return pl.accounts.ServiceAccounts(ns).Get(name)
	}
	c, err := imageplatform.CredentialsForPod(ctx, pod, getSecret, getSA)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("ArchFit: unusable pull secrets, looking up anonymously", "pod", klog.KObj(pod), "err", err)
		return pl.defaultKC
	}
	if c.ID == "" {
		return pl.defaultKC
	}
	return c
}

// evaluate computes the pod's runnable platforms, resolving within ctx.
func (pl *ArchFit) evaluate(ctx context.Context, pod *corev1.Pod) imageplatform.PodPlatforms {
	creds := pl.credentials(ctx, pod)
	return imageplatform.EvaluatePod(ctx, pod, pl.policy, func(ctx context.Context, image string) imageplatform.Result {
		return pl.resolver.Resolve(ctx, imageplatform.Request{Image: image, Credentials: creds})
	})
}

// evaluateCached answers from cache only (lookups it misses start in the
// background and show as pending); for QueueingHints and SignPod, which must
// not wait.
func (pl *ArchFit) evaluateCached(pod *corev1.Pod) imageplatform.PodPlatforms {
	creds := pl.credentials(pl.ctx, pod)
	return imageplatform.EvaluatePod(pl.ctx, pod, pl.policy, func(_ context.Context, image string) imageplatform.Result {
		return pl.resolver.ResolveCached(imageplatform.Request{Image: image, Credentials: creds})
	})
}

// PreFilter computes the pod's runnable platforms once per cycle. It waits
// for registry lookups at most LookupBudget, because the scheduling cycle is
// serial and a registry round trip here would stall every pod.
func (pl *ArchFit) PreFilter(ctx context.Context, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	pl.facts.publish(nodes, time.Now())
	if pl.skipped(pod) {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	profile := pl.handle.ProfileName()
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, pl.args.LookupBudget.Duration)
	pp := pl.evaluate(bctx, pod)
	cancel()
	pl.metrics.wait.WithLabelValues(profile).Observe(time.Since(start).Seconds())

	if len(pp.Pending) > 0 {
		pl.metrics.filtered.WithLabelValues(profile, "lookup_pending").Inc()
		pl.activateWhenResolved(pod)
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable,
			fmt.Sprintf("%s: %s (over the %v budget; the pod is retried when it completes)", ErrReasonLookupPending, strings.Join(pp.Pending, ", "), pl.args.LookupBudget.Duration))
	}
	pl.explain(pod, &pp)
	st := &preFilterState{pp: pp}
	state.Write(stateKey, st) // Reserve and PostFilter read it even when Filter is skipped
	if pp.Unconstrained {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	ix := pl.index.current()
	// Filter is skipped when the pod allows every platform the cluster has.
	// This is answered from the node informer's index in O(platforms), not
	// by scanning nodes on the serial cycle, which costs every pod a walk of
	// the cluster; the index can lag the snapshot by an event, so it is
	// used only when Reserve re-checks the chosen node.
	if pl.enabled().reserve && ix.coveredBy(&pp) {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	n, only, platformNodes := ix.allowed(&pp)
	st.only = only
	switch {
	case n == 1 && pl.enabled().postFilter && pl.narrowingPays(len(nodes), platformNodes.Len()):
		// One platform fits (an amd64-only or arm64-only pod): name its
		// nodes, so the framework filters and scores only those instead of
		// walking past every other node to reject it. The framework then
		// reports the others as "didn't satisfy plugin(s) [ArchFit]";
		// PostFilter adds ArchFit's own reason to the pod's condition.
		st.narrowed = platformNodes
		return &fwk.PreFilterResult{NodeNames: platformNodes}, nil
	case n == 0 && !ix.unknown && !anyAllowed(nodes, &pp, pl.facts):
		// No node of any platform the pod allows: say so once, without
		// running Filter on every node. The snapshot is checked too, since
		// the index may not have seen a node the snapshot has.
		return nil, fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ErrReasonImageArchitecture)
	case pl.enabled().reserve && pl.enabled().nodeAffinity && ix.pinnedBy(pod, &pp):
		// The pod's own arch pin keeps it off the nodes it cannot run on
		// and NodeAffinity enforces it; Reserve re-checks the chosen node
		// in case the index lags.
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return nil, nil
}

func anyAllowed(nodes []fwk.NodeInfo, pp *imageplatform.PodPlatforms, facts *factsCache) bool {
	for _, ni := range nodes {
		if f := facts.get(ni.Node()); !f.known || pp.Allows(f.os, f.arch) {
			return true
		}
	}
	return false
}

// narrowingPays reports whether naming subset of all nodes saves the
// framework work. It sizes its search by the candidates it is given
// (percentageOfNodesToScore, adaptive by default: 42% of 1,000 nodes, 10%
// of 5,000), so a large subset can make it look for more feasible nodes
// than in the whole cluster: 799 of 3,333 amd64 nodes against 500 of 5,000.
// Both ways are counted in nodes visited; narrowing every single-arch pod
// regardless costs more CPU than this rule (BENCH.md, narrowing).
func (pl *ArchFit) narrowingPays(all, subset int) bool {
	p := pl.enabled().percentageOfNodesToScore
	if subset == 0 || all == 0 {
		return false
	}
	// Nodes visited without narrowing: the framework walks the cluster
	// until it has found its quota among the fraction subset/all that
	// passes. With narrowing: the quota among the subset, plus handing the
	// subset over. The framework clones the set and looks each name up in
	// its snapshot, which make bench puts at about 2/5 of the cost of a
	// node visited, so a name counts as 2/5 of a visit.
	without := min(all, feasibleToFind(all, p)*all/subset)
	with := feasibleToFind(subset, p) + subset*2/5
	return with < without
}

// feasibleToFind is kube-scheduler's numFeasibleNodesToFind: how many
// feasible nodes it looks for among n before it stops filtering.
func feasibleToFind(n int, percentage int32) int {
	const minNodes, minPercentage = 100, 5
	if n < minNodes {
		return n
	}
	if percentage == 0 {
		percentage = max(50-int32(n/125), minPercentage)
	}
	return max(n*int(percentage)/100, minNodes)
}

// enabledPoints says which of ArchFit's optional safety nets the profile
// runs (the index-based shortcuts in PreFilter rely on them) and the
// profile's percentageOfNodesToScore (0: adaptive, or set only globally,
// which the plugin cannot see; assuming adaptive then only narrows less).
type enabledPoints struct {
	reserve, postFilter bool
	// nodeAffinity: the profile runs NodeAffinity's Filter, which enforces
	// the pod's nodeSelector and required node affinity.
	nodeAffinity             bool
	percentageOfNodesToScore int32
}

func (pl *ArchFit) enabled() enabledPoints {
	pl.pointsOnce.Do(func() {
		if h, ok := pl.handle.(interface{ PercentageOfNodesToScore() *int32 }); ok && h.PercentageOfNodesToScore() != nil {
			pl.points.percentageOfNodesToScore = *h.PercentageOfNodesToScore()
		}
		lister, ok := pl.handle.(interface{ ListPlugins() *schedconfig.Plugins })
		if !ok {
			return
		}
		ps := lister.ListPlugins()
		if ps == nil {
			return
		}
		for _, p := range ps.Reserve.Enabled {
			pl.points.reserve = pl.points.reserve || p.Name == Name
		}
		for _, p := range ps.PostFilter.Enabled {
			pl.points.postFilter = pl.points.postFilter || p.Name == Name
		}
		for _, p := range ps.Filter.Enabled {
			pl.points.nodeAffinity = pl.points.nodeAffinity || p.Name == names.NodeAffinity
		}
	})
	return pl.points
}

// PreFilterExtensions implements fwk.PreFilterPlugin; ArchFit's state does
// not depend on other pods.
func (pl *ArchFit) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

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
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

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
	// by scanning nodes on the serial cycle (measured ~220 µs per pod at
	// 1,000 nodes); the index can lag the snapshot by an event, so it is
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
// Both ways are counted in nodes visited; in make bench at 5,000 nodes,
// narrowing every single-arch pod cost 28% more CPU than the default
// profile, this rule 17%.
func (pl *ArchFit) narrowingPays(all, subset int) bool {
	p := pl.enabled().percentageOfNodesToScore
	if subset == 0 || all == 0 {
		return false
	}
	// Nodes visited without narrowing: the framework walks the cluster
	// until it has found its quota among the fraction subset/all that
	// passes. With narrowing: the quota among the subset, plus handing the
	// subset over. The framework clones the set and looks each name up in
	// its snapshot: about 0.5 µs a name against 1.3 µs a node visited
	// (make bench, 5,000 nodes), so a name counts as 2/5 of a visit.
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

// PostFilter runs only when the pod fits no node. If PreFilter narrowed the
// pod to one platform's nodes, the framework's message lumps the rest under
// "didn't satisfy plugin(s) [ArchFit]"; this adds ArchFit's reason with
// counts from the cycle's snapshot. It is off the hot path, so it may walk
// the nodes. It never makes room for the pod: preemption is not its job.
func (pl *ArchFit) PostFilter(_ context.Context, state fwk.CycleState, pod *corev1.Pod, _ fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	s, err := getPreFilterState(state)
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	if s.narrowed == nil {
		return nil, fwk.NewStatus(fwk.Unschedulable) // Filter's own reasons are in the message
	}
	all, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, fwk.AsStatus(fmt.Errorf("%s: listing nodes: %w", Name, err))
	}
	wrong, unknown, missed := 0, 0, 0
	for _, ni := range all {
		f := pl.facts.get(ni.Node())
		switch {
		case !f.known:
			unknown++
		case !s.pp.Allows(f.os, f.arch):
			wrong++
		case !s.narrowed.Has(ni.Node().Name):
			missed++
		}
	}
	if missed > 0 {
		// The index had not caught up with nodes the snapshot has; they
		// were never tried, so try again once it has.
		pl.activateLater(pod)
	}
	var reasons []string
	if wrong > 0 {
		reasons = append(reasons, fmt.Sprintf("%s: %d %s", Name, wrong, ErrReasonImageArchitecture))
	}
	if unknown > 0 {
		reasons = append(reasons, fmt.Sprintf("%s: %d %s", Name, unknown, ErrReasonNodeArchUnknown))
	}
	return nil, fwk.NewStatus(fwk.Unschedulable, reasons...)
}

func (pl *ArchFit) activateLater(pod *corev1.Pod) {
	go func() {
		select {
		case <-pl.ctx.Done():
		case <-time.After(time.Second):
			pl.handle.Activate(klog.FromContext(pl.ctx), map[string]*corev1.Pod{pod.Namespace + "/" + pod.Name: pod})
		}
	}()
}

// Reserve re-checks the one chosen node. It is the backstop for the
// index-based Skip above and costs one cached lookup per pod.
func (pl *ArchFit) Reserve(_ context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) *fwk.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return nil // PreFilter skipped the pod's namespace
	}
	if s.pp.Unconstrained {
		return nil
	}
	ni, err := pl.handle.SnapshotSharedLister().NodeInfos().Get(nodeName)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("%s: node %s: %w", Name, nodeName, err))
	}
	f := pl.facts.get(ni.Node())
	if f.known && s.pp.Allows(f.os, f.arch) {
		return nil
	}
	// The index had not seen this node yet; by the retry it will have.
	pl.activateLater(pod)
	if !f.known {
		return fwk.NewStatus(fwk.Unschedulable, ErrReasonNodeArchUnknown)
	}
	return fwk.NewStatus(fwk.Unschedulable, ErrReasonImageArchitecture)
}

// Unreserve implements fwk.ReservePlugin; Reserve holds nothing.
func (pl *ArchFit) Unreserve(context.Context, fwk.CycleState, *corev1.Pod, string) {}

// explain records why a pod is constrained, as metrics and (once per pod
// and reason) as Events the pod's owner can read with kubectl describe.
func (pl *ArchFit) explain(pod *corev1.Pod, pp *imageplatform.PodPlatforms) {
	profile := pl.handle.ProfileName()
	if pp.OverrideErr != nil {
		pl.metrics.filtered.WithLabelValues(profile, "invalid_override").Inc()
		pl.event(pod, corev1.EventTypeWarning, EventInvalidOverride, "%v; treating the pod's images as unknown (unknownImagePolicy %s)", pp.OverrideErr, pl.policy.Unknown)
	}
	for _, u := range pp.Unknown {
		if pp.OverrideErr != nil {
			break
		}
		pl.metrics.filtered.WithLabelValues(profile, "unknown_image").Inc()
		pl.event(pod, corev1.EventTypeWarning, EventImageUnknown, "platforms of image %s are unknown (%s: %v); unknownImagePolicy %s allows %s",
			u.Result.Image, imageplatform.ErrorReason(u.Result.Err), u.Result.Err, pl.policy.Unknown, pp.Describe())
	}
	if !pp.Unconstrained && len(pp.Allowed) == 0 {
		pl.metrics.filtered.WithLabelValues(profile, "no_platform").Inc()
		return
	}
	if pp.AllowsArch(pl.cheapArch) {
		return
	}
	blocking := pp.BlockingImages("linux", pl.cheapArch)
	if len(blocking) == 0 {
		return
	}
	pl.metrics.filtered.WithLabelValues(profile, "image_architecture").Inc()
	// Only worth saying when the cluster has such nodes; the node index
	// answers that without walking the node list on the serial cycle.
	if pl.index.current().hasArch("linux", pl.cheapArch) {
		pl.placementEvent(pod, EventImageLacksArch, pl.cheapArch, "pod could run on cheaper %s nodes, but image(s) %s are not built for linux/%s",
			pl.cheapArch, strings.Join(blocking, ", "), pl.cheapArch)
	}
}

// activateWhenResolved finishes the pod's lookups off the scheduling cycle
// and then moves it back to the active queue, instead of leaving it to the
// periodic flush of unschedulable pods.
func (pl *ArchFit) activateWhenResolved(pod *corev1.Pod) {
	if _, loaded := pl.waiting.LoadOrStore(pod.UID, struct{}{}); loaded {
		return
	}
	go func() {
		defer pl.waiting.Delete(pod.UID)
		ctx, cancel := context.WithTimeout(pl.ctx, pl.args.RequestTimeout.Duration+time.Second)
		defer cancel()
		pl.evaluate(ctx, pod)
		if pl.ctx.Err() != nil {
			return
		}
		pl.handle.Activate(klog.FromContext(pl.ctx), map[string]*corev1.Pod{pod.Namespace + "/" + pod.Name: pod})
	}()
}

// PreFilterExtensions implements fwk.PreFilterPlugin; ArchFit's state does
// not depend on other pods.
func (pl *ArchFit) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

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
// node (one more score plugin was about a sixth of the scoring work at
// 5,000 nodes in make bench). The check stops at the first node whose price
// differs, so a pod with a choice of arch pays a node or two.
func (pl *ArchFit) PreScore(_ context.Context, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if pl.skipped(pod) {
		return fwk.NewStatus(fwk.Skip)
	}
	// A pod that can run on one platform only has only that platform's
	// nodes here (Filter saw to it); when the last publication of node
	// facts found them all at one price, there is nothing to walk. The
	// index and the publication can lag a node joining by an event or a
	// second: the worst that does is skip a price preference once.
	if s, err := getPreFilterState(state); err == nil && s.only != (imageplatform.OSArch{}) && pl.facts.uniformPrice(s.only) {
		return fwk.NewStatus(fwk.Skip)
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
func (pl *ArchFit) Score(_ context.Context, _ fwk.CycleState, _ *corev1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	return pl.facts.get(nodeInfo.Node()).microPerVCPU, nil
}

// ScoreExtensions implements fwk.ScorePlugin.
func (pl *ArchFit) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps prices to 0–100 linearly, the cheapest at 100 and the
// dearest at 0. Equal prices all score 100: no preference.
func (pl *ArchFit) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *corev1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	if len(scores) == 0 {
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
	if err != nil || pl.cheapest == nil {
		return // a skipped namespace: no saving to explain
	}
	pp := &s.pp
	chosen := float64(f.microPerVCPU) / 1e6
	altArch, alt := pl.cheapest.cheapestOther(os, arch, pp)
	if altArch == "" || alt <= chosen {
		return
	}
	cpu := podCPU(pod)
	pl.placementEvent(pod, EventPlacedCheaper, arch,
		"placed on %s node %s at %.4f/vCPU-hour instead of %s at %.4f/vCPU-hour: estimated saving %.4f per hour for %.3g vCPU requested",
		arch, nodeName, chosen, altArch, alt, (alt-chosen)*cpu, cpu)
}

func podCPU(pod *corev1.Pod) float64 {
	m, _ := cost.PodRequests(&pod.Spec)
	if m == 0 {
		m = 100 // what the scheduler assumes for a pod without requests, near enough
	}
	return float64(m) / 1000
}

// EventsToRegister: a node joining, or changing its arch/os labels, can make
// a pod rejected by ArchFit schedulable. Price changes cannot (Score never
// rejects), so they do not requeue anything.
func (pl *ArchFit) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
	}, nil
}

func (pl *ArchFit) isSchedulableAfterNodeChange(logger klog.Logger, pod *corev1.Pod, oldObj, newObj any) (fwk.QueueingHint, error) {
	oldNode, newNode, err := util.As[*corev1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	newOS, newArch, ok := imageplatform.NodePlatform(newNode)
	if !ok {
		return fwk.QueueSkip, nil
	}
	if oldNode != nil {
		oldOS, oldArch, _ := imageplatform.NodePlatform(oldNode)
		if oldOS == newOS && oldArch == newArch {
			return fwk.QueueSkip, nil
		}
	}
	pp := pl.evaluateCached(pod)
	if len(pp.Pending) > 0 || pp.Allows(newOS, newArch) {
		logger.V(5).Info("node can host the pod's images", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "platform", newOS+"/"+newArch)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

// SignPod lets identical replicas keep opportunistic batching (KEP-5598):
// ArchFit's decision depends on the runnable platform set, the resource
// shape (for the saving estimate) and the price inputs (per node, so the
// table and weights). A pod whose lookups are not done is not signed.
func (pl *ArchFit) SignPod(_ context.Context, pod *corev1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	pp := pl.evaluateCached(pod)
	if len(pp.Pending) > 0 {
		return nil, fwk.NewStatus(fwk.Unschedulable, "image platforms not known yet")
	}
	return []fwk.SignFragment{
		{Key: "archfit.dev/Pod.RunnablePlatforms()", Value: pp.Describe()},
		{Key: "archfit.dev/Pod.SkippedNamespace()", Value: pl.skipped(pod)},
		{Key: "archfit.dev/Pod.RequestedMilliCPU()", Value: podCPU(pod)},
		{Key: "archfit.dev/PriceInputs()", Value: pl.priceInputs()},
	}, nil
}

func (pl *ArchFit) priceInputs() string {
	return fmt.Sprintf("%s|%p", pl.args.PriceAnnotation, pl.prices)
}

// Package controller is migration's leader-elected controller: it detects
// images that do not run on an arch and rolls their workloads back, takes
// each workload's ramp a step at a time, and moves running pods toward
// arm64 through the Eviction API. archfit-placement runs it beside its
// placement controller, under the same Lease.
package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/planner"
)

// Mode says whether the controller moves pods.
type Mode string

const (
	// ModeDryRun reports the moves it would make, and their saving, in
	// metrics, Events and the log, and moves nothing. Rollback still runs:
	// its pods are failing already. The default on install.
	ModeDryRun Mode = "DryRun"
	// ModeEnabled moves pods.
	ModeEnabled Mode = "Enabled"
	// ModeDisabled turns migration off: no moves, no ramp, no rollback.
	ModeDisabled Mode = "Disabled"
)

// ParseMode parses a Mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeDryRun, ModeEnabled, ModeDisabled:
		return m, nil
	}
	return "", fmt.Errorf("%q: want DryRun, Enabled or Disabled", s)
}

// Event reasons, on the workload. They are a contract with operators'
// alerts.
const (
	ReasonRollback      = "ArchFitRollback"
	ReasonRollbackEvict = "ArchFitRollbackEvicted"
	ReasonNoDigest      = "ArchFitRollbackNoDigest"
	ReasonRampStep      = "ArchFitRampStep"
	ReasonMoved         = "ArchFitMoved"
	ReasonMoveBlocked   = "ArchFitMoveBlocked"
	ReasonMoveWaiting   = "ArchFitMoveWaiting"
	ReasonMoveUndone    = "ArchFitMoveUndone"
	ReasonWouldMove     = "ArchFitMoveDryRun"
	// ReasonMoveNotReady: a pod moved to arm64 was not Ready within
	// ReadyTimeout; the ramp is paused.
	ReasonMoveNotReady = "ArchFitMoveNotReady"
	// ReasonEvictionLoop: a pod came back on the arch a rollback evicted
	// its predecessor from; the workload's evictions stop.
	ReasonEvictionLoop = "ArchFitEvictionLoop"
	// ReasonEvictionLimit: the workload had MaxEvictionsPerWorkload
	// evictions in the last hour; the next waits.
	ReasonEvictionLimit = "ArchFitEvictionLimit"
	// ReasonRecordDigests: the registry could not say which digests a
	// recorded image is known by; the record matches only the digest the
	// runtime reported until it can.
	ReasonRecordDigests = "ArchFitRollbackDigestsUnknown"
)

// HoursPerMonth turns hourly prices into monthly ones, as cloud bills do.
const HoursPerMonth = 730

// Options tune the controller.
type Options struct {
	Mode Mode
	// Interval between passes over the cluster's pods.
	Interval time.Duration
	// EvictionsPerMinute bounds moves cluster-wide (rollback evictions are
	// not counted: their pods are failing).
	EvictionsPerMinute float64
	// CrashLoopRestarts is how many restarts make a CrashLoopBackOff count
	// toward an arch's rollback.
	CrashLoopRestarts int32
	// ExpectScaleUp allows a move when arm64 has no room now: the
	// replacement's arm64-only constraint makes the autoscaler grow an
	// arm64 group. Turn it off on clusters without one.
	ExpectScaleUp bool
	// Rollback writes records, pauses ramps and evicts failing pods.
	Rollback bool
	// RecordsNamespace/RecordsName is the records' ConfigMap.
	RecordsNamespace, RecordsName string
	// Soak is how long a pod moved to arm64 must have been Ready before
	// the move counts as done: nothing more of its workload moves until
	// then, and the first pod on arm64 is the workload's canary.
	Soak time.Duration
	// ReadyTimeout bounds how long a pod moved to arm64 may take to be
	// Ready (scheduled, pulled, started, probes passing); past it the
	// workload's ramp is paused.
	ReadyTimeout time.Duration
	// MaxEvictionsPerWorkload bounds one workload's evictions, moves and
	// rollbacks together, in any hour: a backstop against a loop that
	// the rules here do not foresee.
	MaxEvictionsPerWorkload int
	// Digests lists every digest a pod's image is known by (index,
	// platform manifest, config), for rollback records; nil keys a record
	// by the digest the runtime reported alone.
	Digests func(ctx context.Context, pod *corev1.Pod, image string) (imageplatform.ImageDigests, error)
	// FollowPlan moves pods only to empty the nodes the planner picks, a
	// node at a time, and checks that each went. Off, a pod moves when its
	// node costs more per vCPU than arm64 (the rule before the planner),
	// and the plan is only reported.
	FollowPlan bool
	// Margin is the least a step of the plan must save, as a fraction of
	// the price of the node it empties.
	Margin float64
	// NodeTimeout bounds how long an emptied node may stay before the
	// step counts as failed.
	NodeTimeout time.Duration
	// NodeBackoff is how long no node is emptied after a step that did
	// not pay or whose node stayed.
	NodeBackoff time.Duration
	// GrowTypes are instance types (price table names) the autoscaler can
	// add that no node shows yet: node groups at zero.
	GrowTypes []migration.GrowType
	Now       func() time.Time
}

// Defaults for the safety options, applied by New when they are zero.
const (
	// DefaultSoak is longer than a typical image pull and start (a minute
	// or two for a large image) plus the three restarts, at 10, 20 and
	// 40 s back-off, after which a crash loop on arm64 counts toward a
	// rollback: a lying image shows itself before the next pod moves.
	DefaultSoak = 5 * time.Minute
	// DefaultReadyTimeout leaves room for an autoscaler to add an arm64
	// node (a few minutes) before the pull and start.
	DefaultReadyTimeout = 15 * time.Minute
	// DefaultMaxEvictionsPerWorkload is above what the soak lets moves do
	// in an hour (one per Soak) with room for a rollback of the pods
	// already moved.
	DefaultMaxEvictionsPerWorkload = 20
)

// Controller is the migration controller.
type Controller struct {
	client    kubernetes.Interface
	workloads *migration.Workloads
	records   *migration.Records
	inScope   func(*corev1.Pod) bool
	evaluate  func(context.Context, *corev1.Pod) imageplatform.PodPlatforms
	prices    *cost.Model
	recorder  events.EventRecorder
	metrics   *Metrics
	limiter   *rate.Limiter
	o         Options

	// noted keeps an Event that describes a state (waiting, blocked,
	// dry run) to once per state, not once per pass. Run resets it.
	noted map[string]string
	// moves remembers each workload's last move, to check that its
	// replacement landed on arm64. Run resets it.
	moves map[migration.Ref]*lastMove
	// series are the label values of the WorkloadPods series the last
	// pass set, so that the next one deletes those of workloads gone.
	series map[[3]string]bool
	// evictions are each workload's evictions in the last hour, for
	// MaxEvictionsPerWorkload; rollbacks are each workload's last
	// rollback eviction per arch, with the pods it had then, to see a pod
	// come back on that arch; stopped are workloads whose evictions stop
	// until the time given; digestsTried backs off completing a record's
	// digests. Run resets them.
	evictions    map[migration.Ref][]time.Time
	rollbacks    map[migration.Ref]map[string]*rollbackEviction
	stopped      map[migration.Ref]time.Time
	digestsTried map[string]time.Time
	// active is the node being emptied; nodeBackoff holds the next
	// until a failed step's back-off ends.
	active      *activeStep
	nodeBackoff time.Time
	last        atomic.Pointer[Plan]
}

// rollbackEviction is a workload's last rollback eviction off one arch.
type rollbackEviction struct {
	at    time.Time
	known map[types.UID]bool
}

// lastMove is a workload's last eviction and what became of it.
type lastMove struct {
	armBefore, totalBefore int
	at                     time.Time
	failures               int
	retryAt                time.Time
}

// New builds the controller. workloads' listers must be synced before Run;
// evaluate is placement's (with rollback records applied); inScope is
// placement's scope for running pods.
func New(client kubernetes.Interface, workloads *migration.Workloads, records *migration.Records, inScope func(*corev1.Pod) bool,
	evaluate func(context.Context, *corev1.Pod) imageplatform.PodPlatforms, prices *cost.Model, recorder events.EventRecorder, m *Metrics, o Options) *Controller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Soak == 0 {
		o.Soak = DefaultSoak
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.MaxEvictionsPerWorkload == 0 {
		o.MaxEvictionsPerWorkload = DefaultMaxEvictionsPerWorkload
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = DefaultNodeTimeout
	}
	if o.NodeBackoff == 0 {
		o.NodeBackoff = DefaultNodeBackoff
	}
	burst := 1
	c := &Controller{client: client, workloads: workloads, records: records, inScope: inScope, evaluate: evaluate,
		prices: prices, recorder: recorder, metrics: m, o: o,
		limiter: rate.NewLimiter(rate.Limit(o.EvictionsPerMinute/60), burst)}
	c.reset()
	return c
}

// Plan is what one pass found.
type Plan struct {
	Time time.Time
	// Movable are the pods below their workload's target on a dearer
	// arch, with what moving each saves.
	Movable []Move
	// Moved are the pods evicted this pass to move them.
	Moved []Move
	// SavingPerMonth is what moving every Movable pod saves.
	SavingPerMonth float64
	Rollbacks      []migration.Finding
	// Nodes is the planner's plan: the nodes to empty, the cost now,
	// after and at the cheapest safe placement.
	Nodes planner.Plan
}

// Move is one pod to move to arm64.
type Move struct {
	Pod            types.NamespacedName
	Workload       migration.Ref
	Node, FromArch string
	SavingPerMonth float64
}

// Last is the last pass's plan.
func (c *Controller) Last() *Plan { return c.last.Load() }

// Run watches pods and nodes, which only the leader needs, and makes a
// pass every Interval until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.o.Mode == ModeDisabled {
		<-ctx.Done()
		return nil
	}
	f := informers.NewSharedInformerFactory(c.client, 0)
	pods, nodes := f.Core().V1().Pods(), f.Core().V1().Nodes()
	podLister, nodeLister := pods.Lister(), nodes.Lister()
	pods.Informer()
	nodes.Informer()
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced, nodes.Informer().HasSynced) {
		if ctx.Err() != nil {
			return nil // stopped leading, or shutting down, before the caches filled
		}
		return fmt.Errorf("migration: pod and node informers did not sync")
	}
	c.reset()
	// A replica that stops leading stops describing the cluster, so that
	// its old figures do not add to the new leader's.
	defer func() {
		c.metrics.WorkloadPods.Reset()
		c.metrics.Saving.Set(0)
		c.series = nil
	}()
	logger := klog.FromContext(ctx)
	logger.Info("migration controller running", "mode", c.o.Mode, "interval", c.o.Interval, "evictionsPerMinute", c.o.EvictionsPerMinute)
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		c.Pass(ctx, podLister, nodeLister)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reset forgets what earlier passes remembered: a new leader starts from
// the cluster's state.
func (c *Controller) reset() {
	c.noted = map[string]string{}
	c.moves = map[migration.Ref]*lastMove{}
	c.active, c.nodeBackoff = nil, time.Time{}
	c.resetSafety()
}

func (c *Controller) resetSafety() {
	c.evictions = map[migration.Ref][]time.Time{}
	c.rollbacks = map[migration.Ref]map[string]*rollbackEviction{}
	c.stopped = map[migration.Ref]time.Time{}
	c.digestsTried = map[string]time.Time{}
}

type nodeFacts struct {
	node               *corev1.Node
	arch               string
	perVCPU            float64
	freeMilli, freeMem int64
	ready              bool
}

type group struct {
	w    migration.Workload
	pods []*corev1.Pod
}

// Pass looks at every pod once: rollbacks first, then ramps, then moves.
func (c *Controller) Pass(ctx context.Context, podLister corelisters.PodLister, nodeLister corelisters.NodeLister) *Plan {
	c.metrics.Passes.Inc()
	plan := &Plan{Time: c.o.Now()}
	nodeList, _ := nodeLister.List(labels.Everything())
	podList, _ := podLister.List(labels.Everything())
	nodes := make(map[string]*nodeFacts, len(nodeList))
	cheapestARM, cheapestOther := 0.0, 0.0
	for _, n := range nodeList {
		_, arch, ok := imageplatform.NodePlatform(n)
		if !ok {
			continue
		}
		alloc := n.Status.Allocatable
		nf := &nodeFacts{node: n, arch: arch, freeMilli: alloc.Cpu().MilliValue(), freeMem: alloc.Memory().Value(),
			ready: !n.Spec.Unschedulable && migration.NodeReady(n)}
		nf.perVCPU = c.prices.NodePrice(n, arch, nf.freeMilli).PerVCPU
		nodes[n.Name] = nf
		if arch == migration.ARM64 && nf.ready && (cheapestARM == 0 || nf.perVCPU < cheapestARM) {
			cheapestARM = nf.perVCPU
		}
		if arch != migration.ARM64 && nf.ready && nf.perVCPU > 0 && (cheapestOther == 0 || nf.perVCPU < cheapestOther) {
			cheapestOther = nf.perVCPU
		}
	}
	if cheapestARM == 0 {
		// No arm64 node yet: what the autoscaler would add, priced as the
		// cost model prices a node it knows nothing of.
		cheapestARM = c.weightedARM64(nodes)
	}
	groups := map[migration.Ref]*group{}
	refOf := map[*corev1.Pod]migration.Ref{}
	for _, p := range podList {
		if nf := nodes[p.Spec.NodeName]; nf != nil && migration.Live(p) {
			cpu, mem := cost.PodRequests(&p.Spec)
			nf.freeMilli -= cpu
			nf.freeMem -= mem
		}
		if migration.Owner(p) == "" || !c.inScope(p) {
			continue
		}
		w, ok := c.workloads.Of(p)
		if !ok {
			continue
		}
		g := groups[w.Ref]
		if g == nil {
			g = &group{w: w}
			groups[w.Ref] = g
		}
		g.pods = append(g.pods, p)
		refOf[p] = w.Ref
	}
	refs := make([]migration.Ref, 0, len(groups))
	for r := range groups {
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	archOf := func(p *corev1.Pod) string {
		if nf := nodes[p.Spec.NodeName]; nf != nil {
			return nf.arch
		}
		return ""
	}
	c.publishRunning(refs, groups, nodes, cheapestOther)
	moving := c.o.Mode == ModeEnabled
	paused := 0
	c.completeRecords(ctx, podList)
	failing := make(map[migration.Ref]bool, len(refs))
	for _, r := range refs {
		g := groups[r]
		failing[r] = c.rollback(ctx, g, archOf, plan)
		if moving {
			failing[r] = c.checkReady(ctx, g, archOf) || failing[r]
		}
	}
	allowed, elsewhere := c.planPass(ctx, nodeList, podList, groups, refOf, moving && c.o.FollowPlan, plan)
	if !c.o.FollowPlan {
		allowed, elsewhere = perPod(groups, nodes, cheapestARM), nil
	}
	for _, r := range refs {
		g := groups[r]
		c.ramp(ctx, g, failing[r])
		c.rebalance(ctx, g, nodes, allowed, moving, plan)
		if moving {
			c.drain(ctx, g, elsewhere, plan)
		}
		if g.w.Paused != "" {
			paused++
		}
	}
	if c.o.FollowPlan {
		plan.SavingPerMonth = (plan.Nodes.Now - plan.Nodes.After) * HoursPerMonth
		c.metrics.WouldMove.Set(float64(len(plan.Nodes.Moves())))
	} else {
		for _, m := range plan.Movable {
			plan.SavingPerMonth += m.SavingPerMonth
		}
		c.metrics.WouldMove.Set(float64(len(plan.Movable)))
	}
	c.metrics.SavingLeft.Set(plan.SavingPerMonth)
	c.metrics.Paused.Set(float64(paused))
	klog.FromContext(ctx).V(2).Info("migration pass", "mode", c.o.Mode, "workloads", len(refs), "movable", len(plan.Movable),
		"savingPerMonth", plan.SavingPerMonth, "moved", len(plan.Moved), "rollbacks", len(plan.Rollbacks), "paused", paused)
	c.last.Store(plan)
	return plan
}

// perPod is the rule without the plan: every pod on a node that costs more
// per vCPU than the cheapest arm64 one, with what moving it saves a month.
func perPod(groups map[migration.Ref]*group, nodes map[string]*nodeFacts, cheapestARM float64) map[string]float64 {
	out := map[string]float64{}
	if cheapestARM <= 0 {
		return out
	}
	for _, g := range groups {
		for _, p := range g.pods {
			nf := nodes[p.Spec.NodeName]
			if nf == nil || !migration.Live(p) || nf.arch == migration.ARM64 || nf.perVCPU <= cheapestARM {
				continue
			}
			out[p.Namespace+"/"+p.Name] = cost.PodVCPU(&p.Spec) * (nf.perVCPU - cheapestARM) * HoursPerMonth
		}
	}
	return out
}

// publishRunning sets the gauges of what runs now: each workload's bound
// pods per arch, and what those on arm64 save per month against the
// cheapest Ready node of another arch (without one, against amd64 priced
// from the arm64 node by the arch weights, as the cost model prices a node
// it knows nothing of).
func (c *Controller) publishRunning(refs []migration.Ref, groups map[migration.Ref]*group, nodes map[string]*nodeFacts, cheapestOther float64) {
	seen := make(map[[3]string]bool, len(c.series))
	saving := 0.0
	for _, r := range refs {
		perArch := map[string]int{}
		for _, p := range groups[r].pods {
			nf := nodes[p.Spec.NodeName]
			if nf == nil || !migration.Live(p) {
				continue
			}
			perArch[nf.arch]++
			if nf.arch != migration.ARM64 {
				continue
			}
			other := cheapestOther
			if other == 0 {
				other = nf.perVCPU * c.prices.Weight("amd64") / c.prices.Weight(migration.ARM64)
			}
			if d := other - nf.perVCPU; d > 0 {
				saving += cost.PodVCPU(&p.Spec) * d * HoursPerMonth
			}
		}
		for arch, n := range perArch {
			k := [3]string{r.Namespace, r.Kind + "/" + r.Name, arch}
			seen[k] = true
			c.metrics.WorkloadPods.WithLabelValues(k[:]...).Set(float64(n))
		}
	}
	for k := range c.series {
		if !seen[k] {
			c.metrics.WorkloadPods.DeleteLabelValues(k[:]...)
		}
	}
	c.series = seen
	c.metrics.Saving.Set(saving)
}

// weightedARM64 prices arm64 from the cluster's other nodes and the arch
// weights, as the cost model does for a node it has no price for.
func (c *Controller) weightedARM64(nodes map[string]*nodeFacts) float64 {
	best := 0.0
	for _, nf := range nodes {
		if nf.arch == migration.ARM64 || nf.perVCPU <= 0 {
			continue
		}
		if p := nf.perVCPU * c.prices.Weight(migration.ARM64) / c.prices.Weight(nf.arch); best == 0 || p < best {
			best = p
		}
	}
	return best
}

// rollback detects containers that do not run on their node's arch,
// records their image in every digest form it is known by, pauses the
// workload, and evicts at once every pod of the workload on an arch its
// image has a record for: those failing, and those still pulling or
// starting, which would fail too. It reports whether the workload has a
// failing or doomed pod.
func (c *Controller) rollback(ctx context.Context, g *group, archOf func(*corev1.Pod) string, plan *Plan) bool {
	var bound []*corev1.Pod
	var findings []migration.Finding
	for _, p := range g.pods {
		if p.Spec.NodeName == "" || !migration.Live(p) {
			continue
		}
		bound = append(bound, p)
		if a := archOf(p); a != "" {
			findings = append(findings, migration.ExecFormatErrors(p, a)...)
		}
	}
	findings = append(findings, migration.ArchCrashLoops(bound, archOf, c.o.CrashLoopRestarts)...)
	if !c.o.Rollback {
		return len(findings) > 0
	}
	logger := klog.FromContext(ctx)
	for _, f := range findings {
		if f.Digest == "" {
			c.note(g.w, corev1.EventTypeWarning, ReasonNoDigest, "nodigest/"+string(f.Pod.UID), "",
				fmt.Sprintf("pod %s container %s fails on %s (%s) but its status has no imageID digest to record; not rolled back", f.Pod.Name, f.Container, f.Arch, f.Reason))
			continue
		}
		if !c.records.Has(f.Digest, f.Arch) {
			c.record(ctx, g, f, plan)
		}
	}
	doomed := c.doomed(ctx, bound, archOf)
	if len(doomed) == 0 {
		return len(findings) > 0
	}
	if g.w.Paused == "" {
		d := doomed[0]
		reason := fmt.Sprintf("rollback: %s does not run on %s", d.digest, d.arch)
		if err := c.annotate(ctx, g.w, map[string]*string{migration.PausedAnnotation: &reason, migration.NextAnnotation: nil}); err != nil {
			logger.Error(err, "migration: pausing ramp", "workload", g.w.String())
		} else {
			g.w.Paused = reason
		}
	}
	if until, ok := c.stopped[g.w.Ref]; ok && c.o.Now().Before(until) {
		return true
	}
	now := c.o.Now()
	evictedFrom := map[string]bool{}
	for _, d := range doomed {
		if last := c.rollbacks[g.w.Ref][d.arch]; last != nil && !last.known[d.pod.UID] && now.Sub(last.at) < time.Hour {
			// A pod the last rollback eviction off this arch did not
			// know: the replacement came back where its predecessor
			// failed. Evicting it would only repeat that.
			c.stopLoop(g.w, d)
			return true
		}
	}
	for _, d := range doomed {
		if !c.allowEviction(g.w, now) {
			break
		}
		switch err := c.evict(ctx, d.pod); {
		case err == nil:
			c.countEviction(g.w.Ref, now)
			evictedFrom[d.arch] = true
			c.metrics.Evictions.WithLabelValues("rollback", "evicted").Inc()
			c.event(g.w, corev1.EventTypeNormal, ReasonRollbackEvict, "Evict", fmt.Sprintf("evicted pod %s on %s node %s: its image %s has a rollback record for %s%s, so its replacement runs on an arch its image works on",
				d.pod.Name, d.arch, d.pod.Spec.NodeName, d.digest, d.arch, d.how))
		case apierrors.IsTooManyRequests(err):
			c.metrics.Evictions.WithLabelValues("rollback", "blocked").Inc()
		case !apierrors.IsNotFound(err):
			c.metrics.Evictions.WithLabelValues("rollback", "error").Inc()
			logger.Error(err, "migration: evicting failing pod", "pod", klog.KObj(d.pod))
		}
	}
	for arch := range evictedFrom {
		known := make(map[types.UID]bool, len(g.pods))
		for _, p := range g.pods {
			known[p.UID] = true
		}
		if c.rollbacks[g.w.Ref] == nil {
			c.rollbacks[g.w.Ref] = map[string]*rollbackEviction{}
		}
		c.rollbacks[g.w.Ref][arch] = &rollbackEviction{at: now, known: known}
	}
	return true
}

// record writes the rollback record of a finding, under the digest its
// tag resolves to, with every digest the image is known by on the arch.
func (c *Controller) record(ctx context.Context, g *group, f migration.Finding, plan *Plan) {
	logger := klog.FromContext(ctx)
	key, image := f.Digest, specImage(f.Pod, f.Container, f.Image)
	rec := migration.Record{Arch: f.Arch, Reason: f.Reason, Message: truncate(f.Message, 300), Image: image,
		Workload: g.w.String(), Time: metav1.NewTime(c.o.Now())}
	if digests, ok := c.digestsOf(ctx, f.Pod, image, f.Digest, f.Arch); ok {
		key, rec.Digests = digests[0], digests
	} else if c.o.Digests != nil {
		// completeRecords tries again later.
		c.digestsTried[key+"/"+f.Arch] = c.o.Now()
		c.note(g.w, corev1.EventTypeWarning, ReasonRecordDigests, "digests/"+key, "", fmt.Sprintf(
			"the registry did not say which digests image %s is known by: its rollback record holds %s, the digest the runtime reported, until it does (retried every 10m). Until then the resolvers, which look the image up by the digest its tag resolves to, may not apply it",
			image, key))
	}
	wrote, err := migration.AddRecord(ctx, c.client, c.o.RecordsNamespace, c.o.RecordsName, key, rec)
	if err != nil {
		c.metrics.APIErrors.Inc()
		logger.Error(err, "migration: writing rollback record", "digest", key, "arch", f.Arch)
		return
	}
	// The informer catches up in a moment; this pass and the resolvers
	// of this process see the record at once.
	c.records.Add(key, rec)
	if !wrote {
		return
	}
	plan.Rollbacks = append(plan.Rollbacks, f)
	c.metrics.Rollbacks.WithLabelValues(f.Reason, f.Arch).Inc()
	c.event(g.w, corev1.EventTypeWarning, ReasonRollback, "Rollback", fmt.Sprintf(
		"image %s (%s) does not run on %s: %s in pod %s container %s (%s). Recorded in ConfigMap %s/%s; new pods are kept off %s, its pods there are evicted, and the ramp is paused",
		image, key, f.Arch, f.Reason, f.Pod.Name, f.Container, truncate(f.Message, 200), c.o.RecordsNamespace, c.o.RecordsName, f.Arch))
	logger.Info("migration: rollback recorded", "workload", g.w.String(), "digest", key, "reported", f.Digest, "digests", rec.Digests, "arch", f.Arch, "reason", f.Reason)
}

// digestsOf asks the registry for every digest image is known by on arch,
// the one it resolves to first. ok is false when it cannot say, or when
// reported (what the runtime gave as imageID) is none of them: the tag has
// moved on since the pod pulled it, and its new digests are not the ones
// that failed.
func (c *Controller) digestsOf(ctx context.Context, pod *corev1.Pod, image, reported, arch string) ([]string, bool) {
	if c.o.Digests == nil || image == "" {
		return nil, false
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := c.o.Digests(dctx, pod, image)
	if err != nil {
		klog.FromContext(ctx).Info("migration: the registry could not list the digests of a recorded image; the record matches the reported digest only until it can", "image", image, "digest", reported, "err", err)
		return nil, false
	}
	if !d.Has(reported) {
		klog.FromContext(ctx).Info("migration: the reported digest is not among the image's digests now (the tag moved); the record keeps the reported one", "image", image, "digest", reported, "now", d.Digest)
		return nil, false
	}
	out := d.ForArch(arch)
	if !slices.Contains(out, reported) {
		out = append(out, reported)
	}
	return out, true
}

// completeRecords asks the registry for the digests of records that lack
// them: written while the registry was down, or by hand with their image.
// Each is tried at most every ten minutes.
func (c *Controller) completeRecords(ctx context.Context, pods []*corev1.Pod) {
	if !c.o.Rollback || c.o.Digests == nil {
		return
	}
	now := c.o.Now()
	for key, rs := range c.records.Incomplete() {
		for _, rec := range rs {
			tk := key + "/" + rec.Arch
			if t, ok := c.digestsTried[tk]; ok && now.Sub(t) < 10*time.Minute {
				continue
			}
			c.digestsTried[tk] = now
			image, pod := rec.Image, podWithDigest(pods, key)
			if pod != nil {
				image = pod.image
			}
			if image == "" {
				continue
			}
			var p *corev1.Pod
			if pod != nil {
				p = pod.pod
			}
			digests, ok := c.digestsOf(ctx, p, image, key, rec.Arch)
			if !ok {
				continue
			}
			if _, err := migration.SetDigests(ctx, c.client, c.o.RecordsNamespace, c.o.RecordsName, key, rec.Arch, digests); err != nil {
				c.metrics.APIErrors.Inc()
				klog.FromContext(ctx).Error(err, "migration: completing rollback record", "digest", key)
				continue
			}
			rec.Digests = digests
			c.records.Add(key, rec)
			delete(c.digestsTried, tk)
		}
	}
}

type podImage struct {
	pod   *corev1.Pod
	image string
}

// podWithDigest finds a pod that runs digest, with the image its spec
// names, for the pull credentials and the reference to ask about.
func podWithDigest(pods []*corev1.Pod, digest string) *podImage {
	for _, p := range pods {
		for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if migration.DigestOf(st.ImageID) == digest {
				return &podImage{pod: p, image: specImage(p, st.Name, st.Image)}
			}
		}
	}
	return nil
}

// specImage is the image a container's spec names (what the resolvers
// look up), else the status's.
func specImage(p *corev1.Pod, container, status string) string {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, ct := range cs {
			if ct.Name == container {
				return ct.Image
			}
		}
	}
	return status
}

// doomedPod is a pod on an arch one of its images has a record for.
type doomedPod struct {
	pod          *corev1.Pod
	arch, digest string
	how          string
}

// doomed lists the bound pods on an arch their image has a record for:
// by the digest each container's status reports, and for containers not
// started yet (no imageID: pulling, or created moments ago) by what the
// resolvers, records applied, say of the image.
func (c *Controller) doomed(ctx context.Context, bound []*corev1.Pod, archOf func(*corev1.Pod) string) []doomedPod {
	if len(c.records.All()) == 0 {
		return nil
	}
	var out []doomedPod
	for _, p := range bound {
		arch := archOf(p)
		if arch == "" {
			continue
		}
		found, starting := false, len(p.Status.ContainerStatuses) < len(p.Spec.Containers)
		for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			d := migration.DigestOf(st.ImageID)
			if d == "" {
				starting = true
				continue
			}
			if c.records.Has(d, arch) {
				out = append(out, doomedPod{pod: p, arch: arch, digest: d})
				found = true
				break
			}
		}
		if found || !starting {
			continue
		}
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pp := c.evaluate(ectx, p)
		cancel()
		for _, v := range pp.Images {
			if slices.Contains(v.Result.Denied, arch) {
				out = append(out, doomedPod{pod: p, arch: arch, digest: v.Result.Digest, how: " (still starting)"})
				break
			}
		}
	}
	return out
}

// stopLoop stops a workload's evictions for an hour: a pod came back on
// the arch a rollback evicted it from, so the record does not keep the
// workload's pods off it (a pod pinned by nodeName, say, or a record that
// matches no digest the resolvers see).
func (c *Controller) stopLoop(w migration.Workload, d doomedPod) {
	c.stopped[w.Ref] = c.o.Now().Add(time.Hour)
	c.metrics.Stops.WithLabelValues(StopEvictionLoop).Inc()
	c.event(w, corev1.EventTypeWarning, ReasonEvictionLoop, "Migrate", fmt.Sprintf(
		"pod %s came back on %s node %s, where a rollback evicted its predecessor (image %s): its evictions stop for an hour rather than loop. Something places its pods on %s despite the record: a nodeName or nodeSelector, or a scheduler or webhook that does not read ConfigMap %s/%s",
		d.pod.Name, d.arch, d.pod.Spec.NodeName, d.digest, d.arch, c.o.RecordsNamespace, c.o.RecordsName))
}

// allowEviction reports whether w may have one more eviction now, under
// MaxEvictionsPerWorkload in the last hour; it says so once when not.
func (c *Controller) allowEviction(w migration.Workload, now time.Time) bool {
	ts := c.evictions[w.Ref]
	for len(ts) > 0 && now.Sub(ts[0]) >= time.Hour {
		ts = ts[1:]
	}
	c.evictions[w.Ref] = ts
	if len(ts) < c.o.MaxEvictionsPerWorkload {
		return true
	}
	if c.noted[w.String()+"/"+ReasonEvictionLimit+"/"] != ts[0].String() {
		c.metrics.Stops.WithLabelValues(StopEvictionLimit).Inc()
	}
	c.note(w, corev1.EventTypeWarning, ReasonEvictionLimit, "", ts[0].String(), fmt.Sprintf(
		"%d evictions of this workload in the last hour, the limit (--migration-max-evictions-per-workload): the next waits until %s",
		len(ts), ts[0].Add(time.Hour).Format(time.RFC3339)))
	return false
}

func (c *Controller) countEviction(r migration.Ref, now time.Time) {
	c.evictions[r] = append(c.evictions[r], now)
}

// checkReady pauses the ramp of a workload whose pod moved to arm64 is not
// Ready within ReadyTimeout of its creation: bound there and not Ready, or
// still pending with its required affinity narrowed to arm64. It reports
// whether it found one.
func (c *Controller) checkReady(ctx context.Context, g *group, archOf func(*corev1.Pod) string) bool {
	now := c.o.Now()
	for _, p := range g.pods {
		if !migration.Live(p) || p.DeletionTimestamp != nil || now.Sub(p.CreationTimestamp.Time) < c.o.ReadyTimeout {
			continue
		}
		switch {
		case p.Spec.NodeName != "" && archOf(p) == migration.ARM64 && !podReady(p):
		case p.Spec.NodeName == "" && armOnly(p):
		default:
			continue
		}
		if g.w.Paused == "" {
			reason := fmt.Sprintf("pod %s on arm64 not Ready within %v", p.Name, c.o.ReadyTimeout)
			if err := c.annotate(ctx, g.w, map[string]*string{migration.PausedAnnotation: &reason, migration.NextAnnotation: nil}); err != nil {
				klog.FromContext(ctx).Error(err, "migration: pausing ramp", "workload", g.w.String())
				return true
			}
			g.w.Paused = reason
			c.metrics.Stops.WithLabelValues(StopNotReady).Inc()
			where := "still Pending"
			if p.Spec.NodeName != "" {
				where = "on node " + p.Spec.NodeName
			}
			c.event(g.w, corev1.EventTypeWarning, ReasonMoveNotReady, "Migrate", fmt.Sprintf(
				"pod %s, moved to arm64, is not Ready %v after its creation (%s): the ramp is paused (%s). Remove the annotation to resume once the cause is fixed",
				p.Name, c.o.ReadyTimeout, where, migration.PausedAnnotation))
		}
		return true
	}
	return false
}

// settling returns a pod of the workload whose move has not proved itself
// yet: on arm64 and not Ready for Soak, or not bound yet.
func (c *Controller) settling(g *group, nodes map[string]*nodeFacts) (*corev1.Pod, time.Duration) {
	now := c.o.Now()
	for _, p := range g.pods {
		if !migration.Live(p) {
			continue
		}
		if p.Spec.NodeName == "" {
			return p, c.o.Soak
		}
		if nf := nodes[p.Spec.NodeName]; nf == nil || nf.arch != migration.ARM64 {
			continue
		}
		since, ok := readySince(p)
		if !ok {
			return p, c.o.Soak
		}
		if left := c.o.Soak - now.Sub(since); left > 0 {
			return p, left
		}
	}
	return nil, 0
}

// readySince is when a Ready pod last became Ready.
func readySince(p *corev1.Pod) (time.Time, bool) {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.LastTransitionTime.Time, cond.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

func podReady(p *corev1.Pod) bool {
	_, ok := readySince(p)
	return ok
}

// armOnly reports whether a pod's required node affinity admits arm64
// alone, as placement narrows a moved pod's replacement.
func armOnly(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return p.Spec.NodeSelector[imageplatform.LabelArch] == migration.ARM64
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		only := false
		for _, r := range t.MatchExpressions {
			if r.Key == imageplatform.LabelArch && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 && r.Values[0] == migration.ARM64 {
				only = true
			}
		}
		if !only {
			return false
		}
	}
	return true
}

// ramp takes a healthy workload's ramp to its next step when due.
func (c *Controller) ramp(ctx context.Context, g *group, failing bool) {
	w := g.w
	if !w.HasTarget || w.Paused != "" || failing {
		return
	}
	for _, p := range g.pods {
		if len(migration.CrashLooping(p, c.o.CrashLoopRestarts)) > 0 {
			return
		}
	}
	next, due := w.Target.Due(w.Step, c.o.Now())
	if !due {
		return
	}
	v := next.String()
	if err := c.annotate(ctx, w, map[string]*string{migration.StepAnnotation: &v}); err != nil {
		klog.FromContext(ctx).Error(err, "migration: advancing ramp", "workload", w.String())
		return
	}
	g.w.Step = next
	raised := next.Index > w.Step.Index && next.Of == w.Step.Of
	if raised {
		c.metrics.Steps.Inc()
	}
	if raised || next.Index == 0 {
		c.event(w, corev1.EventTypeNormal, ReasonRampStep, "Ramp", fmt.Sprintf("arm64 target now %d%% (step %d of %d of %q)",
			w.Target.Percent(next), next.Index+1, len(w.Target.Steps), w.Target.String()))
	}
}

// rebalance moves one pod of the workload toward arm64 when the plan moves
// it (a pod of the node being emptied; in DryRun, of any node the plan
// empties), the workload is below its target (100% without one), and the
// move will land on arm64.
func (c *Controller) rebalance(ctx context.Context, g *group, nodes map[string]*nodeFacts, allowed map[string]float64, moving bool, plan *Plan) {
	w := g.w
	percent := 100
	if w.HasTarget {
		percent = w.Percent()
	}
	arm, total, busy := 0, 0, false
	for _, p := range g.pods {
		switch {
		case !migration.Live(p) && p.DeletionTimestamp != nil:
			busy = true // a move in progress
		case !migration.Live(p):
		case p.Spec.NodeName == "":
			busy = true
		default:
			total++
			if nf := nodes[p.Spec.NodeName]; nf != nil && nf.arch == migration.ARM64 {
				arm++
			}
		}
	}
	var cands []Move
	var candPods []*corev1.Pod
	if w.Paused == "" && len(allowed) > 0 && migration.Below(arm, total, percent) {
		for _, p := range g.pods {
			nf := nodes[p.Spec.NodeName]
			saving, inPlan := allowed[p.Namespace+"/"+p.Name]
			if nf == nil || !migration.Live(p) || nf.arch == migration.ARM64 || !inPlan {
				continue
			}
			ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
			pp := c.evaluate(ectx, p)
			cancel()
			if len(pp.Pending) > 0 || len(pp.Unknown) > 0 || !pp.AllowsArch(migration.ARM64) {
				continue
			}
			cands = append(cands, Move{Pod: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, Workload: w.Ref,
				Node: p.Spec.NodeName, FromArch: nf.arch,
				SavingPerMonth: saving})
			candPods = append(candPods, p)
		}
	}
	need := 0
	for migration.Below(arm+need, total, percent) {
		need++
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cands[order[a]].SavingPerMonth > cands[order[b]].SavingPerMonth })
	for i := 0; i < len(order) && i < need; i++ {
		plan.Movable = append(plan.Movable, cands[order[i]])
	}
	if len(cands) == 0 {
		if w.Next {
			_ = c.annotate(ctx, w, map[string]*string{migration.NextAnnotation: nil})
		}
		if !busy {
			delete(c.moves, w.Ref)
		}
		return
	}
	if !moving {
		if w.Next {
			// Left by an earlier Enabled run: placement must stop
			// narrowing what nothing moves any more.
			_ = c.annotate(ctx, w, map[string]*string{migration.NextAnnotation: nil})
		}
		n := min(need, len(cands))
		saving := 0.0
		for i := 0; i < n; i++ {
			saving += cands[order[i]].SavingPerMonth
		}
		c.note(w, corev1.EventTypeNormal, ReasonWouldMove, "dryrun", fmt.Sprint(n),
			fmt.Sprintf("DryRun: would move %d pod(s) to arm64 (%d of %d on arm64 now, target %d%%), saving %.2f per month; set --migration-mode=Enabled to move them", n, arm, total, percent, saving))
		return
	}
	if c.undone(w, arm, total, busy) {
		return
	}
	if until, ok := c.stopped[w.Ref]; ok && c.o.Now().Before(until) {
		return
	}
	if p, left := c.settling(g, nodes); p != nil {
		// The last move has not proved itself: nothing more moves, and a
		// scale-up meanwhile is not put on arm64 untested either.
		if w.Next {
			_ = c.annotate(ctx, w, map[string]*string{migration.NextAnnotation: nil})
		}
		what := "the move in progress"
		if arm <= 1 {
			what = "the canary, the workload's first pod on arm64"
		}
		c.note(w, corev1.EventTypeNormal, ReasonMoveWaiting, "soak", p.Name, fmt.Sprintf(
			"waiting for pod %s (%s) to be Ready on arm64 for %v before moving another (about %v left; --migration-soak)",
			p.Name, what, c.o.Soak, left.Round(time.Second)))
		return
	}
	best := cands[order[0]]
	pod := candPods[order[0]]
	cpu, mem := cost.PodRequests(&pod.Spec)
	target := roomFor(pod, nodes, cpu, mem)
	room := target != nil
	if !room && !c.o.ExpectScaleUp {
		c.note(w, corev1.EventTypeNormal, ReasonMoveWaiting, "room", "none",
			"no arm64 node has room for the next pod and --migration-expect-scale-up is off: waiting, so that the pod does not come back onto its own arch")
		return
	}
	if !w.Next {
		// Phase one: ask placement to constrain the workload's new pods
		// to arm64. The eviction waits for a later pass, when the
		// annotation is in the informers the webhook reads too.
		v := migration.ARM64
		if err := c.annotate(ctx, w, map[string]*string{migration.NextAnnotation: &v}); err != nil {
			klog.FromContext(ctx).Error(err, "migration: marking workload", "workload", w.String())
		}
		return
	}
	if busy || !c.allowEviction(w, c.o.Now()) || !c.limiter.Allow() {
		return
	}
	switch err := c.evict(ctx, pod); {
	case err == nil:
		c.countEviction(w.Ref, c.o.Now())
		c.metrics.Evictions.WithLabelValues("move", "evicted").Inc()
		plan.Moved = append(plan.Moved, best)
		if c.moves != nil {
			m := c.moves[w.Ref]
			if m == nil {
				m = &lastMove{}
				c.moves[w.Ref] = m
			}
			m.armBefore, m.totalBefore, m.at = arm, total, c.o.Now()
		}
		if target != nil {
			target.freeMilli -= cpu
			target.freeMem -= mem
		}
		how := "an arm64 node has room for it"
		if !room {
			how = "its replacement is constrained to arm64, so the autoscaler grows arm64 for it"
		}
		c.event(w, corev1.EventTypeNormal, ReasonMoved, "Evict", fmt.Sprintf("evicted pod %s from %s node %s to move it to arm64 (%d of %d on arm64, target %d%%): %s; saves %.2f per month",
			pod.Name, best.FromArch, best.Node, arm, total, percent, how, best.SavingPerMonth))
	case apierrors.IsTooManyRequests(err):
		c.metrics.Evictions.WithLabelValues("move", "blocked").Inc()
		c.note(w, corev1.EventTypeNormal, ReasonMoveBlocked, "pdb/"+pod.Name, "blocked",
			fmt.Sprintf("a PodDisruptionBudget refused evicting pod %s; trying again on a later pass", pod.Name))
	case apierrors.IsNotFound(err):
	default:
		c.metrics.Evictions.WithLabelValues("move", "error").Inc()
		klog.FromContext(ctx).Error(err, "migration: evicting pod", "pod", klog.KObj(pod))
	}
}

// undone reports whether the workload must wait: its last move's
// replacement came back onto a dearer arch (placement's webhook down or
// not installed, or the pod out of its scope), so moving again would only
// churn. It backs off, doubling, up to an hour, and says so once per
// failure.
func (c *Controller) undone(w migration.Workload, arm, total int, busy bool) bool {
	m := c.moves[w.Ref]
	if m == nil || busy {
		return m != nil && busy
	}
	now := c.o.Now()
	if m.armBefore >= 0 && total < m.totalBefore && now.Sub(m.at) < 10*c.o.Interval {
		return true // the replacement is not created yet
	}
	if m.armBefore >= 0 {
		if arm > m.armBefore {
			delete(c.moves, w.Ref)
			return false
		}
		m.failures++
		m.armBefore = -1
		back := min(10*c.o.Interval<<min(m.failures-1, 12), time.Hour)
		m.retryAt = now.Add(back)
		c.event(w, corev1.EventTypeWarning, ReasonMoveUndone, "Migrate", fmt.Sprintf(
			"the last pod moved did not come back on arm64 (%d on arm64 before and after); not moving for %v. Is archfit-placement's webhook installed and the workload in its scope?", arm, back))
	}
	if now.Before(m.retryAt) {
		return true
	}
	delete(c.moves, w.Ref)
	return false
}

// roomFor finds an arm64 node the pod's replacement could be scheduled on
// now: Ready, schedulable, with room for its requests, matching its
// nodeSelector and required node affinity (less the arch, which placement
// narrows to arm64) and tolerating its NoSchedule and NoExecute taints
// (CA's ToBeDeletedByClusterAutoscaler among them). Pod (anti-)affinity and
// spreading are the scheduler's to judge.
func roomFor(pod *corev1.Pod, nodes map[string]*nodeFacts, cpu, mem int64) *nodeFacts {
	var best *nodeFacts
	sel := nodeaffinity.GetRequiredNodeAffinity(migration.WithoutArch(pod))
	for _, nf := range nodes {
		if nf.arch != migration.ARM64 || !nf.ready || nf.freeMilli < cpu || nf.freeMem < mem {
			continue
		}
		if ok, _ := sel.Match(nf.node); !ok {
			continue
		}
		if _, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), nf.node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false); bad {
			continue
		}
		if best == nil || nf.node.Name < best.node.Name {
			best = nf
		}
	}
	return best
}

func (c *Controller) evict(ctx context.Context, p *corev1.Pod) error {
	return c.client.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		// Only this pod, not a successor of the same name.
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}},
	})
}

// annotate sets (nil: removes) annotations on the workload's object.
func (c *Controller) annotate(ctx context.Context, w migration.Workload, set map[string]*string) error {
	changed := false
	have := w.Object.GetAnnotations()
	for k, v := range set {
		old, ok := have[k]
		if (v == nil && ok) || (v != nil && (!ok || old != *v)) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": set}})
	if err != nil {
		return err
	}
	switch w.Kind {
	case "Deployment":
		_, err = c.client.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, body, metav1.PatchOptions{})
	case "StatefulSet":
		_, err = c.client.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, body, metav1.PatchOptions{})
	case "ReplicaSet":
		_, err = c.client.AppsV1().ReplicaSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, body, metav1.PatchOptions{})
	default:
		err = fmt.Errorf("workload kind %s", w.Kind)
	}
	if err != nil {
		c.metrics.APIErrors.Inc()
	}
	return err
}

func (c *Controller) event(w migration.Workload, typ, reason, action, note string) {
	obj, ok := w.Object.(runtime.Object)
	if !ok || c.recorder == nil {
		return
	}
	c.recorder.Eventf(obj, nil, typ, reason, action, "%s", truncate(note, 1000))
}

// note records an Event that describes a state once, until the state
// changes.
func (c *Controller) note(w migration.Workload, typ, reason, key, state, note string) {
	k := w.String() + "/" + reason + "/" + key
	if c.noted != nil {
		if c.noted[k] == state && state != "" {
			return
		}
		if len(c.noted) > 100000 {
			clear(c.noted)
		}
		c.noted[k] = state
	}
	c.event(w, typ, reason, "Migrate", note)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

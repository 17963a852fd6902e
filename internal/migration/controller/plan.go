package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/planner"
)

// Event reasons of the node-at-a-time plan, on the Node.
const (
	// ReasonNodePlanned: moves start that should let the node go.
	ReasonNodePlanned = "ArchFitEmptyingNode"
	// ReasonNodeFreed: the node went away; the realized saving.
	ReasonNodeFreed = "ArchFitNodeFreed"
	// ReasonNodeDearer: the node went, but what was added for its pods
	// costs as much or more; moves stop and back off.
	ReasonNodeDearer = "ArchFitMoveDearer"
	// ReasonNodeNotRemoved: the node did not go away within NodeTimeout,
	// or the plan no longer empties it; moves stop and back off.
	ReasonNodeNotRemoved = "ArchFitNodeNotRemoved"
	// ReasonPlanDryRun: DryRun's plan, on the first node it would empty.
	ReasonPlanDryRun = "ArchFitPlanDryRun"
)

// Stop reasons of the plan's checks.
const (
	StopDearer         = "dearer"
	StopNodeNotRemoved = "node_not_removed"
)

// Defaults of the plan's options.
const (
	// DefaultMargin is the planner's (planner.DefaultMargin says why).
	DefaultMargin = planner.DefaultMargin
	// DefaultNodeTimeout: cluster-autoscaler removes a node unneeded for
	// 10 minutes (--scale-down-unneeded-time), scanning every 10 s, and
	// drains it within its 2-minute eviction bound; Karpenter consolidates
	// within minutes. Past 30 minutes something keeps the node.
	DefaultNodeTimeout = 30 * time.Minute
	// DefaultNodeBackoff is how long moves wait after a step that did not
	// pay: long enough for an operator to read the Warning, short enough
	// that a passing cause (a node group at its minimum) does not stop
	// migration for good.
	DefaultNodeBackoff = time.Hour
)

// activeStep is the node being emptied, and what was predicted of it.
type activeStep struct {
	node     *corev1.Node
	started  time.Time
	emptied  time.Time // when the last of its movable pods left; zero until then
	before   float64   // the cluster's cost per hour when it started
	saving   float64   // the plan's predicted saving per hour
	price    float64   // the node's own price per hour
	existing map[string]bool
}

// view is what migration knows of one pod, for the planner: arches from
// the resolvers' cache (records applied; never waiting on a registry),
// whether it may move now, and its workload's arm64 cap.
func (c *Controller) view(ctx context.Context, groups map[migration.Ref]*group, refOf map[*corev1.Pod]migration.Ref) func(*corev1.Pod) *migration.PodView {
	cached, cancel := context.WithCancel(ctx)
	cancel() // a lookup that is not cached answers pending at once
	now := c.o.Now()
	totals := map[migration.Ref]int{}
	for r, g := range groups {
		for _, p := range g.pods {
			if p.Spec.NodeName != "" && migration.Live(p) {
				totals[r]++
			}
		}
	}
	return func(p *corev1.Pod) *migration.PodView {
		r, ok := refOf[p]
		if !ok {
			return nil
		}
		g := groups[r]
		v := &migration.PodView{Workload: r.String()}
		until, stopped := c.stopped[r]
		// A paused workload's pods may still go to another node's room
		// of their arch, as the autoscaler's drain would move them; not to
		// arm64 (its cap is what it has there).
		v.Movable = !(stopped && now.Before(until)) && p.DeletionTimestamp == nil
		if g.w.Paused != "" {
			v.HasCap, v.Cap = true, 0
		}
		if g.w.HasTarget && g.w.Paused == "" {
			v.HasCap, v.Cap = true, g.w.Percent()*totals[r]/100
		}
		pp := c.evaluate(cached, p)
		if len(pp.Pending) > 0 || len(pp.Unknown) > 0 {
			return v
		}
		if pp.Unconstrained {
			v.Arches = []string{"amd64", migration.ARM64}
			return v
		}
		for _, a := range pp.Allowed {
			if a.OS == "linux" && !slices.Contains(v.Arches, a.Arch) {
				v.Arches = append(v.Arches, a.Arch)
			}
		}
		return v
	}
}

// planPass computes this pass's plan and, when moving, the pods that may
// move now: those of the node being emptied, one node at a time. It checks
// what happened to the last node: gone and cheaper (an Event with the
// saving), gone and dearer, or still there past NodeTimeout (a Warning,
// a metric, and no moves for an hour).
func (c *Controller) planPass(ctx context.Context, nodeList []*corev1.Node, podList []*corev1.Pod, groups map[migration.Ref]*group,
	refOf map[*corev1.Pod]migration.Ref, moving bool, plan *Plan) (map[string]float64, map[string]bool) {
	logger := klog.FromContext(ctx)
	in, err := migration.PlannerInput(nodeList, podList, c.prices, c.o.GrowTypes, c.view(ctx, groups, refOf))
	if err != nil {
		logger.Error(err, "migration: planner input")
		return nil, nil
	}
	pl, err := planner.MakePlan(in, c.o.Margin)
	if err != nil {
		logger.Error(err, "migration: plan")
		return nil, nil
	}
	plan.Nodes = pl
	c.metrics.PlanCost.WithLabelValues("now").Set(pl.Now)
	c.metrics.PlanCost.WithLabelValues("after").Set(pl.After)
	c.metrics.PlanCost.WithLabelValues("bound").Set(pl.Bound)
	c.metrics.PlanNodes.Set(float64(len(pl.Steps)))
	nodeByName := make(map[string]*corev1.Node, len(nodeList))
	for _, n := range nodeList {
		nodeByName[n.Name] = n
	}
	if !moving {
		c.active = nil
		if len(pl.Steps) > 0 && c.o.Mode == ModeDryRun {
			s := pl.Steps[0]
			how := "Set --migration-mode=Enabled and --migration-follow-plan to move them"
			if c.o.FollowPlan {
				how = "Set --migration-mode=Enabled to move them"
			}
			if n := nodeByName[s.Node]; n != nil {
				c.noteOn(n, corev1.EventTypeNormal, ReasonPlanDryRun, "plan", fmt.Sprintf("%s/%d", s.Node, len(pl.Steps)), fmt.Sprintf(
					"DryRun: would empty this node so that it goes away, %d pod(s) to arm64 and %d to other nodes' room, saving %.2f per month; the whole plan empties %d node(s): cost now %.2f, after %.2f, cheapest safe %.2f per month. %s",
					len(s.Moves), len(s.Elsewhere), s.Saving*HoursPerMonth, len(pl.Steps), pl.Now*HoursPerMonth, pl.After*HoursPerMonth, pl.Bound*HoursPerMonth, how))
			}
		}
		arm, _ := planAllowed(pl, pl.Steps)
		return arm, nil
	}
	now := c.o.Now()
	if a := c.active; a != nil {
		node := nodeByName[a.node.Name]
		switch {
		case node == nil:
			c.settle(a, nodeList)
			c.active = nil
		case !slices.ContainsFunc(pl.Steps, func(s planner.Step) bool { return s.Node == a.node.Name }) && hasMovablePods(podList, a.node.Name):
			c.giveUp(ctx, a, fmt.Sprintf("the plan no longer empties node %s: moving its other pods would not pay, and those moved leave it partly used", a.node.Name))
		case !hasMovablePods(podList, a.node.Name):
			if a.emptied.IsZero() {
				a.emptied = now
			}
			if now.Sub(a.emptied) > c.o.NodeTimeout {
				c.giveUp(ctx, a, fmt.Sprintf("node %s still exists %v after its last movable pod left: something keeps it (a pod the autoscaler will not evict, scale-down disabled, a node group at its minimum)", a.node.Name, c.o.NodeTimeout))
			}
			return nil, nil // waiting for the autoscaler
		}
	}
	if c.active == nil && len(pl.Steps) > 0 && !now.Before(c.nodeBackoff) {
		s := pl.Steps[0]
		n := nodeByName[s.Node]
		if n == nil {
			return nil, nil
		}
		a := &activeStep{node: n, started: now, before: pl.Now, saving: s.Saving, existing: map[string]bool{}}
		for _, pn := range in.Nodes {
			a.existing[pn.Name] = true
			if pn.Name == s.Node {
				a.price = pn.PricePerHour
			}
		}
		c.active = a
		// Like the autoscaler's drain taint: no new pod (a replacement of
		// an amd64-only pod, say) lands on the node being emptied.
		if err := c.setEmptyingTaint(ctx, n.Name, true); err != nil {
			c.metrics.APIErrors.Inc()
			logger.Error(err, "migration: tainting the node to empty", "node", n.Name)
		}
		c.eventOn(n, corev1.EventTypeNormal, ReasonNodePlanned, fmt.Sprintf(
			"emptying this node so that the autoscaler removes it: %d pod(s) to arm64 (%d new arm64 node(s)), %d to other nodes' room; the plan saves %.2f per month; cost now %.2f, after the whole plan %.2f, cheapest safe %.2f per month. Tainted %s:NoSchedule meanwhile",
			len(s.Moves), s.NewARMNodes, len(s.Elsewhere), s.Saving*HoursPerMonth, pl.Now*HoursPerMonth, pl.After*HoursPerMonth, pl.Bound*HoursPerMonth, EmptyingTaint))
		logger.Info("migration: emptying node", "node", s.Node, "pods", len(s.Moves), "savingPerHour", s.Saving, "now", pl.Now, "after", pl.After, "bound", pl.Bound)
	}
	if c.active == nil {
		return nil, nil
	}
	for _, s := range pl.Steps {
		if s.Node == c.active.node.Name {
			return planAllowed(pl, []planner.Step{s})
		}
	}
	return nil, nil
}

// planAllowed is the pods of steps that go to arm64, each with its share
// of its step's saving per month, and those that go to other nodes' room.
func planAllowed(_ planner.Plan, steps []planner.Step) (map[string]float64, map[string]bool) {
	arm, elsewhere := map[string]float64{}, map[string]bool{}
	for _, s := range steps {
		for _, m := range s.Moves {
			arm[m] = s.Saving * HoursPerMonth / float64(len(s.Moves)+len(s.Elsewhere))
		}
		for _, m := range s.Elsewhere {
			elsewhere[m] = true
		}
	}
	return arm, elsewhere
}

// hasMovablePods reports whether a node still runs a pod migration would
// move: a live pod that is not a DaemonSet's.
func hasMovablePods(pods []*corev1.Pod, node string) bool {
	for _, p := range pods {
		if p.Spec.NodeName == node && migration.Live(p) && migration.Owner(p) != "" {
			return true
		}
	}
	return false
}

// settle compares what happened with the prediction once the node is
// gone: its price, against the arm64 nodes added since the step started.
func (c *Controller) settle(a *activeStep, nodeList []*corev1.Node) {
	added := 0.0
	var names []string
	for _, n := range nodeList {
		if a.existing[n.Name] {
			continue
		}
		if _, arch, ok := imageplatform.NodePlatform(n); ok && arch == migration.ARM64 {
			added += c.prices.NodePrice(n, arch, n.Status.Allocatable.Cpu().MilliValue()).Hourly
			names = append(names, n.Name)
		}
	}
	realized := a.price - added
	if realized <= 0 {
		c.metrics.Stops.WithLabelValues(StopDearer).Inc()
		c.nodeBackoff = c.o.Now().Add(c.o.NodeBackoff)
		c.eventOn(a.node, corev1.EventTypeWarning, ReasonNodeDearer, fmt.Sprintf(
			"node %s went away, but the arm64 nodes added since its pods began to move (%v) cost %.2f per month against its %.2f: dearer than predicted (saving %.2f). No node is emptied for %v",
			a.node.Name, names, added*HoursPerMonth, a.price*HoursPerMonth, a.saving*HoursPerMonth, c.o.NodeBackoff))
		return
	}
	c.metrics.NodesFreed.Inc()
	c.eventOn(a.node, corev1.EventTypeNormal, ReasonNodeFreed, fmt.Sprintf(
		"node %s went away after its pods moved to arm64: it cost %.2f per month, the arm64 nodes added since (%v) %.2f; saving %.2f per month (predicted %.2f)",
		a.node.Name, a.price*HoursPerMonth, names, added*HoursPerMonth, realized*HoursPerMonth, a.saving*HoursPerMonth))
}

func (c *Controller) giveUp(ctx context.Context, a *activeStep, why string) {
	if err := c.setEmptyingTaint(ctx, a.node.Name, false); err != nil && !apierrors.IsNotFound(err) {
		c.metrics.APIErrors.Inc()
		klog.FromContext(ctx).Error(err, "migration: untainting node", "node", a.node.Name)
	}
	c.metrics.Stops.WithLabelValues(StopNodeNotRemoved).Inc()
	c.nodeBackoff = c.o.Now().Add(c.o.NodeBackoff)
	c.eventOn(a.node, corev1.EventTypeWarning, ReasonNodeNotRemoved, fmt.Sprintf("%s. No node is emptied for %v", why, c.o.NodeBackoff))
	c.active = nil
}

// EmptyingTaint is on the node migration empties, NoSchedule, while it
// does: replacements land elsewhere, as they do on a node the autoscaler
// drains. Removed when the step is given up.
const EmptyingTaint = migration.EmptyingTaint

// setEmptyingTaint adds or removes EmptyingTaint, with the node's
// resourceVersion as a precondition, so that a concurrent change to its
// taints is never lost.
func (c *Controller) setEmptyingTaint(ctx context.Context, name string, on bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var taints []corev1.Taint
		has := false
		for _, t := range n.Spec.Taints {
			if t.Key == EmptyingTaint {
				has = true
				if !on {
					continue
				}
			}
			taints = append(taints, t)
		}
		if has == on {
			return nil
		}
		if on {
			now := metav1.Now()
			taints = append(taints, corev1.Taint{Key: EmptyingTaint, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
		}
		if taints == nil {
			taints = []corev1.Taint{}
		}
		body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": n.ResourceVersion}, "spec": map[string]any{"taints": taints}})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
		return err
	})
}

// drain evicts one pod of the workload that the plan sends to another
// node's room (it does not run on arm64, or its workload is at its cap),
// when nothing of the workload is moving already.
func (c *Controller) drain(ctx context.Context, g *group, elsewhere map[string]bool, plan *Plan) {
	if len(elsewhere) == 0 {
		return
	}
	if until, ok := c.stopped[g.w.Ref]; ok && c.o.Now().Before(until) {
		return
	}
	var pod *corev1.Pod
	for _, p := range g.pods {
		if !migration.Live(p) || p.Spec.NodeName == "" {
			return // a move of the workload in progress
		}
		if elsewhere[p.Namespace+"/"+p.Name] && pod == nil {
			pod = p
		}
	}
	if pod == nil || !c.allowEviction(g.w, c.o.Now()) || !c.limiter.Allow() {
		return
	}
	switch err := c.evict(ctx, pod); {
	case err == nil:
		c.countEviction(g.w.Ref, c.o.Now())
		c.metrics.Evictions.WithLabelValues("move", "evicted").Inc()
		plan.Moved = append(plan.Moved, Move{Pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, Workload: g.w.Ref, Node: pod.Spec.NodeName})
		c.event(g.w, corev1.EventTypeNormal, ReasonMoved, "Evict", fmt.Sprintf(
			"evicted pod %s from node %s, which migration empties so that the autoscaler removes it: this pod stays on its arch (its images do not run on arm64, or the workload is at its arm64 target) and goes to another node's room",
			pod.Name, pod.Spec.NodeName))
	case apierrors.IsTooManyRequests(err):
		c.metrics.Evictions.WithLabelValues("move", "blocked").Inc()
		c.note(g.w, corev1.EventTypeNormal, ReasonMoveBlocked, "pdb/"+pod.Name, "blocked",
			fmt.Sprintf("a PodDisruptionBudget refused evicting pod %s; trying again on a later pass", pod.Name))
	case apierrors.IsNotFound(err):
	default:
		c.metrics.Evictions.WithLabelValues("move", "error").Inc()
		klog.FromContext(ctx).Error(err, "migration: evicting pod", "pod", klog.KObj(pod))
	}
}

func (c *Controller) eventOn(obj runtime.Object, typ, reason, note string) {
	if c.recorder == nil {
		return
	}
	c.recorder.Eventf(obj, nil, typ, reason, "Migrate", "%s", truncate(note, 1000))
}

// noteOn is note for an Event on any object.
func (c *Controller) noteOn(n *corev1.Node, typ, reason, key, state, note string) {
	k := "node/" + n.Name + "/" + reason + "/" + key
	if c.noted[k] == state && state != "" {
		return
	}
	c.noted[k] = state
	c.eventOn(n, typ, reason, note)
}

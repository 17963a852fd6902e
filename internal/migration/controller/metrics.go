package controller

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the migration controller's series.
type Metrics struct {
	Evictions  *prometheus.CounterVec
	Rollbacks  *prometheus.CounterVec
	Steps      prometheus.Counter
	WouldMove  prometheus.Gauge
	SavingLeft prometheus.Gauge
	Paused     prometheus.Gauge
	Passes     prometheus.Counter
	APIErrors  prometheus.Counter
	// WorkloadPods and Saving are what the last pass found running:
	// each workload's bound pods per node arch, and what its pods on
	// arm64 save per month.
	WorkloadPods *prometheus.GaugeVec
	Saving       prometheus.Gauge
	// Stops counts workloads stopped by a safety rule: a replacement not
	// Ready in time, a pod back on the arch it was evicted from, the
	// per-workload eviction bound.
	Stops *prometheus.CounterVec
	// PlanCost is the plan's cost per hour now, after it and at the
	// cheapest safe placement; PlanNodes the nodes it would empty;
	// NodesFreed the nodes that went away after their pods moved.
	PlanCost   *prometheus.GaugeVec
	PlanNodes  prometheus.Gauge
	NodesFreed prometheus.Counter
}

// Stop reasons, the values of archfit_migration_stops_total's reason.
const (
	StopNotReady      = "not_ready"
	StopEvictionLoop  = "eviction_loop"
	StopEvictionLimit = "eviction_limit"
)

// NewMetrics registers the migration metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_migration_evictions_total",
			Help: "Evictions through the Eviction API by purpose (move: toward arm64; rollback: a pod failing on its arch) and result (evicted, blocked: a PodDisruptionBudget refused, error).",
		}, []string{"purpose", "result"}),
		Rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_migration_rollbacks_total",
			Help: "Rollback records written, by reason (ExecFormatError, CrashLoopOnArch) and arch.",
		}, []string{"reason", "arch"}),
		Steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_migration_ramp_steps_total",
			Help: "Ramp steps taken (a workload's target share raised to its next step).",
		}),
		WouldMove: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archfit_migration_movable_pods",
			Help: "Pods the last pass found on a dearer arch than their images need, below their workload's target: what the controller moves when enabled (or would, in DryRun).",
		}),
		SavingLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archfit_migration_saving_available_per_month",
			Help: "What moving archfit_migration_movable_pods would save per month, in the price table's currency.",
		}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archfit_migration_paused_workloads",
			Help: "Workloads whose ramp and moves are paused (archfit.dev/arm64-paused), by a rollback or by hand, as the last pass found them.",
		}),
		Passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_migration_passes_total",
			Help: "Passes of the migration controller over the cluster's pods.",
		}),
		APIErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_migration_api_errors_total",
			Help: "Failed writes (annotations, records, evictions other than a PDB's refusal); retried on the next pass.",
		}),
		// Not "namespace": Prometheus's scrape sets that label to the
		// namespace of archfit-placement's pod.
		WorkloadPods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "archfit_migration_workload_pods",
			Help: "Bound pods of each workload in placement's scope (workload: Kind/name), by the node's architecture, as the last pass found them.",
		}, []string{"workload_namespace", "workload", "arch"}),
		Saving: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archfit_migration_saving_per_month",
			Help: "What the pods counted in archfit_migration_workload_pods{arch=\"arm64\"} save per month against the cheapest Ready node of another arch, in the price table's currency.",
		}),
		Stops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_migration_stops_total",
			Help: "Workloads stopped by a safety rule, by reason: not_ready (a pod moved to arm64 was not Ready within --migration-ready-timeout; ramp paused), eviction_loop (a pod came back on the arch a rollback evicted it from; its evictions stop), eviction_limit (--migration-max-evictions-per-workload reached in the last hour), dearer (a node went away but the arm64 nodes added for its pods cost as much), node_not_removed (an emptied node stayed past --migration-node-timeout, or the plan stopped emptying it).",
		}, []string{"reason"}),
		PlanCost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "archfit_migration_plan_cost_per_hour",
			Help: "The planner's cost per hour of the nodes, by state: now (today's nodes), after (once the nodes the plan empties are gone), bound (the cheapest safe placement it found), in the price table's currency.",
		}, []string{"state"}),
		PlanNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archfit_migration_plan_nodes",
			Help: "Nodes the last pass's plan would empty by moving their pods to arm64, each only where that lowers the cost by --migration-margin.",
		}),
		NodesFreed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_migration_nodes_freed_total",
			Help: "Nodes that went away after migration moved their pods to arm64, with a realized saving.",
		}),
	}
	for _, r := range []string{StopNotReady, StopEvictionLoop, StopEvictionLimit, StopDearer, StopNodeNotRemoved} {
		m.Stops.WithLabelValues(r)
	}
	reg.MustRegister(m.Evictions, m.Rollbacks, m.Steps, m.WouldMove, m.SavingLeft, m.Paused, m.Passes, m.APIErrors, m.WorkloadPods, m.Saving, m.Stops,
		m.PlanCost, m.PlanNodes, m.NodesFreed)
	return m
}

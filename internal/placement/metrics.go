package placement

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are placement's own series; the resolver's are registered beside
// them under archfit_resolver_*.
type Metrics struct {
	Admissions        *prometheus.CounterVec
	AdmissionDuration prometheus.Histogram
	Ungated           *prometheus.CounterVec
	GateDuration      prometheus.Histogram
	Gated             prometheus.GaugeFunc
	UpdateErrors      prometheus.Counter
}

// NewMetrics registers placement's metrics. gated, if not nil, reports how
// many pods carry the gate now.
func NewMetrics(reg prometheus.Registerer, gated func() float64) *Metrics {
	m := &Metrics{
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_placement_admissions_total",
			Help: "Pod CREATE reviews by result: written (affinity added at admission), pinned, gated (left to the controller, conflicts and unknown images included), skipped_* (out of scope), error.",
		}, []string{"result"}),
		AdmissionDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archfit_placement_admission_duration_seconds",
			Help:    "Time to answer one admission review, decoding to encoding.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .003, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		Ungated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_placement_ungated_total",
			Help: "Gated pods released by the controller, by outcome: written, policy (an image stayed unknown), unconstrained, pinned, conflict, gone (deleted while gated), rejected (kube-apiserver refused the write; released without it).",
		}, []string{"outcome"}),
		GateDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archfit_placement_gate_duration_seconds",
			Help:    "From a gated pod's creation to its release.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}),
		UpdateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_placement_update_errors_total",
			Help: "Failed writes of a gated pod's decision (retried).",
		}),
	}
	reg.MustRegister(m.Admissions, m.AdmissionDuration, m.Ungated, m.GateDuration, m.UpdateErrors)
	if gated != nil {
		m.Gated = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "archfit_placement_gated_pods",
			Help: "Pods that carry placement's scheduling gate now, as this replica's informer sees them (the leader's is current).",
		}, gated)
		reg.MustRegister(m.Gated)
	}
	return m
}

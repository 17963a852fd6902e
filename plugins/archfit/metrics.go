package archfit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/archfit/archfit/internal/metricsutil"
)

type pluginMetrics struct {
	decisions *prometheus.CounterVec
	filtered  *prometheus.CounterVec
	wait      *prometheus.HistogramVec
}

func newPluginMetrics(reg prometheus.Registerer) *pluginMetrics {
	return &pluginMetrics{
		decisions: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_scheduler_decisions_total",
			Help: "Pods bound by an ArchFit profile, by the node's architecture.",
		}, []string{"profile", "arch"})),
		filtered: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_scheduler_pods_constrained_total",
			Help: "PreFilter outcomes that restrict or hold a pod, by reason: image_architecture, unknown_image, lookup_pending, invalid_override, no_platform.",
		}, []string{"profile", "reason"})),
		wait: metricsutil.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "archfit_scheduler_lookup_wait_seconds",
			Help:    "Time PreFilter spent resolving a pod's images (cache hits are microseconds; the budget caps misses).",
			Buckets: []float64{.00001, .0001, .001, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"profile"})),
	}
}

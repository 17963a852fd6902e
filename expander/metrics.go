package expander

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/metricsutil"
)

// Metrics are the expander's Prometheus collectors.
type Metrics struct {
	calls     *prometheus.CounterVec
	latency   prometheus.Histogram
	options   *prometheus.CounterVec
	vetoes    prometheus.Counter
	decisions *prometheus.CounterVec
	// PolicyReloads counts policy (re)loads by result (ok, error).
	PolicyReloads *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg (reusing existing ones).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		calls: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_expander_calls_total", Help: "BestOptions calls by gRPC status code.",
		}, []string{"code"})),
		latency: metricsutil.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "archfit_expander_call_duration_seconds", Help: "BestOptions latency, decode to answer.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2, 4},
		})),
		options: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_expander_options_total", Help: "Options received (in) and returned (out).",
		}, []string{"direction"})),
		vetoes: metricsutil.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archfit_expander_vetoes_total", Help: "Calls answered with no option because no offered group could run the pods' images.",
		})),
		decisions: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_expander_decisions_total", Help: "Options returned, by the template node's architecture.",
		}, []string{"arch"})),
		PolicyReloads: metricsutil.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archfit_expander_policy_reloads_total", Help: "Policy and priority loads by result; on error the last good policy stays in force.",
		}, []string{"source", "result"})),
	}
}

func (m *Metrics) observeCall(start time.Time, err error) {
	m.calls.WithLabelValues(status.Code(err).String()).Inc()
	m.latency.Observe(time.Since(start).Seconds())
}

// Instrument wraps a Decider with the decision metrics.
func Instrument(d Decider, m *Metrics) Decider { return &instrumented{next: d, m: m} }

type instrumented struct {
	next Decider
	m    *Metrics
}

func (i *instrumented) Decide(ctx context.Context, req *protos.BestOptionsRequest) (*Decision, error) {
	i.m.options.WithLabelValues("in").Add(float64(len(req.GetOptions())))
	d, err := i.next.Decide(ctx, req)
	if err != nil {
		return d, err
	}
	i.m.options.WithLabelValues("out").Add(float64(len(d.Options)))
	if d.Vetoed {
		i.m.vetoes.Inc()
	}
	for _, c := range d.Chosen {
		i.m.decisions.WithLabelValues(c.Arch).Inc()
	}
	return d, nil
}

package imageplatform

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/archfit/archfit/internal/metricsutil"
)

// Metrics holds the resolver's Prometheus collectors. It is created per
// registry so that tests and several components in one process do not fight
// over a global.
type Metrics struct {
	lookups        *prometheus.CounterVec
	latency        prometheus.Histogram
	cache          *prometheus.CounterVec
	registryErrors *prometheus.CounterVec
	// hit and miss are pre-bound children: the cache-hit path then does not
	// hash label values.
	hit, miss prometheus.Counter
	hosts     hostLabels
}

// MaxHostLabels bounds the registry hosts registry_errors_total names one
// by one; errors from any further host count under host="other". Anyone who
// may create a pod chooses its image's host, so without a bound they could
// mint series without end.
const MaxHostLabels = 32

// hostLabels hands out host label values, the first MaxHostLabels hosts
// seen as themselves. Only failed lookups ask, so the mutex is off every
// hot path.
type hostLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *hostLabels) label(image string) string {
	host := "unknown"
	if ref, err := name.ParseReference(image, name.WeakValidation); err == nil {
		host = ref.Context().RegistryStr()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	if !h.seen[host] {
		if len(h.seen) >= MaxHostLabels {
			return "other"
		}
		h.seen[host] = true
	}
	return host
}

// NewMetrics creates and registers the collectors under prefix (for example
// "archfit_resolver"), reusing ones already registered there.
func NewMetrics(reg prometheus.Registerer, prefix string) *Metrics {
	m := &Metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_lookups_total",
			Help: "Image platform lookups not answered by a fresh cache entry (registry lookups and cached failures), by source and result (ok or an error reason). Cache hits are in cache_requests_total.",
		}, []string{"source", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    prefix + "_lookup_duration_seconds",
			Help:    "Latency of image platform lookups that were not answered from cache.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_cache_requests_total",
			Help: "Resolver cache lookups by outcome (hit or miss).",
		}, []string{"outcome"}),
		registryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "_registry_errors_total",
			Help: "Failed lookups by reason, HTTP status (0 when there was none) and registry host (the first 32 hosts by name, the rest as other).",
		}, []string{"reason", "status", "host"}),
	}
	m.lookups = metricsutil.Register(reg, m.lookups)
	m.latency = metricsutil.Register(reg, m.latency)
	m.cache = metricsutil.Register(reg, m.cache)
	m.registryErrors = metricsutil.Register(reg, m.registryErrors)
	m.hit = m.cache.WithLabelValues("hit")
	m.miss = m.cache.WithLabelValues("miss")
	return m
}

// Instrument wraps a Resolver with metrics, in the style of Karpenter's
// decorators: the resolver itself stays free of metric calls.
func Instrument(r Resolver, m *Metrics) Resolver {
	return &instrumented{next: r, m: m}
}

type instrumented struct {
	next Resolver
	m    *Metrics
}

func (i *instrumented) Resolve(ctx context.Context, req Request) Result {
	start := time.Now()
	return i.record(start, req.Image, i.next.Resolve(ctx, req))
}

func (i *instrumented) ResolveCached(req Request) Result {
	return i.record(time.Now(), req.Image, i.next.ResolveCached(req))
}

func (i *instrumented) record(start time.Time, req string, res Result) Result {
	if res.Cached {
		i.m.hit.Inc()
		if res.Err == nil {
			return res
		}
	} else {
		i.m.miss.Inc()
		i.m.latency.Observe(time.Since(start).Seconds())
	}
	reason := ErrorReason(res.Err)
	i.m.lookups.WithLabelValues(string(res.Source), reason).Inc()
	if res.Err != nil && !res.Cached && reason != "pending" {
		image := res.Image
		if image == "" {
			image = req
		}
		i.m.registryErrors.WithLabelValues(reason, strconv.Itoa(StatusCode(res.Err)), i.m.hosts.label(image)).Inc()
	}
	return res
}

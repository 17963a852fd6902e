// Package metricsutil registers Prometheus collectors so that a component
// built twice in one process (two scheduler profiles, a test that starts two
// schedulers) shares one set of series instead of panicking.
package metricsutil

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register registers c, or returns the collector already registered under
// the same descriptor. A nil registerer leaves c unregistered.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// OpsHandler serves what a platform team's probes and Prometheus expect of
// an archfit server: /metrics from g, /healthz while the process serves,
// and /readyz while ready reports true (false during start-up and
// graceful shutdown, so a Service stops sending traffic first).
func OpsHandler(g prometheus.Gatherer, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

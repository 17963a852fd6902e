package app

import (
	"context"
	"fmt"
	"time"
)

// Start runs the server in the background and returns once it serves, with
// its webhook and metrics addresses (useful with port 0) and a stop
// function that shuts it down gracefully and returns Run's error. The
// demo, the benchmarks and the tests embed placement through it.
func Start(ctx context.Context, o *Options) (webhookAddr, metricsAddr string, stop func() error, err error) {
	type addrs struct{ webhook, metrics string }
	ready := make(chan addrs, 1)
	opts := *o
	opts.Ready = func(w, m string) {
		if o.Ready != nil {
			o.Ready(w, m)
		}
		ready <- addrs{w, m}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, &opts) }()
	select {
	case a := <-ready:
		return a.webhook, a.metrics, func() error { cancel(); return <-done }, nil
	case err := <-done:
		cancel()
		return "", "", nil, fmt.Errorf("archfit-placement: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return "", "", nil, fmt.Errorf("archfit-placement did not start in 60s")
	}
}

package app

import (
	"context"
	"fmt"
	"time"
)

// Start runs the server in the background and returns once it serves, with
// its gRPC and metrics addresses (useful with port 0) and a stop function
// that shuts it down gracefully and returns Run's error. The demo, the
// benchmarks and the tests embed the expander through it.
func Start(ctx context.Context, o *Options) (grpcAddr, metricsAddr string, stop func() error, err error) {
	type addrs struct{ grpc, metrics string }
	ready := make(chan addrs, 1)
	opts := *o
	opts.Ready = func(g, m string) {
		if o.Ready != nil {
			o.Ready(g, m)
		}
		ready <- addrs{g, m}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, &opts) }()
	select {
	case a := <-ready:
		return a.grpc, a.metrics, func() error { cancel(); return <-done }, nil
	case err := <-done:
		cancel()
		return "", "", nil, fmt.Errorf("archfit-expander: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return "", "", nil, fmt.Errorf("archfit-expander did not start in 60s")
	}
}

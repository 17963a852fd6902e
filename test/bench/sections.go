package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/archfit/archfit/cmd/archfit/demo"
	expanderapp "github.com/archfit/archfit/expander/app"
	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/plugins/apis/config"
	"github.com/archfit/archfit/test/harness/carequest"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// pushDistinct pushes n distinct images, half multi-arch indexes and half
// single-arch manifests, each in its own repository, as a cluster's images
// are; it returns their references.
func pushDistinct(reg *registrytest.Registry, prefix string, n int) ([]string, error) {
	refs := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			repo := fmt.Sprintf("%s/img-%04d:1", prefix, i)
			var err error
			switch i % 4 {
			case 0, 1:
				_, err = reg.PushIndex(repo, []string{"linux/amd64", "linux/arm64"}, i%4 == 1, false)
			case 2:
				_, err = reg.PushImage(repo, "linux/amd64", false)
			default:
				_, err = reg.PushImage(repo, "linux/arm64", false)
			}
			if err != nil {
				errs <- err
			}
			refs[i] = reg.Host + "/" + repo
		}(i)
	}
	wg.Wait()
	close(errs)
	return refs, <-errs
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func resolverBench(ctx context.Context, n int) ([]row, error) {
	progress("resolver: pushing %d distinct images to a loopback registry", n)
	reg := registrytest.New()
	defer reg.Close()
	refs, err := pushDistinct(reg, "bench", n)
	if err != nil {
		return nil, err
	}
	clk := &clock{t: time.Now()}
	r, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(reg.Host), imageplatform.WithClock(clk.Now))
	if err != nil {
		return nil, err
	}
	resolveAll := func() (time.Duration, int) {
		reg.ResetCounts()
		start := time.Now()
		failed := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan string)
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ref := range work {
					if res := r.Resolve(ctx, imageplatform.Request{Image: ref}); res.Err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				}
			}()
		}
		for _, ref := range refs {
			work <- ref
		}
		close(work)
		wg.Wait()
		return time.Since(start), failed
	}
	progress("resolver: cold resolution of %d images", n)
	wall, failed := resolveAll()
	if failed > 0 {
		return nil, fmt.Errorf("%d cold lookups failed", failed)
	}
	coldHEAD, coldGET, coldTotal := reg.Count(http.MethodHead), reg.Count(http.MethodGet), reg.Requests()
	wall2, _ := resolveAll()
	warmTotal := reg.Requests()
	clk.add(imageplatform.DefaultTagTTL + time.Minute)
	resolveAll() // served stale; refreshes start behind
	deadline := time.Now().Add(60 * time.Second)
	for reg.Count(http.MethodHead) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return []row{
		{"resolver", fmt.Sprintf("cold: %d distinct images (half indexes, half single-arch), 32 callers", n),
			fmt.Sprintf("%.2fs wall (%.0f images/s); %d HEAD + %d GET (%d requests in all, incl. /v2/ pings)", wall.Seconds(), float64(n)/wall.Seconds(), coldHEAD, coldGET, coldTotal),
			"1 HEAD per tag; GET only for unseen digests"},
		{"resolver", fmt.Sprintf("the same %d again, within the tag TTL", n), fmt.Sprintf("%d requests, %.1f ms wall", warmTotal, float64(wall2.Microseconds())/1000), "0 requests"},
		{"resolver", fmt.Sprintf("the same %d past the tag TTL", n), fmt.Sprintf("%d HEAD + %d GET (stale served, refreshed behind)", reg.Count(http.MethodHead), reg.Count(http.MethodGet)-countPings(reg)), "HEADs only, 0 manifest GETs"},
	}, nil
}

// countPings is the /v2/ GETs; the registry counts them with the GETs.
func countPings(reg *registrytest.Registry) int { return reg.PathCount("/v2/") }

func expanderRequest(options int, pods [][]byte) *protos.BestOptionsRequest {
	req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
	for i := 0; i < options; i++ {
		arch, it := "arm64", "m7g.large"
		if i%2 == 0 {
			arch, it = "amd64", "m6i.large"
		}
		id := fmt.Sprintf("ng-%04d", i)
		req.NodeBytesMap[id] = carequest.TemplateNode(id, arch, it)
		req.Options = append(req.Options, &protos.Option{NodeGroupId: id, NodeCount: 1, PodBytes: pods})
	}
	return req
}

func percentiles(d []time.Duration) (p50, p99 float64) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return ms(d[len(d)/2]), ms(d[min(len(d)-1, len(d)*99/100)])
}

func expanderBench(ctx context.Context, n int) ([]row, error) {
	progress("expander: starting archfit-expander over TLS and pushing %d images", n)
	reg := registrytest.New()
	defer reg.Close()
	refs, err := pushDistinct(reg, "cold", n)
	if err != nil {
		return nil, err
	}
	warmRefs, err := pushDistinct(reg, "warm", 8)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "archfit-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ca, err := testcerts.NewCA("bench")
	if err != nil {
		return nil, err
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	addr, _, stop, err := expanderapp.Start(ctx, &expanderapp.Options{GRPCAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile, PolicyReloadInterval: time.Minute, ShutdownGrace: time.Second,
		Flags: resolverflags.Defaults().With(func(c *config.ResolverConfig) {
			c.InsecureRegistries = []string{reg.Host}
			c.RequestTimeout.Duration = 10 * time.Second
		}),
		PolicyFile: writePolicy(dir)})
	if err != nil {
		return nil, err
	}
	defer stop()
	creds, err := credentials.NewClientTLSFromFile(caFile, "")
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(128<<20), grpc.MaxCallSendMsgSize(128<<20)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := protos.NewExpanderClient(conn)
	call := func(req *protos.BestOptionsRequest) (time.Duration, error) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := client.BestOptions(c, req)
		return time.Since(start), err
	}
	var rows []row
	for _, options := range []int{10, 200, 2000} {
		var pods [][]byte
		for i := 0; i < 50; i++ {
			pods = append(pods, carequest.PendingPod("default", fmt.Sprintf("w-%d", i), warmRefs[i%len(warmRefs)], "250m"))
		}
		req := expanderRequest(options, pods)
		if _, err := call(req); err != nil {
			return nil, err
		}
		iters := map[int]int{10: 300, 200: 100, 2000: 20}[options]
		var durs []time.Duration
		for i := 0; i < iters; i++ {
			d, err := call(req)
			if err != nil {
				return nil, err
			}
			durs = append(durs, d)
		}
		p50, p99 := percentiles(durs)
		goal := ""
		if options == 200 {
			goal = "p99 ≤ 20 ms"
		}
		rows = append(rows, row{"expander", fmt.Sprintf("BestOptions %d options × 50 pods, warm (%d calls)", options, iters), fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", p50, p99), goal})

		// Cold: each call asks about 50 images this expander has not seen.
		calls := min(20, n/50)
		durs = durs[:0]
		next := map[int]int{10: 0, 200: n / 3, 2000: 2 * n / 3}[options]
		for c := 0; c < calls && next+50 <= len(refs); c++ {
			pods = pods[:0]
			for i := 0; i < 50; i++ {
				pods = append(pods, carequest.PendingPod("default", fmt.Sprintf("c-%d-%d", c, i), refs[next], "250m"))
				next++
			}
			d, err := call(expanderRequest(options, pods))
			if err != nil {
				return nil, err
			}
			durs = append(durs, d)
		}
		if len(durs) > 0 {
			p50, p99 = percentiles(durs)
			rows = append(rows, row{"expander", fmt.Sprintf("BestOptions %d options × 50 pods, cold: 50 new images per call (%d calls)", options, len(durs)), fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", p50, p99), "inside the 2 s budget"})
		}
	}
	return rows, nil
}

func writePolicy(dir string) string {
	p := filepath.Join(dir, "policy.yaml")
	_ = os.WriteFile(p, []byte("resolutionBudget: 2s\n"), 0o600)
	return p
}

func outcomeBench(ctx context.Context, size int) ([]row, error) {
	progress("outcome: the demo workload at %d pods, three ways, then the demo's migration run", size)
	o := demo.Defaults()
	o.Size = size
	o.InitialAMD64, o.InitialARM64 = 3, 2
	o.Runs = []string{"default", "default-priority", "archfit", "migration"}
	o.Progress = os.Stderr
	rep, err := demo.Run(ctx, o)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, r := range rep.Runs {
		rows = append(rows, row{"outcome", fmt.Sprintf("%s: %s + %s", r.Name, r.Scheduler, r.Expander),
			fmt.Sprintf("%.4f %s/h, %d misplaced pods, %d pending, nodes %v", r.CostPerHour, rep.Currency, r.MisplacedPods, r.PendingPods, r.NodesByGroup), ""})
	}
	rows = append(rows, row{"outcome", "archfit saving vs default + least-waste", fmt.Sprintf("%.2f%% (seed %d)", rep.SavingsPercent, rep.Seed), "0 misplaced pods"})
	if m := rep.Migration; m != nil {
		rows = append(rows,
			row{"outcome", fmt.Sprintf("migration (its own workload, ramp %q): steady state against the cheapest safe placement", m.Ramp),
				fmt.Sprintf("%.4f %s/h after, cheapest safe %.4f %s/h (after %+.2f%% above it); nodes %v, cheapest safe %v; settled %v",
					m.CostPerHourAfter, rep.Currency, m.CheapestSafe.CostPerHour, rep.Currency, m.AboveCheapestPercent, m.NodesByGroupAfter, m.CheapestSafe.NodesByGroup, m.Settled), "—"},
			row{"outcome", "migration: before → after",
				fmt.Sprintf("%.4f → %.4f %s/h (saving %.2f%%); pods by arch %v → %v; %d pods moved, %d rollbacks, %d pending, %.0f s",
					m.CostPerHourBefore, m.CostPerHourAfter, rep.Currency, m.SavingPercent, m.PodsByArchBefore, m.PodsByArchAfter, m.PodsMoved, len(m.Rollbacks), m.PendingPods, m.DurationSec), "—"})
	}
	return rows, nil
}

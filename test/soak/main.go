// Command soak is `make soak`'s driver: the real archfit-expander (gRPC over
// TLS, 8 clients, a tenth of the requests malformed, its policy file
// rewritten every few seconds) and the image-platform resolver (a churn of
// 100,000 distinct references) run together in one process for a bounded
// time against one loopback registry that fails, rate-limits and stalls
// some of the time. It reports latency and outcomes at a fixed interval and
// fails if, after a warm-up that fills the caches, memory or goroutines
// grow past the bounds below, or if the expander ever answers with a node
// group it was not offered.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Bounds. Each compares the end of the run with the end of the warm-up.
// Both points are measured the same way, at rest: the load paused, the
// lookups it left running in the background finished, the registry's
// connections closed, two GCs and a scavenge. At rest the process holds
// what it retains and nothing in flight, so the bounds can be tight.
const (
	// heapGrowthBound is on live heap after GC. With the caches full at the
	// end of the warm-up, what is retained differs between the two points
	// only by which entries the bounded caches hold (a failure's error
	// chain, an index's platform list and a reference's length vary from
	// entry to entry) and by runtime bookkeeping. A cache that stopped
	// evicting would grow by its whole entry cost again for every cache
	// size of new references: each resolver here sees several times its
	// cache size of them after the warm-up, so such a leak is many times
	// this bound.
	heapGrowthBound = 8 << 20
	// rssGrowthBound is on VmRSS after the scavenge. RSS also holds
	// goroutine stacks, allocator metadata and heap pages the scavenger
	// could not return because a live object still sits in them; those
	// move with fragmentation, not with what is retained, so the bound is
	// wider than the heap's but still far below a cache-sized leak.
	rssGrowthBound = 32 << 20
	// goroutineGrowthBound: at rest the goroutines are the servers', the
	// connections' and the paused load's, the same set at both points. A
	// few may still be finishing (an HTTP/2 connection's closing, a timer
	// a stalled registry handler waits on), never one per request.
	goroutineGrowthBound = 10
)

type config struct {
	duration, warmup, interval time.Duration
	images, cacheSize          int
	tagsPerRepo                int
	clients                    int
	expanderRate               float64
	malformed                  float64
	resolverRate               float64
	resolverWorkers            int
	budget, requestTimeout     time.Duration
	tagTTL                     time.Duration
	policyEvery                time.Duration
	rateLimitEvery             time.Duration
	rateLimitWindow            time.Duration
	seed                       uint64
	verbose                    bool
	heapProfile                string
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the load runs, warm-up included (setup and the pauses to measure at rest come on top)")
	fs.DurationVar(&c.warmup, "warmup", 0, "shortest warm-up; it also lasts until the caches are full (0: a fifth of -duration)")
	fs.DurationVar(&c.interval, "interval", 0, "reporting interval (0: 30s, or a sixth of -duration when that is shorter)")
	fs.IntVar(&c.images, "images", 100000, "distinct image references in the registry, resolved in churn")
	fs.IntVar(&c.tagsPerRepo, "tags-per-repo", 8, "distinct tags per repository; the pool has -images / -tags-per-repo repositories")
	fs.IntVar(&c.cacheSize, "cache-size", imageplatform.DefaultCacheSize, "the soak resolver's cache size (entries per cache)")
	fs.IntVar(&c.clients, "clients", 8, "concurrent expander clients, each with its own TLS connection")
	fs.Float64Var(&c.expanderRate, "expander-rate", 200, "expander requests per second, all clients together")
	fs.Float64Var(&c.malformed, "malformed", 0.10, "share of expander requests that are malformed")
	fs.Float64Var(&c.resolverRate, "resolver-rate", 1000, "resolver lookups per second, all workers together")
	fs.IntVar(&c.resolverWorkers, "resolver-workers", 16, "concurrent resolver callers")
	fs.DurationVar(&c.budget, "budget", time.Second, "the soak resolver's budget per lookup (a scheduling cycle's wait)")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 2*time.Second, "registry request timeout of both resolvers")
	fs.DurationVar(&c.tagTTL, "tag-ttl", time.Minute, "the soak resolver's tag TTL; short, so the references asked about often are refreshed during the run")
	fs.DurationVar(&c.policyEvery, "policy-every", 3*time.Second, "how often the expander's policy file is rewritten")
	fs.DurationVar(&c.rateLimitEvery, "rate-limit-every", 20*time.Second, "how often the registry starts answering 429")
	fs.DurationVar(&c.rateLimitWindow, "rate-limit-window", 250*time.Millisecond, "how long it answers 429 each time")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the load's random choices")
	fs.BoolVar(&c.verbose, "verbose", false, "show the expander's and the resolver's logs")
	fs.StringVar(&c.heapProfile, "heapprofile", "", "write heap profiles at rest to PREFIX-warm.pprof and PREFIX-end.pprof (compare with go tool pprof -diff_base)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.warmup == 0 {
		c.warmup = c.duration / 5
	}
	if c.interval == 0 {
		c.interval = min(30*time.Second, max(5*time.Second, c.duration/6))
	}
	switch {
	case c.duration <= 0 || c.interval <= 0:
		return c, errors.New("-duration and -interval must be positive")
	case c.images < 10*c.cacheSize:
		return c, fmt.Errorf("-images %d: want at least ten times -cache-size (%d), or the caches never churn", c.images, c.cacheSize)
	case c.tagsPerRepo < 1 || c.images%c.tagsPerRepo != 0:
		// With whole repositories a sweep reaches each one in its first
		// pass over the repositories, which the warm-up relies on.
		return c, fmt.Errorf("-tags-per-repo %d: want a divisor of -images (%d)", c.tagsPerRepo, c.images)
	case c.images/c.tagsPerRepo < c.cacheSize*6/5:
		return c, fmt.Errorf("-images / -tags-per-repo = %d repositories: want a fifth more than -cache-size (%d), or the digest caches, which hold one entry per repository, never churn", c.images/c.tagsPerRepo, c.cacheSize)
	case c.clients < 1 || c.resolverWorkers < 1 || c.expanderRate <= 0 || c.resolverRate <= 0:
		return c, errors.New("-clients, -resolver-workers, -expander-rate and -resolver-rate must be positive")
	case c.malformed < 0 || c.malformed > 1:
		return c, errors.New("-malformed is a share between 0 and 1")
	}
	return c, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// harness holds one run.
type harness struct {
	cfg      config
	pool     *pool
	srv      *expanderServer
	resolver *imageplatform.RegistryResolver
	gate     *gate
	resolved *series // soak resolver lookups
	good     *series // well-formed expander requests
	bad      *series // malformed expander requests
	viol     *violations
	sweep    *sweep // the soak resolver's pass over the pool
	expSweep *sweep // the expander's
	regReqs  uint64 // registry requests counted so far (registrytest's counter is reset to bound its path map)
	rows     []intervalRow
}

type intervalRow struct {
	from, to         time.Duration
	warmup           bool
	good, bad, resol cut
	registry         uint64
	live             usage
	cache            imageplatform.CacheEntries
}

type restPoint struct {
	u     usage
	cache imageplatform.CacheEntries
}

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	if !cfg.verbose {
		// The expander logs every veto and every policy reload, which at
		// this rate would bury the report.
		klog.SetLogger(logr.Discard())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	setupStart := time.Now()

	progress("registry: pushing %d distinct image references", cfg.images)
	p, err := newPool(ctx, cfg.images, cfg.tagsPerRepo)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	defer p.reg.Close()
	p.setFaults()

	dir, err := os.MkdirTemp("", "archfit-soak-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	defer os.RemoveAll(dir)
	progress("expander: starting archfit-expander over TLS")
	srv, err := startExpander(ctx, dir, p, cfg.requestTimeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "soak: expander stopped with %v\n", err)
		}
	}()
	r, err := imageplatform.NewRegistryResolver(
		imageplatform.WithInsecureRegistries(p.reg.Host),
		imageplatform.WithCacheSize(cfg.cacheSize),
		imageplatform.WithRequestTimeout(cfg.requestTimeout),
		imageplatform.WithTagTTL(cfg.tagTTL),
		imageplatform.WithUserAgent("archfit-soak"),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	h := &harness{cfg: cfg, pool: p, srv: srv, resolver: r, gate: &gate{},
		resolved: newSeries(), good: newSeries(), bad: newSeries(), viol: &violations{},
		sweep: newSweep(len(p.refs), 0), expSweep: newSweep(len(p.refs), uint64(len(p.refs)/2))}
	setupTook := time.Since(setupStart)
	setup := h.atRest(false)
	progress("setup took %s; at rest before any load: %s", setupTook.Round(time.Second), describe(setup))
	printConditions(cfg, p)

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var policies struct{ written, invalid int }
	ch := &churn{r: r, refs: p.refs, sweep: h.sweep, budget: cfg.budget, workers: cfg.resolverWorkers, rate: cfg.resolverRate, stats: h.resolved, gate: h.gate}
	ld := &load{srv: srv, pool: p, sweep: h.expSweep, clients: cfg.clients, rate: cfg.expanderRate,
		malformed: int(cfg.malformed * 1000), good: h.good, bad: h.bad, viol: h.viol, gate: h.gate}
	var loadErr error
	wg.Add(4)
	go func() { defer wg.Done(); ch.run(loadCtx, cfg.seed) }()
	go func() { defer wg.Done(); loadErr = ld.run(loadCtx, cfg.seed) }()
	go func() { defer wg.Done(); p.rateLimitBursts(loadCtx, cfg.rateLimitEvery, cfg.rateLimitWindow) }()
	go func() {
		defer wg.Done()
		policies.written, policies.invalid = rewritePolicies(loadCtx, srv.policyFile, cfg.policyEvery)
	}()

	warm, end, warmErr := h.drive(ctx)
	stopLoad()
	h.gate.resume()
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "soak: interrupted; no bounds checked")
		return 1
	}
	if loadErr != nil {
		fmt.Fprintf(os.Stderr, "soak: expander clients: %v\n", loadErr)
		return 2
	}
	if warmErr != nil {
		fmt.Fprintf(os.Stderr, "soak: FAIL: %v\n", warmErr)
		return 1
	}
	em, err := scrapeExpander(srv.metricsAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: reading the expander's /metrics: %v\n", err)
	}
	failures := h.report(setup, warm, end, em, policies.written, policies.invalid)
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Printf("FAIL: %s\n", f)
		}
		return 1
	}
	fmt.Println("PASS: every bound held")
	return 0
}

// drive runs the reporting loop until the end of the run and returns the
// rest points after the warm-up and at the end. It leaves the gate paused.
func (h *harness) drive(ctx context.Context) (warm, end restPoint, err error) {
	start := time.Now()
	deadline := start.Add(h.cfg.duration)
	warmLimit := start.Add(h.cfg.duration / 2)
	tick := time.NewTicker(h.cfg.interval)
	defer tick.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	from := time.Duration(0)
	warmedUp := false
	cutRow := func(warmup bool) {
		now := time.Since(start)
		r := h.cutInterval(from, now, warmup)
		if r.empty() {
			return // the warm-up ended just after a tick
		}
		h.rows = append(h.rows, r)
		h.printRow(r)
		from = now
	}
	for {
		select {
		case <-ctx.Done():
			h.gate.pause()
			return warm, end, ctx.Err()
		case <-tick.C:
			if time.Now().Before(deadline) {
				cutRow(!warmedUp)
			}
		case <-check.C:
		}
		now := time.Now()
		if !now.Before(deadline) {
			if !warmedUp {
				cutRow(true)
				h.gate.pause()
				return warm, end, fmt.Errorf("the run ended before the warm-up did; %s", h.warmupState())
			}
			cutRow(false)
			progress("end of the run: pausing the load to measure at rest")
			end = h.atRest(true)
			h.writeHeapProfile("end")
			return warm, end, nil
		}
		if warmedUp || now.Sub(start) < h.cfg.warmup {
			continue
		}
		if full, _ := h.cachesFull(); !full {
			if now.After(warmLimit) {
				cutRow(true)
				h.gate.pause()
				return warm, end, fmt.Errorf("after half the run (%s) the warm-up has still not filled the caches, so a memory bound would only measure them filling; %s. Run longer, or raise -resolver-rate / -expander-rate", h.cfg.duration/2, h.warmupState())
			}
			continue
		}
		cutRow(true)
		progress("warm-up done at %s (%s); pausing the load to measure at rest", time.Since(start).Round(time.Second), h.warmupState())
		paused := time.Now()
		warm = h.atRest(true)
		h.writeHeapProfile("warm")
		h.gate.resume()
		// The pause is no part of the load's duration.
		deadline = deadline.Add(time.Since(paused))
		progress("after warm-up, at rest: %s", describe(warm))
		for _, s := range []*series{h.resolved, h.good, h.bad} {
			s.cut() // the pause is in no interval
			s.startMeasuring()
		}
		warmedUp = true
		from = time.Since(start)
		tick.Reset(h.cfg.interval)
	}
}

// cachesFull reports whether the warm-up has brought the process to the
// state the bounds compare against: the soak resolver's caches at their
// size, and the expander asked about at least as many pool references as
// its own resolver's caches hold (the shipped size; the expander does not
// expose its resolver). It does not wait for every repository to have been
// contacted: state kept per repository (go-containerregistry's Puller
// readers) must be bounded too, and a leak there has to show against the
// heap bound.
func (h *harness) cachesFull() (bool, imageplatform.CacheEntries) {
	c := h.resolver.CacheEntries()
	full := c.References >= h.cfg.cacheSize && c.Digests >= h.cfg.cacheSize && h.expSweep.taken() >= uint64(imageplatform.DefaultCacheSize)
	return full, c
}

func (h *harness) warmupState() string {
	_, c := h.cachesFull()
	s := fmt.Sprintf("soak resolver caches %d/%d references, %d/%d digests, %d of %d repositories; expander asked about %d pool references (its caches hold %d) in %d of %d repositories",
		c.References, h.cfg.cacheSize, c.Digests, h.cfg.cacheSize, min(h.sweep.taken(), uint64(h.pool.repos)), h.pool.repos,
		h.expSweep.taken(), imageplatform.DefaultCacheSize, min(h.expSweep.taken(), uint64(h.pool.repos)), h.pool.repos)
	return s
}

// atRest pauses the load (when paused is true; the caller resumes it) and
// measures once nothing is in flight.
func (h *harness) atRest(paused bool) restPoint {
	if paused {
		h.gate.pause()
		// Lookups whose caller's budget ran out finish in the background
		// within the registry request timeout.
		time.Sleep(h.cfg.requestTimeout + 500*time.Millisecond)
	}
	// Idle keep-alive connections differ from one moment to the next; with
	// none left on either side, goroutines at rest are comparable.
	h.pool.reg.Server.CloseClientConnections()
	h.countRegistry()
	settle()
	return restPoint{u: measureAtRest(), cache: h.resolver.CacheEntries()}
}

func (h *harness) writeHeapProfile(point string) {
	if h.cfg.heapProfile == "" {
		return
	}
	path := h.cfg.heapProfile + "-" + point + ".pprof"
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		progress("heap profile %s: %v", path, err)
	}
}

// settle waits until the goroutine count has not changed for half a
// second, or five seconds at most.
func settle() {
	deadline := time.Now().Add(5 * time.Second)
	last, same := runtime.NumGoroutine(), 0
	for same < 5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if n := runtime.NumGoroutine(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
}

// countRegistry adds registrytest's request counter to the harness's and
// resets it, which also empties its per-path map: that map grows with every
// distinct path and would otherwise count against the heap bound.
func (h *harness) countRegistry() uint64 {
	n := uint64(h.pool.reg.Requests())
	h.pool.reg.ResetCounts()
	h.regReqs += n
	return n
}

func (h *harness) cutInterval(from, to time.Duration, warmup bool) intervalRow {
	return intervalRow{from: from, to: to, warmup: warmup,
		good: h.good.cut(), bad: h.bad.cut(), resol: h.resolved.cut(),
		registry: h.countRegistry(), live: measureLive(), cache: h.resolver.CacheEntries()}
}

func (r intervalRow) empty() bool {
	return sum(r.good.counts, anyKind)+sum(r.bad.counts, anyKind)+sum(r.resol.counts, anyKind) == 0
}

func describe(p restPoint) string {
	return fmt.Sprintf("RSS %s, heap in use %s, live heap %s, %d goroutines, resolver caches %d references / %d digests / %d pullers",
		mib(p.u.rss), mib(p.u.heapInUse), mib(p.u.heapLive), p.u.goroutines, p.cache.References, p.cache.Digests, p.cache.Pullers)
}

func isErr(k string) bool { return strings.HasPrefix(k, "err:") }

// resolverErr selects the resolver's error reasons: every outcome but a
// hit or a fresh answer.
func resolverErr(k string) bool { return k != "hit" && k != "miss" }

func anyKind(string) bool { return true }

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (h *harness) printRow(r intervalRow) {
	label := clock(r.from) + "–" + clock(r.to)
	if r.warmup {
		label += " (warm-up)"
	}
	secs := max((r.to - r.from).Seconds(), 0.001)
	gn, rn := sum(r.good.counts, anyKind), sum(r.resol.counts, anyKind)
	fmt.Printf("%s  expander %d calls (%.0f/s) p50 %s p99 %s ms, errors: %s; malformed %d (%s) | resolver %d lookups (%.0f/s), %.0f%% hits, p50 %s p99 %s ms, errors: %s | registry %d requests | live heap %s, RSS %s, %d goroutines\n",
		label, gn, float64(gn)/secs, ms(r.good.lat.quantile(.5)), ms(r.good.lat.quantile(.99)), strings.ReplaceAll(kinds(r.good.counts, isErr), "err:", ""),
		sum(r.bad.counts, anyKind), kinds(r.bad.counts, anyKind),
		rn, float64(rn)/secs, pct(r.resol.counts["hit"], rn), ms(r.resol.lat.quantile(.5)), ms(r.resol.lat.quantile(.99)), kinds(r.resol.counts, resolverErr),
		r.registry, mib(r.live.heapLive), mib(r.live.rss), r.live.goroutines)
}

func pct(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func printConditions(cfg config, p *pool) {
	fmt.Printf("\narchfit soak — %s, %s/%s, %d CPUs, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	until := "the caches are full"
	fmt.Printf("load for %s (warm-up at least %s, and until %s), reports every %s\n", cfg.duration, cfg.warmup, until, cfg.interval)
	fmt.Printf("expander: %d TLS clients, %.0f requests/s in all, %.0f%% malformed, policy rewritten every %s (one write in %d invalid)\n",
		cfg.clients, cfg.expanderRate, 100*cfg.malformed, cfg.policyEvery, len(policyVariants()))
	fmt.Printf("resolver: %d callers, %.0f lookups/s, budget %s, cache %d entries, tag TTL %s, over %d distinct references (%d repositories of %d tags)\n",
		cfg.resolverWorkers, cfg.resolverRate, cfg.budget, cfg.cacheSize, cfg.tagTTL, len(p.refs), p.repos, cfg.tagsPerRepo)
	fmt.Printf("registry: %.1f%% of repositories answer 503, %.1f%% stall %s, %.1f%% stall until the client's %s timeout; manifest reads of one repository in ten answer 429 (Retry-After: 1) for %s every %s\n\n",
		failPerMille/10.0, slowPerMille/10.0, slowDelay, hangPerMille/10.0, cfg.requestTimeout, cfg.rateLimitWindow, cfg.rateLimitEvery)
}

// report prints the summary tables and returns the bounds that failed.
func (h *harness) report(setup, warm, end restPoint, em expanderMetrics, policiesWritten, policiesInvalid int) []string {
	var failures []string
	check := func(ok bool, format string, args ...any) string {
		if ok {
			return "ok"
		}
		failures = append(failures, fmt.Sprintf(format, args...))
		return "**FAIL**"
	}
	heapOK := end.u.heapLive <= warm.u.heapLive+heapGrowthBound
	rssOK := end.u.rss <= warm.u.rss+rssGrowthBound
	gorOK := end.u.goroutines <= warm.u.goroutines+goroutineGrowthBound
	refsOK := end.cache.References <= h.cfg.cacheSize && warm.cache.References <= h.cfg.cacheSize
	digOK := end.cache.Digests <= h.cfg.cacheSize && warm.cache.Digests <= h.cfg.cacheSize
	foreign, changed, malOK := h.viol.foreignGroup.Load(), h.viol.changedCount.Load(), h.viol.malformedOK.Load()

	fmt.Printf("\n### Per interval\n\n")
	fmt.Println("| interval | expander calls | expander p50 / p99 ms | expander errors | malformed (rejected) | resolver lookups | hits | resolver p50 / p99 ms | resolver errors | registry requests | live heap | goroutines |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range h.rows {
		label := clock(r.from) + "–" + clock(r.to)
		if r.warmup {
			label += " warm-up"
		}
		gn, rn := sum(r.good.counts, anyKind), sum(r.resol.counts, anyKind)
		fmt.Printf("| %s | %s | %s / %s | %s | %s (%s) | %s | %.0f%% | %s / %s | %s | %s | %s | %d |\n",
			label, thousands(gn), ms(r.good.lat.quantile(.5)), ms(r.good.lat.quantile(.99)), strings.ReplaceAll(kinds(r.good.counts, isErr), "err:", ""),
			thousands(sum(r.bad.counts, anyKind)), thousands(r.bad.counts["rejected"]),
			thousands(rn), pct(r.resol.counts["hit"], rn), ms(r.resol.lat.quantile(.5)), ms(r.resol.lat.quantile(.99)), kinds(r.resol.counts, resolverErr),
			thousands(r.registry), mib(r.live.heapLive), r.live.goroutines)
	}

	fmt.Printf("\n### At rest: before the load, after the warm-up, at the end\n\n")
	fmt.Println("| measure | before load | after warm-up | end | bound (end vs after warm-up) | result |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| live heap after GC | %s | %s | %s | ≤ +%s | %s |\n", mib(setup.u.heapLive), mib(warm.u.heapLive), mib(end.u.heapLive), mib(heapGrowthBound),
		check(heapOK, "live heap after GC grew from %s after the warm-up to %s at the end, beyond the bound of +%s", mib(warm.u.heapLive), mib(end.u.heapLive), mib(heapGrowthBound)))
	fmt.Printf("| heap in use (MemStats.HeapInuse) | %s | %s | %s | — | — |\n", mib(setup.u.heapInUse), mib(warm.u.heapInUse), mib(end.u.heapInUse))
	fmt.Printf("| RSS (VmRSS) | %s | %s | %s | ≤ +%s | %s |\n", mib(setup.u.rss), mib(warm.u.rss), mib(end.u.rss), mib(rssGrowthBound),
		check(rssOK, "RSS grew from %s after the warm-up to %s at the end, beyond the bound of +%s", mib(warm.u.rss), mib(end.u.rss), mib(rssGrowthBound)))
	fmt.Printf("| goroutines | %d | %d | %d | ≤ +%d | %s |\n", setup.u.goroutines, warm.u.goroutines, end.u.goroutines, goroutineGrowthBound,
		check(gorOK, "goroutines at rest grew from %d after the warm-up to %d at the end, beyond the bound of +%d", warm.u.goroutines, end.u.goroutines, goroutineGrowthBound))
	fmt.Printf("| soak resolver cache: references | %d | %d | %d | ≤ %d (its size) | %s |\n", setup.cache.References, warm.cache.References, end.cache.References, h.cfg.cacheSize,
		check(refsOK, "the soak resolver's reference cache holds %d entries, beyond its size %d", end.cache.References, h.cfg.cacheSize))
	fmt.Printf("| soak resolver cache: digests | %d | %d | %d | ≤ %d (its size) | %s |\n", setup.cache.Digests, warm.cache.Digests, end.cache.Digests, h.cfg.cacheSize,
		check(digOK, "the soak resolver's digest cache holds %d entries, beyond its size %d", end.cache.Digests, h.cfg.cacheSize))
	fmt.Printf("| soak resolver cache: pullers (one per repository) | %d | %d | %d | ≤ %d (its size) | %s |\n", setup.cache.Pullers, warm.cache.Pullers, end.cache.Pullers, imageplatform.MaxPullers,
		check(end.cache.Pullers <= imageplatform.MaxPullers, "the soak resolver holds %d pullers, beyond its bound %d", end.cache.Pullers, imageplatform.MaxPullers))
	fmt.Printf("| expander's resolver caches | — | — | — | not exposed by archfit-expander | — |\n")

	goodLat, goodTot, goodAll := h.good.results()
	_, badTot, badAll := h.bad.results()
	resLat, resTot, resAll := h.resolved.results()
	fmt.Printf("\n### Totals after the warm-up (whole run in brackets)\n\n")
	fmt.Println("| what | count | detail |")
	fmt.Println("|---|---|---|")
	gn := sum(goodTot, anyKind)
	fmt.Printf("| expander well-formed calls | %s (%s) | p50 %s ms, p99 %s ms; answers: %s; errors: %s |\n", thousands(gn), thousands(sum(goodAll, anyKind)),
		ms(goodLat.quantile(.5)), ms(goodLat.quantile(.99)), kinds(goodTot, func(k string) bool { return !isErr(k) }), strings.ReplaceAll(kinds(goodTot, isErr), "err:", ""))
	fmt.Printf("| expander malformed calls | %s (%s) | %s |\n", thousands(sum(badTot, anyKind)), thousands(sum(badAll, anyKind)), kinds(badTot, anyKind))
	fmt.Printf("| answers naming a node group not offered | %d | bound 0: %s |\n", foreign,
		check(foreign == 0, "%d expander answers named a node group that was not in their request", foreign))
	fmt.Printf("| answers changing an offered group's node count | %d | bound 0: %s |\n", changed,
		check(changed == 0, "%d expander answers changed an offered node group's node count", changed))
	fmt.Printf("| malformed requests answered instead of refused | %d | bound 0: %s |\n", malOK,
		check(malOK == 0, "%d malformed expander requests were answered instead of refused with InvalidArgument", malOK))
	rn := sum(resTot, anyKind)
	fmt.Printf("| soak resolver lookups | %s (%s) | p50 %s ms, p99 %s ms; %.1f%% hits, %s fresh answers; errors: %s |\n", thousands(rn), thousands(sum(resAll, anyKind)),
		ms(resLat.quantile(.5)), ms(resLat.quantile(.99)), pct(resTot["hit"], rn), thousands(resTot["miss"]), kinds(resTot, resolverErr))
	fmt.Printf("| registry requests (both resolvers) | (%s) | |\n", thousands(h.regReqs))
	fmt.Printf("| expander, from its /metrics | | calls by code: %s; its resolver's cache hits %s, misses %s |\n", kinds(em.callsByCode, anyKind), thousands(em.cacheHit), thousands(em.cacheMiss))
	fmt.Printf("| policy rewrites | (%d, %d invalid) | expander reloads: %d ok, %d rejected (the first ok one is the load at start) |\n", policiesWritten, policiesInvalid, em.reloadsOK, em.reloadsError)
	if ops := rn + gn; ops > 0 {
		fmt.Printf("\nLive heap change after the warm-up: %+.1f MiB over %s operations (%+.1f bytes per operation).\n",
			(float64(end.u.heapLive)-float64(warm.u.heapLive))/(1<<20), thousands(ops), (float64(end.u.heapLive)-float64(warm.u.heapLive))/float64(ops))
	}
	h.viol.mu.Lock()
	for _, e := range h.viol.examples {
		fmt.Printf("violation: %s\n", e)
	}
	if h.viol.examplesCapped {
		fmt.Println("violation: (more not shown)")
	}
	h.viol.mu.Unlock()
	fmt.Println()
	return failures
}

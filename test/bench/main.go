// Command bench is `make bench`'s driver: it measures archfit against the
// default scheduler and CA's expanders in one process and one run (ratios
// from one run are what survive a shared, noisy machine), and prints one
// summary table. Go micro-benchmarks are run by make before it and their
// output is passed in with -gobench.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/test/harness/benchcluster"
)

type row struct {
	area, metric, value, goal string
}

func main() {
	var (
		nodes          = flag.String("nodes", "1000", "comma-separated node counts for the throughput benchmark (500,1000,5000)")
		pods           = flag.Int("pods", 3000, "pods scheduled per profile in the throughput benchmark")
		images         = flag.Int("images", 1000, "distinct images for the cold resolver and expander benchmarks")
		outcome        = flag.Int("outcome-size", 60, "pods in the outcome workload")
		gobench        = flag.String("gobench", "", "file with `go test -bench` output to summarise")
		profile        = flag.String("cpuprofile", "bin/archfit-throughput.pprof", "CPU profile of the archfit throughput run")
		skip           = flag.String("skip", "", "comma-separated sections to skip: throughput,expander,resolver,placement,outcome,migration")
		verbose        = flag.Bool("verbose", false, "show the embedded components' logs")
		pinned         = flag.String("pinned-order", "DAADADDADAAD", "order of the throughput rounds for pods of ReplicaSets whose single-arch ones are pinned to their arch by a nodeSelector, so that both profiles place every pod correctly (the goal's workload), in blocks of four with two of each profile: D default-scheduler, A archfit-scheduler; empty skips them")
		order          = flag.String("order", "", "order of the throughput rounds for the same pods without pins, which the default profile places on the wrong arch 13% of the time, as for -pinned-order; empty (the default, to keep a cold make bench under 15 minutes) skips them")
		bare           = flag.String("bare-order", "", "order of the throughput rounds for bare pods (no controller, as upstream's scheduler_perf), as for -pinned-order; empty (the default, to keep a cold make bench under 15 minutes) skips them")
		placementPods  = flag.Int("placement-pods", 1000, "pods created per round in the placement benchmark")
		placementOrder = flag.String("placement-order", "WOOWOWWOFOOF", "order of the placement benchmark's rounds: W with archfit-placement's webhook configuration installed, F with a floor webhook (decode, one-op patch) in its place, O with none; blocks of four, two O and two of W or F")
		floor          = flag.String("floor-order", "", "order of the throughput rounds that measure the framework's floor: the pinned pods with default-scheduler (D) and with the default profile plus a Score plugin that does nothing (N), in blocks of four with two of each; empty (the default) skips them")
		migWorkloads   = flag.Int("migration-workloads", 50, "Deployments in the migration benchmark")
		migReplicas    = flag.Int("migration-replicas", 20, "replicas per Deployment in the migration benchmark")
		migFast        = flag.Duration("migration-window", time.Minute, "longest the migration benchmark moves pods with the eviction limit lifted")
		migDefault     = flag.Duration("migration-default-window", 2*time.Minute, "how long the migration benchmark moves pods at the shipped interval and eviction limit")
	)
	flag.Parse()
	if !*verbose {
		klog.SetLogger(logr.Discard())
	}
	ctx := context.Background()
	start := time.Now()
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	var rows []row
	fail := func(section string, err error) {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", section, err)
		os.Exit(1)
	}
	if *gobench != "" {
		r, err := summariseGoBench(*gobench)
		if err != nil {
			fail("go test -bench output", err)
		}
		rows = append(rows, r...)
	}
	if !skipped["resolver"] {
		r, err := resolverBench(ctx, *images)
		if err != nil {
			fail("resolver", err)
		}
		rows = append(rows, r...)
	}
	if !skipped["expander"] {
		r, err := expanderBench(ctx, *images)
		if err != nil {
			fail("expander", err)
		}
		rows = append(rows, r...)
	}
	if !skipped["placement"] {
		r, err := placementBench(ctx, *placementPods, *placementOrder)
		if err != nil {
			fail("placement", err)
		}
		rows = append(rows, r...)
	}
	if !skipped["throughput"] {
		for _, n := range strings.Split(*nodes, ",") {
			count, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil {
				fail("throughput", fmt.Errorf("-nodes %q: %v", *nodes, err))
			}
			r, err := throughputBench(ctx, count, *pods, *profile, roundOrders{*order, *pinned, *bare, *floor})
			if err != nil {
				fail("throughput", err)
			}
			rows = append(rows, r...)
		}
	}
	if !skipped["outcome"] {
		r, err := outcomeBench(ctx, *outcome)
		if err != nil {
			fail("outcome", err)
		}
		rows = append(rows, r...)
	}
	if !skipped["migration"] {
		r, err := migrationBench(ctx, migrationSizes{workloads: *migWorkloads, replicas: *migReplicas, fastWindow: *migFast, defaultWindow: *migDefault})
		if err != nil {
			fail("migration", err)
		}
		rows = append(rows, r...)
	}

	host, _ := os.Hostname()
	fmt.Printf("\narchfit benchmarks — %s, %s/%s, %d CPUs, %s, %s, took %s\n\n", time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), host, time.Since(start).Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AREA\tMETRIC\tVALUE\tGOAL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.area, r.metric, r.value, r.goal)
	}
	tw.Flush()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// summariseGoBench picks the figures the goals are about out of `go test
// -bench -benchmem` output.
func summariseGoBench(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	goals := map[string]string{
		"BenchmarkResolveCacheHit/raw":                  "≤ 200 ns, 0 allocs",
		"BenchmarkResolveCacheHit/instrumented":         "≤ 200 ns, 0 allocs",
		"BenchmarkFilterScorePerNode":                   "≤ 300 ns/node, 0 allocs/node",
		"BenchmarkPreFilterWarm":                        "(per pod)",
		"BenchmarkBestOptions/options=200/pods=50/warm": "p99 ≤ 20 ms",
		"BenchmarkWebhookReview":                        "(per review; p99 goal ≤ 5 ms below)",
	}
	var out []row
	// The scheduling cycle's ns/op per profile, by node count, for the
	// ratio rows after the table.
	cycle := map[string]map[string]float64{}
	var sizes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		if c := cycleName.FindStringSubmatch(name); c != nil {
			if cycle[c[1]] == nil {
				cycle[c[1]] = map[string]float64{}
				sizes = append(sizes, c[1])
			}
			if f := strings.Fields(m[3]); len(f) > 1 && f[1] == "ns/op" {
				cycle[c[1]][c[2]], _ = strconv.ParseFloat(f[0], 64)
			}
			out = append(out, row{"go test -bench", strings.TrimPrefix(name, "Benchmark"), strings.Join(strings.Fields(m[3]), " "), "(per pod)"})
			continue
		}
		goal, ok := goals[name]
		if !ok && !strings.HasPrefix(name, "BenchmarkBestOptions") {
			continue
		}
		fields := strings.Fields(m[3])
		var parts []string
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i+1] == "ns/op" && strings.HasPrefix(name, "BenchmarkFilterScorePerNode") {
				continue // per 1,000 nodes; ns/node is the figure
			}
			parts = append(parts, fields[i]+" "+fields[i+1])
		}
		out = append(out, row{"go test -bench", strings.TrimPrefix(name, "Benchmark"), strings.Join(parts, ", "), goal})
	}
	for _, n := range sizes {
		if d, a := cycle[n]["default"], cycle[n]["archfit"]; d > 0 && a > 0 {
			out = append(out, row{"go test -bench", fmt.Sprintf("scheduling cycle, %s: default's ns per pod ÷ archfit's", n), fmt.Sprintf("%.3f", d/a), "— (the cycle alone; see BENCH.md)"})
		}
		if d, f := cycle[n]["default"], cycle[n]["noop-score"]; d > 0 && f > 0 {
			out = append(out, row{"go test -bench", fmt.Sprintf("scheduling cycle, %s: default's ns per pod ÷ default plus a no-op Score plugin's", n), fmt.Sprintf("%.3f", d/f), "— (the framework's floor for any Score plugin)"})
		}
	}
	return out, sc.Err()
}

var cycleName = regexp.MustCompile(`^BenchmarkSchedulingCycle/(nodes=\d+/pods=[\w-]+)/(default|archfit|` +
	regexp.QuoteMeta(strings.TrimSuffix(benchcluster.FloorProfile, "-scheduler")) + `)-scheduler$`)

const ownCode = `archfit/archfit/(plugins|internal/(imageplatform|cost))`

// pprofTop prints the top of a CPU profile for the whole process, then the
// cumulative time of archfit's own functions (callees included), for the
// next optimisation.
func pprofTop(profile string) {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	run := func(args ...string) string {
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s(pprof: %v)\n", out, err)
		}
		return string(out)
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=10", exe, profile}
	fmt.Fprintf(os.Stderr, "\n$ go %s\n%s", strings.Join(args, " "), run(args...))
	// "archfit" alone would match every goroutine the in-process control
	// plane started, so focus on the plugin's packages and keep only their
	// lines of the cumulative listing.
	args = []string{"tool", "pprof", "-top", "-cum", "-nodecount=300", "-focus=" + ownCode, exe, profile}
	fmt.Fprintf(os.Stderr, "\n$ go %s | grep -E '%s' | head -10\n", strings.Join(args, " "), ownCode)
	own, n := regexp.MustCompile(ownCode), 0
	for _, line := range strings.Split(run(args...), "\n") {
		if own.MatchString(line) && n < 10 {
			fmt.Fprintln(os.Stderr, line)
			n++
		}
	}
}

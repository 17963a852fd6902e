package main

import (
	"context"
	"fmt"
	schedulerconfig "github.com/archfit/archfit/scheduler-config"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/archfit"
	"github.com/archfit/archfit/test/harness/benchcluster"
	"github.com/archfit/archfit/test/harness/controlplane"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// throughputBench schedules the same pods with the default profile and then
// with archfit-scheduler, in one scheduler process against one control
// plane, and reports pods/s for each and their ratio.
func throughputBench(ctx context.Context, nodes, pods int, profile string, orders roundOrders) ([]row, error) {
	var rounds [4][]string
	for i, o := range []struct {
		flag, order string
		other       rune
	}{{"-order", orders.replicaSets, 'A'}, {"-pinned-order", orders.pinned, 'A'}, {"-bare-order", orders.bare, 'A'}, {"-floor-order", orders.floor, 'N'}} {
		var err error
		if rounds[i], err = roundOrder(o.flag, o.order, o.other); err != nil {
			return nil, err
		}
	}
	progress("throughput: %d nodes, %d pods per profile: starting the control plane", nodes, pods)
	reg := registrytest.New()
	defer reg.Close()
	im, err := benchcluster.Push(reg)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "archfit-throughput-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	cfg, err := schedulerconfig.ForLoopbackRegistry(reg.Host)
	if err != nil {
		return nil, err
	}
	options := []app.Option{app.WithPlugin(archfit.Name, archfit.New)}
	if len(rounds[3]) > 0 {
		// Only when asked for, so that the usual runs measure the scheduler
		// the shipped configuration builds, and nothing more.
		if cfg, err = benchcluster.WithFloorProfile(cfg); err != nil {
			return nil, err
		}
		options = append(options, app.WithPlugin(benchcluster.NoopScoreName, benchcluster.NewNoopScore))
	}
	stop, err := cp.StartScheduler(ctx, cfg, options...)
	if err != nil {
		return nil, err
	}
	defer stop()

	progress("throughput: creating %d nodes (2/3 amd64, 1/3 arm64)", nodes)
	if err := parallel(nodes, func(i int) error { return createNode(ctx, cp, i) }); err != nil {
		return nil, err
	}
	mix := im.Mix(false)
	// Warm up, unmeasured: the resolver, as the plugin's informer does for
	// real pods, and the control plane, which is still settling after the
	// node writes. Without this the first round ran at 105% CPU (not 200%)
	// and at 60% of the later rounds' rate, which favoured whichever
	// profile did not go first.
	for i, sched := range []string{af, def} {
		ns := fmt.Sprintf("warm-%d", i)
		progress("throughput: warming up with %s, %d pods (not measured)", sched, pods/2)
		if _, err := measure(ctx, cp, ns, sched, pods/2, mix, replicaSets); err != nil {
			return nil, err
		}
		if err := deletePods(ctx, cp, ns); err != nil {
			return nil, err
		}
	}
	// Rounds go in blocks of four, ABBA or BAAB: the control plane slows as
	// it accumulates history (etcd revisions, watch caches) and a round
	// leaves work to the next (its pods' deletion), so whichever profile ran
	// second would look slower; within a block that cancels. The ratio is
	// the median over blocks, because this shared machine now and then runs
	// at half speed for tens of seconds (see summarise). Pooled pods/s are
	// shown too. The workloads are pods of ReplicaSets, as a cluster's pods
	// are, with the single-arch ones pinned to their arch by a nodeSelector
	// (what a mixed cluster needs without archfit), so that both profiles
	// place every pod correctly: the goal's workload, run first; the same
	// pods without pins, which the default profile puts on the wrong arch
	// 13% of the time, so it does less work than a correct placement; and
	// bare pods, for which ArchFit writes its informational Events per pod
	// (placementEvents PerWorkload).
	//
	// The floor workload is the pinned pods again, with the default profile
	// against the same profile plus a Score plugin that does nothing: what
	// kube-scheduler charges any plugin that scores, before its own work.
	type workload struct {
		label  string
		kinds  []benchcluster.Kind
		owners int
		order  []string
		other  string // the profile compared with default-scheduler
		goal   string
	}
	var rows []row
	profiled := map[string]bool{}
	pinnedLabel := fmt.Sprintf("pods of %d ReplicaSets, single-arch ones pinned", replicaSets)
	for w, kind := range []workload{
		{pinnedLabel, im.Mix(true), replicaSets, rounds[1], af, "≥ 0.95"},
		{fmt.Sprintf("pods of %d ReplicaSets", replicaSets), mix, replicaSets, rounds[0], af, "— (default misplaces 13%; see BENCH.md)"},
		{"bare pods", mix, 0, rounds[2], af, "— (see BENCH.md)"},
		{pinnedLabel, im.Mix(true), replicaSets, rounds[3], benchcluster.FloorProfile, "— (the framework's floor for any Score plugin)"},
	} {
		if len(kind.order) == 0 {
			continue
		}
		durations := make([]time.Duration, len(kind.order))
		for i, sched := range kind.order {
			ns := fmt.Sprintf("bench-%d-%d", w, i)
			progress("throughput: %s, %d %s (round %d of %d)", sched, pods, kind.label, i+1, len(kind.order))
			var f *os.File
			if !profiled[sched] && sched != benchcluster.FloorProfile {
				// The first round of each profile: the CPU breakdown is
				// compared between them.
				profiled[sched] = true
				name := profile
				if sched == def {
					name = profile + ".default"
				}
				if f, err = os.Create(name); err != nil {
					return nil, err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return nil, err
				}
				writeAllocs(name + ".allocs.before")
			}
			before := scrape(ctx, cp)
			d, err := measure(ctx, cp, ns, sched, pods, kind.kinds, kind.owners)
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
				// Cumulative allocation profiles around the round; compare
				// with go tool pprof -sample_index=alloc_space -diff_base.
				writeAllocs(f.Name() + ".allocs.after")
			}
			if err != nil {
				return nil, err
			}
			durations[i] = d
			after := scrape(ctx, cp)
			progress("throughput: %s: %.0f pods/s; Events per pod by reason: %s", sched, float64(pods)/d.Seconds(), eventsPerPod(ctx, cp, ns, pods))
			progress("throughput: API requests per pod: %s", diffRequests(before, after, pods))
			progress("throughput: nodes per pod, by plugin: %s", nodesPerPod(before, after, sched, pods))
			if err := deletePods(ctx, cp, ns); err != nil {
				return nil, err
			}
		}
		r := summarise(kind.order, durations, pods, kind.other)
		ratio := "archfit ÷ default"
		if kind.other == benchcluster.FloorProfile {
			ratio = "default plus a no-op Score plugin ÷ default"
		}
		rows = append(rows,
			row{"scheduler", fmt.Sprintf("throughput, %d nodes, %d×%d %s: %s", nodes, r.n[def], pods, kind.label, def), fmt.Sprintf("%.0f pods/s", r.rate[def]), ""},
			row{"scheduler", fmt.Sprintf("throughput, %d nodes, %d×%d %s: %s", nodes, r.n[kind.other], pods, kind.label, kind.other), fmt.Sprintf("%.0f pods/s", r.rate[kind.other]), ""},
			row{"scheduler", fmt.Sprintf("throughput ratio %s, %d nodes, %s: median of ABBA blocks", ratio, nodes, kind.label),
				fmt.Sprintf("%.3f (blocks %s; pooled %.3f)", r.median, r.blocks, r.rate[kind.other]/r.rate[def]), kind.goal},
		)
	}
	pprofTop(profile)
	return rows, nil
}

// The two profiles the throughput benchmark compares, as pods name them.
const def, af = "default-scheduler", "archfit-scheduler"

// replicaSets is how many workloads the benchmark's pods belong to: the 10
// image kinds (70/20/10) each in three ReplicaSets.
const replicaSets = 30

// eventsPerPod counts the namespace's Events by reason, because each one is
// an apiserver write that shares the benchmark's two cores.
func eventsPerPod(ctx context.Context, cp *controlplane.ControlPlane, ns string, pods int) string {
	time.Sleep(time.Second) // the recorders write asynchronously
	list, err := cp.Client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	by := map[string]float64{}
	for _, e := range list.Items {
		by[e.Reason]++
	}
	return perPod(by, pods, 1)
}

func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := atomic.Int64{}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func createNode(ctx context.Context, cp *controlplane.ControlPlane, i int) error {
	n := benchcluster.Node(i)
	status := n.Status
	created, err := cp.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	created.Status = status
	_, err = cp.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

// measure creates pods of a profile and returns the time from the first
// create to the last binding (scheduler_perf counts bindings over the
// measured interval likewise).
//
// With owners > 0, pod i belongs to ReplicaSet rs-(i mod owners); the
// ReplicaSets themselves are not created (no controller runs here), and pods
// of one ReplicaSet are of one kind, since i mod owners fixes i mod 10.
func measure(ctx context.Context, cp *controlplane.ControlPlane, ns, scheduler string, pods int, kinds []benchcluster.Kind, owners int) (time.Duration, error) {
	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	var bound atomic.Int64
	allBound := make(chan struct{})
	f := informers.NewSharedInformerFactoryWithOptions(cp.Client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	seen := sync.Map{}
	count := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			if _, dup := seen.LoadOrStore(p.UID, true); !dup && bound.Add(1) == int64(pods) {
				close(allBound)
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: count, UpdateFunc: func(_, n any) { count(n) }}); err != nil {
		return 0, err
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.Start(ictx.Done())
	f.WaitForCacheSync(ictx.Done())
	controller := true
	start := time.Now()
	err := parallel(pods, func(i int) error {
		p := kinds[i%len(kinds)].Pod(scheduler)
		p.Name = fmt.Sprintf("p-%05d", i)
		if owners > 0 {
			rs := fmt.Sprintf("rs-%02d", i%owners)
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: types.UID(ns + "/" + rs), Controller: &controller}}
		}
		_, err := cp.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return 0, err
	}
	select {
	case <-allBound:
	case <-time.After(10 * time.Minute):
		return 0, fmt.Errorf("%s: only %d of %d pods bound in 10 minutes", scheduler, bound.Load(), pods)
	}
	return time.Since(start), nil
}

// writeAllocs saves the process's cumulative allocation profile; two of them
// around a round give that round's allocations (GC was a quarter of the
// archfit round's CPU at 5,000 nodes, so bytes allocated are a target too).
func writeAllocs(name string) {
	f, err := os.Create(name)
	if err != nil {
		progress("throughput: allocation profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		progress("throughput: allocation profile: %v", err)
	}
}

// result is one workload's throughput: pods/s pooled per profile, the
// ratio of each block of four rounds and their median.
type result struct {
	n      map[string]int
	rate   map[string]float64
	blocks string
	median float64
}

// summarise pools each block of four rounds (two of each profile, in ABBA
// or BAAB order, which cancels the control plane's slowing within the
// block and the cost a round leaves to the next) into one ratio, and takes
// the median over blocks, so that one spell of this shared machine running
// at half speed spoils one block, not the figure.
func summarise(order []string, durations []time.Duration, pods int, other string) result {
	r := result{n: map[string]int{}, rate: map[string]float64{}}
	total := map[string]time.Duration{}
	var ratios []float64
	block := map[string]time.Duration{}
	for i, sched := range order {
		r.n[sched]++
		total[sched] += durations[i]
		block[sched] += durations[i]
		if i%4 == 3 {
			// pods/s other ÷ default = default's time ÷ the other's.
			ratios = append(ratios, block[def].Seconds()/block[other].Seconds())
			r.blocks += fmt.Sprintf("%.3f ", ratios[len(ratios)-1])
			block = map[string]time.Duration{}
		}
	}
	for sched, t := range total {
		r.rate[sched] = float64(r.n[sched]*pods) / t.Seconds()
	}
	r.blocks = strings.TrimSpace(r.blocks)
	sort.Float64s(ratios)
	if n := len(ratios); n%2 == 1 {
		r.median = ratios[n/2]
	} else {
		r.median = (ratios[n/2-1] + ratios[n/2]) / 2
	}
	return r
}

// roundOrders are the workloads' round orders (-order, -pinned-order,
// -bare-order, -floor-order); an empty one skips its workload.
type roundOrders struct{ replicaSets, pinned, bare, floor string }

// roundOrder turns an order (D for default-scheduler and other, A for
// archfit-scheduler or N for the floor profile) into profile names, in
// blocks of four with two rounds of each; an empty order is no rounds.
func roundOrder(flag, order string, other rune) ([]string, error) {
	if order == "" {
		return nil, nil
	}
	profile := map[rune]string{'D': def, 'A': af, 'N': benchcluster.FloorProfile}
	var out []string
	for _, c := range strings.ToUpper(order) {
		if c != 'D' && c != other {
			return nil, fmt.Errorf("%s %q: want only D and %c, got %q", flag, order, other, c)
		}
		out = append(out, profile[c])
	}
	if len(out)%4 != 0 {
		return nil, fmt.Errorf("%s %q: want blocks of four rounds", flag, order)
	}
	for i := 0; i < len(out); i += 4 {
		defaults := 0
		for _, sched := range out[i : i+4] {
			if sched == def {
				defaults++
			}
		}
		if defaults != 2 {
			return nil, fmt.Errorf("%s %q: rounds %d to %d must be two of each profile", flag, order, i+1, i+4)
		}
	}
	return out, nil
}

// deletePods removes a round's pods and gives the scheduler's cache time to
// drop them.
func deletePods(ctx context.Context, cp *controlplane.ControlPlane, ns string) error {
	if err := cp.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	return nil
}

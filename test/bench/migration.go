package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/plugins/archfit"
	schedulerconfig "github.com/archfit/archfit/scheduler-config"
	"github.com/archfit/archfit/test/harness/benchcluster"
	"github.com/archfit/archfit/test/harness/controlplane"
	"github.com/archfit/archfit/test/harness/kubeletsim"
	"github.com/archfit/archfit/test/harness/placementtest"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// migrationSizes are the migration section's workload and windows.
type migrationSizes struct {
	workloads, replicas int
	// fastWindow bounds the run with the rate limit lifted; defaultWindow
	// is the run at the shipped interval and limit.
	fastWindow, defaultWindow time.Duration
}

// The namespace of the section's Deployments, and their names' prefix.
const migNS, migPrefix = "bench-migration", "w-"

// fastPerMinute lifts the eviction limit out of the way: with a burst of
// one, a limit near one eviction's round trip would still bind within a
// pass and be taken for the controller's own cadence.
const fastPerMinute = 60000

// migrationBench measures archfit-placement's migration controller on the
// in-process control plane (Deployment, ReplicaSet and disruption
// controllers, archfit-scheduler, kubeletsim for kubelet): the requests it
// makes to kube-apiserver, counted in its own client's transport, to start,
// per pass with nothing to move, and per move; the rate it moves pods at
// with the limit lifted; and whether the default limit holds.
func migrationBench(ctx context.Context, s migrationSizes) ([]row, error) {
	pods := s.workloads * s.replicas
	dir, err := os.MkdirTemp("", "archfit-bench-migration-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	progress("migration: starting the control plane, its controllers, archfit-scheduler, a registry and archfit-placement")
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := cp.StartControllers(ctx); err != nil {
		return nil, err
	}
	reg := registrytest.New()
	defer reg.Close()
	digest, err := reg.PushIndex("app/web:1", []string{"linux/amd64", "linux/arm64"}, false, true)
	if err != nil {
		return nil, err
	}
	image := reg.Host + "/app/web:1"
	cfg, err := schedulerconfig.ForLoopbackRegistry(reg.Host)
	if err != nil {
		return nil, err
	}
	stopScheduler, err := cp.StartScheduler(ctx, cfg, app.WithPlugin(archfit.Name, archfit.New))
	if err != nil {
		return nil, err
	}
	defer stopScheduler()
	for _, ns := range []string{"archfit", migNS, "bench-probe"} {
		if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	// A third of benchcluster's nodes are arm64, 110 pods each: room for
	// every replica on arm64, and twice that on amd64.
	nodes := 3 * ((pods + 99) / 100)
	if err := parallel(nodes, func(i int) error { return createNode(ctx, cp, i) }); err != nil {
		return nil, err
	}
	arches := map[string]string{}
	for i := 0; i < nodes; i++ {
		n := benchcluster.Node(i)
		arches[n.Name] = n.Labels[imageplatform.LabelArch]
	}
	kl := &kubeletsim.Kubelet{Client: cp.Client, Namespace: migNS,
		ImageID: func(string) string { return reg.Host + "/app/web@" + digest }}
	go func() { _ = kl.Run(ctx) }()

	log := &apiLog{counts: map[string]float64{}, refused: map[int]int{}, infos: &apirequest.RequestInfoFactory{
		APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}}
	pcfg := rest.CopyConfig(cp.Config)
	inner := pcfg.WrapTransport
	pcfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if inner != nil {
			rt = inner(rt)
		}
		return log.wrap(rt)
	}
	srv, err := placementtest.NewServer(pcfg, dir)
	if err != nil {
		return nil, err
	}
	up := func(mode migrationctl.Mode, interval time.Duration, perMinute float64) error {
		return srv.Up(ctx, func(o *placementapp.Options) {
			shipped := placementapp.NewOptions()
			o.InsecureRegistries = []string{reg.Host}
			o.MigrationMode, o.MigrationInterval, o.MigrationEvictionsPerMinute = string(mode), interval, perMinute
			if interval != shipped.MigrationInterval {
				// The runs that measure the controller's own pace: a
				// moved pod (started at once by the kubelet stand-in)
				// soaks a second, not the shipped five minutes.
				o.MigrationSoak, o.MigrationReadyTimeout = time.Second, time.Minute
			}
			// The shipped Lease timings, not the harness's shorter ones, so
			// that leader election's requests per second are what a
			// cluster sees.
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = shipped.LeaseDuration, shipped.RenewDeadline, shipped.RetryPeriod
		})
	}
	defer srv.Down()

	// The cluster: every replica bound and Running on amd64, each
	// workload's target 0% and its ramp step written.
	if err := up(migrationctl.ModeDryRun, time.Second, 6); err != nil {
		return nil, err
	}
	if err := srv.Install(ctx, cp.Client, "bench-probe", image); err != nil {
		return nil, err
	}
	progress("migration: %d Deployments × %d replicas on %d nodes (1/3 arm64), target 0%%", s.workloads, s.replicas, nodes)
	t := time.Now()
	if err := parallel(s.workloads, func(i int) error { return createDeployment(ctx, cp, i, s.replicas, image) }); err != nil {
		return nil, err
	}
	if _, err := waitPlaced(ctx, cp, arches, 3*time.Minute, func(c placed) bool { return c.amd64 == pods && c.running == pods }); err != nil {
		return nil, err
	}
	progress("migration: %d replicas bound and Running on amd64 in %v", pods, time.Since(t).Round(time.Second))
	if err := waitPasses(ctx, srv.MetricsAddr, 2, 30*time.Second); err != nil {
		return nil, err
	}
	if err := srv.Down(); err != nil {
		return nil, err
	}

	var rows []row
	// Nothing to move: what starting costs, and what a pass costs, per
	// mode. Passes every second; a pass's requests do not depend on the
	// interval, the Lease's do, and are shown apart.
	var leases string
	for _, mode := range []migrationctl.Mode{migrationctl.ModeDryRun, migrationctl.ModeEnabled} {
		progress("migration: %s, targets 0%%: starting, then 10 passes", mode)
		before := log.snapshot()
		t0 := time.Now()
		if err := up(mode, time.Second, 6); err != nil {
			return nil, err
		}
		// Passes counts a pass as it begins: the second has begun once the
		// first has finished.
		if err := waitPasses(ctx, srv.MetricsAddr, 2, time.Minute); err != nil {
			return nil, err
		}
		started, startTime := log.snapshot(), time.Since(t0)
		if err := waitPasses(ctx, srv.MetricsAddr, 3, time.Minute); err != nil {
			return nil, err
		}
		p1, s1, t1 := passes(srv.MetricsAddr), log.snapshot(), time.Now()
		if err := waitPasses(ctx, srv.MetricsAddr, p1+10, time.Minute); err != nil {
			return nil, err
		}
		p2, s2, t2 := passes(srv.MetricsAddr), log.snapshot(), time.Now()
		if err := srv.Down(); err != nil {
			return nil, err
		}
		start, startLeases := withoutLeases(diff(before, started))
		steady, steadyLeases := withoutLeases(diff(s1, s2))
		n := p2 - p1
		if mode == migrationctl.ModeDryRun {
			rows = append(rows, row{"migration", fmt.Sprintf("archfit-placement's requests to kube-apiserver to start, %d pods (until its first pass is done)", pods),
				fmt.Sprintf("%s(%.0f in all, in %.1f s); leader election %.0f more", format(start, 1, "%.0f"), total(start), startTime.Seconds(), startLeases), "— (one per informer)"})
		}
		rows = append(rows, row{"migration", fmt.Sprintf("requests per pass, steady state, targets 0%% (nothing to move), %s, %d pods", mode, pods),
			fmt.Sprintf("%.2f (%.0f in %.0f passes%s)", total(steady)/n, total(steady), n, orNone(format(steady, 1, "%.0f"))), "≈ 0"})
		leases = fmt.Sprintf("%.2f lease requests/s (shipped Lease timings)", steadyLeases/t2.Sub(t1).Seconds())
	}
	rows = append(rows, row{"migration", "leader election, the whole time (not per pass)", leases, "—"})

	for i := 0; i < s.workloads; i++ {
		if err := setTarget(ctx, cp, fmt.Sprintf("%s%02d", migPrefix, i), "100%"); err != nil {
			return nil, err
		}
	}

	// The shipped interval and limit, targets 100%: the limiter's count.
	progress("migration: Enabled at the shipped interval (%v) and limit (6/min), targets 100%%, for %v", placementapp.NewOptions().MigrationInterval, s.defaultWindow)
	ds0 := log.snapshot()
	if err := up(migrationctl.ModeEnabled, placementapp.NewOptions().MigrationInterval, placementapp.NewOptions().MigrationEvictionsPerMinute); err != nil {
		return nil, err
	}
	if err := waitPasses(ctx, srv.MetricsAddr, 1, time.Minute); err != nil {
		return nil, err
	}
	d0 := time.Now()
	select {
	case <-time.After(s.defaultWindow):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	slow := log.evictionsBetween(d0, d0.Add(s.defaultWindow))
	dPasses := passes(srv.MetricsAddr)
	if _, err := waitPlaced(ctx, cp, arches, time.Minute, func(c placed) bool { return c.pending == 0 && c.terminating == 0 }); err != nil {
		return nil, err
	}
	if err := srv.Down(); err != nil {
		return nil, err
	}
	marks := diff(ds0, log.snapshot())["patch deployments"]
	minutes := s.defaultWindow.Minutes()
	bound := 1 + int(math.Floor(minutes*6))
	verdict := "within it"
	if len(slow) > bound {
		verdict = "OVER it"
	}
	rows = append(rows, row{"migration", fmt.Sprintf("moves at the shipped limit (6/min, passes every 10 s), measured over %.0f s from the controller's start", s.defaultWindow.Seconds()),
		fmt.Sprintf("%d moves in %.0f passes, %s the limiter's %d (1 + %.1f min × 6); %s", len(slow), dPasses, verdict, bound, minutes, describeGaps(slow)), fmt.Sprintf("≤ %d", bound)})

	// The limit lifted, passes every second: how fast the controller moves
	// pods by itself.
	left := pods - len(log.evictionsBetween(time.Time{}, time.Now()))
	progress("migration: Enabled, interval 1s, limit %d/min, %d replicas left to move, for up to %v", fastPerMinute, left, s.fastWindow)
	if err := up(migrationctl.ModeEnabled, time.Second, fastPerMinute); err != nil {
		return nil, err
	}
	if err := waitPasses(ctx, srv.MetricsAddr, 1, time.Minute); err != nil {
		return nil, err
	}
	f0, fs0, fp0 := time.Now(), log.snapshot(), passes(srv.MetricsAddr)
	end := f0.Add(s.fastWindow)
	for time.Now().Before(end) && len(log.evictionsBetween(f0, end)) < left {
		time.Sleep(250 * time.Millisecond)
	}
	f1, fp1 := time.Now(), passes(srv.MetricsAddr)
	moves := log.evictionsBetween(f0, f1)
	if len(moves) == left {
		f1 = moves[len(moves)-1].at
	}
	// The requests per move are over every move until the controller
	// stops, so that none of those moves' requests is left out.
	if err := srv.Down(); err != nil {
		return nil, err
	}
	fs1 := log.snapshot()
	all := log.evictionsBetween(f0, time.Now())
	if len(moves) == 0 {
		return nil, fmt.Errorf("no pod moved in %v with the limit lifted", s.fastWindow)
	}
	perMove, _ := withoutLeases(diff(fs0, fs1))
	n := float64(len(all))
	var took []time.Duration
	for _, e := range all {
		took = append(took, e.took)
	}
	window := f1.Sub(f0)
	passInterval := window.Seconds() / (fp1 - fp0)
	gap, perWorkload := cadence(moves)
	passesPerMove := gap.Seconds() / passInterval
	rate := n / window.Minutes()
	rows = append(rows,
		row{"migration", fmt.Sprintf("requests per move (Enabled, interval 1 s, limit %d/min; %d moves)", fastPerMinute, len(all)),
			fmt.Sprintf("%s= %.2f per move%s; plus %.0f patch deployments for the %d workloads (the new target's first ramp step, and arm64-next before the first move); at archfit-placement's default --kube-api-qps 50, at most %.0f moves/s",
				format(perMove, n, "%.2f"), total(perMove)/n, refusals(log), marks, s.workloads, 50/(total(perMove)/n)), "—"},
		row{"migration", fmt.Sprintf("moves per minute, interval 1 s, limit lifted (%d/min), %d × %d replicas to 100%%, arm64 room for all", fastPerMinute, s.workloads, s.replicas),
			fmt.Sprintf("%.0f/min (%d moves in %.1f s; a pass every %.2f s, its evictions one after another, median round trip %.0f ms); per workload a move every %.1f s = %.1f passes (median of %d workloads)",
				rate, len(moves), window.Seconds(), passInterval, float64(median(took).Microseconds())/1000, gap.Seconds(), passesPerMove, perWorkload), "—"},
	)
	byLimit := float64(pods) / 6
	byCadence := float64(s.replicas) * passesPerMove * 10 / 60
	rows = append(rows, row{"migration", fmt.Sprintf("time to move %d replicas at the shipped interval and limit (10 s, 6/min)", pods),
		fmt.Sprintf("%.0f min = max(%d ÷ 6/min = %.1f min, %d replicas × %.1f passes/move × 10 s = %.1f min with the %d workloads in parallel)",
			math.Max(byLimit, byCadence), pods, byLimit, s.replicas, passesPerMove, byCadence, s.workloads), "—"})
	return rows, nil
}

func createDeployment(ctx context.Context, cp *controlplane.ControlPlane, i, replicas int, image string) error {
	name := fmt.Sprintf("%s%02d", migPrefix, i)
	labels := map[string]string{"app": name}
	n := int32(replicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{migration.TargetAnnotation: "0%"}},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				SchedulerName: "archfit-scheduler",
				Containers: []corev1.Container{{Name: "web", Image: image, Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}},
			}}},
	}
	_, err := cp.Client.AppsV1().Deployments(migNS).Create(ctx, d, metav1.CreateOptions{})
	return err
}

func setTarget(ctx context.Context, cp *controlplane.ControlPlane, name, target string) error {
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{migration.TargetAnnotation: target}}})
	if err != nil {
		return err
	}
	_, err = cp.Client.AppsV1().Deployments(migNS).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
	return err
}

// placed counts the section's pods: bound ones by their node's arch, and
// those Running, pending and terminating.
type placed struct{ amd64, arm64, running, pending, terminating int }

func waitPlaced(ctx context.Context, cp *controlplane.ControlPlane, arches map[string]string, timeout time.Duration, ok func(placed) bool) (placed, error) {
	deadline := time.Now().Add(timeout)
	var c placed
	for {
		list, err := cp.Client.CoreV1().Pods(migNS).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return c, err
		}
		c = placed{}
		for _, p := range list.Items {
			switch {
			case p.DeletionTimestamp != nil:
				c.terminating++
			case p.Spec.NodeName == "":
				c.pending++
			case arches[p.Spec.NodeName] == migration.ARM64:
				c.arm64++
			default:
				c.amd64++
			}
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				c.running++
			}
		}
		if ok(c) {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("pods stayed %+v for %v", c, timeout)
		}
		time.Sleep(time.Second)
	}
}

// apiLog counts the requests of the clients built from one rest.Config, by
// verb and resource as kube-apiserver names them, and keeps the time and
// workload of each eviction it granted.
type apiLog struct {
	infos     *apirequest.RequestInfoFactory
	mu        sync.Mutex
	counts    map[string]float64
	evictions []eviction
	// refused counts the evictions not granted, by status code.
	refused map[int]int
}

type eviction struct {
	at       time.Time
	took     time.Duration
	workload string
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (l *apiLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		key, evict := "other "+r.Method+" "+r.URL.Path, ""
		if info, err := l.infos.NewRequestInfo(r); err == nil && info.IsResourceRequest {
			key = info.Verb + " " + info.Resource
			if info.Subresource != "" {
				key += "/" + info.Subresource
			}
			if info.Subresource == "eviction" {
				evict = deploymentOf(info.Name)
			}
		}
		l.mu.Lock()
		l.counts[key]++
		l.mu.Unlock()
		t := time.Now()
		resp, err := rt.RoundTrip(r)
		if evict != "" && err == nil {
			l.mu.Lock()
			if resp.StatusCode/100 == 2 {
				l.evictions = append(l.evictions, eviction{time.Now(), time.Since(t), evict})
			} else {
				l.refused[resp.StatusCode]++
			}
			l.mu.Unlock()
		}
		return resp, err
	})
}

// deploymentOf is the Deployment a pod name comes from:
// <deployment>-<template hash>-<suffix>.
func deploymentOf(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) < 3 {
		return pod
	}
	return strings.Join(parts[:len(parts)-2], "-")
}

func (l *apiLog) snapshot() map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]float64, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// evictionsBetween is the evictions granted in [from, to], in order.
func (l *apiLog) evictionsBetween(from, to time.Time) []eviction {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []eviction
	for _, e := range l.evictions {
		if !e.at.Before(from) && !e.at.After(to) {
			out = append(out, e)
		}
	}
	return out
}

func diff(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// withoutLeases splits leader election's requests off: they are per
// second, whatever the controller does.
func withoutLeases(m map[string]float64) (map[string]float64, float64) {
	out, leases := map[string]float64{}, 0.0
	for k, v := range m {
		if strings.HasSuffix(k, " leases") {
			leases += v
			continue
		}
		out[k] = v
	}
	return out, leases
}

func total(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// format lists counts divided by per, by key, each followed by "; ".
func format(m map[string]float64, per float64, verb string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s "+verb+"; ", k, m[k]/per)
	}
	return b.String()
}

// refusals describes the evictions kube-apiserver refused, if any.
func refusals(l *apiLog) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) == 0 {
		return ""
	}
	var parts []string
	for code, n := range l.refused {
		parts = append(parts, fmt.Sprintf("%d × HTTP %d", n, code))
	}
	sort.Strings(parts)
	return " (evictions refused: " + strings.Join(parts, ", ") + ")"
}

func orNone(s string) string {
	if s == "" {
		return ""
	}
	return ": " + strings.TrimSuffix(s, "; ")
}

// cadence is the median, over workloads that moved more than once, of
// the median time between one workload's moves, and how many workloads
// that is over.
func cadence(moves []eviction) (time.Duration, int) {
	by := map[string][]time.Time{}
	for _, e := range moves {
		by[e.workload] = append(by[e.workload], e.at)
	}
	var medians []time.Duration
	for _, ts := range by {
		if len(ts) < 2 {
			continue
		}
		var gaps []time.Duration
		for i := 1; i < len(ts); i++ {
			gaps = append(gaps, ts[i].Sub(ts[i-1]))
		}
		medians = append(medians, median(gaps))
	}
	if len(medians) == 0 {
		return 0, 0
	}
	return median(medians), len(medians)
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// describeGaps lists the time between consecutive moves and which
// workloads they were of.
func describeGaps(moves []eviction) string {
	if len(moves) == 0 {
		return "no move"
	}
	var gaps []string
	workloads := map[string]int{}
	for i, e := range moves {
		workloads[e.workload]++
		if i > 0 {
			gaps = append(gaps, fmt.Sprintf("%.0f", e.at.Sub(moves[i-1].at).Seconds()))
		}
	}
	var ws []string
	for w, n := range workloads {
		ws = append(ws, fmt.Sprintf("%s×%d", w, n))
	}
	sort.Strings(ws)
	return fmt.Sprintf("s between moves: %s; moved: %s", strings.Join(gaps, " "), strings.Join(ws, " "))
}

// passes is archfit_migration_passes_total; 0 when it cannot be read.
func passes(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0
	}
	mf := mfs["archfit_migration_passes_total"]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0
	}
	return mf.GetMetric()[0].GetCounter().GetValue()
}

func waitPasses(ctx context.Context, addr string, n float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for passes(addr) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("the migration controller made %.0f passes in %v, want %.0f", passes(addr), timeout, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

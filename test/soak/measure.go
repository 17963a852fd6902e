package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hist is a latency histogram with fixed, geometric buckets 2% wide. It
// neither allocates nor grows while recording, so the harness's own memory
// stays flat and cannot move the heap bound it checks.
type hist struct {
	n uint64
	b [histBuckets]uint64
}

const (
	histGrowth  = 1.02
	histMin     = time.Microsecond
	histBuckets = 940 // 1 µs × 1.02^940 ≈ 120 s, past every timeout here
)

func histBucket(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/math.Log(histGrowth)) + 1
	return min(i, histBuckets-1)
}

func (h *hist) add(d time.Duration) {
	h.n++
	h.b[histBucket(d)]++
}

func (h *hist) merge(o *hist) {
	h.n += o.n
	for i, c := range o.b {
		h.b[i] += c
	}
}

// quantile returns the upper edge of the bucket holding the q-quantile, so
// a figure is at most 2% above the true one and never below it.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.b {
		seen += c
		if seen >= rank {
			return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
		}
	}
	return time.Duration(float64(histMin) * math.Pow(histGrowth, histBuckets))
}

// series counts one kind of operation: latencies and outcomes by kind, for
// the current interval and since the end of the warm-up.
type series struct {
	mu       sync.Mutex
	interval hist
	counts   map[string]uint64
	measured hist // after the warm-up only
	totals   map[string]uint64
	all      map[string]uint64 // including the warm-up
	warm     bool
}

func newSeries() *series {
	return &series{counts: map[string]uint64{}, totals: map[string]uint64{}, all: map[string]uint64{}}
}

// record counts one operation. timed is false for operations whose latency
// would only blur the figure (the malformed requests' quick refusals).
func (s *series) record(d time.Duration, kind string, timed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if timed {
		s.interval.add(d)
	}
	s.counts[kind]++
	s.all[kind]++
}

type cut struct {
	lat    hist
	counts map[string]uint64
}

// cut closes the interval and returns it.
func (s *series) cut() cut {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := cut{lat: s.interval, counts: s.counts}
	if s.warm {
		s.measured.merge(&s.interval)
		for k, v := range s.counts {
			s.totals[k] += v
		}
	}
	s.interval = hist{}
	s.counts = map[string]uint64{}
	return c
}

func (s *series) startMeasuring() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warm = true
}

func (s *series) results() (measured hist, totals, all map[string]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.measured, clone(s.totals), clone(s.all)
}

func clone(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sum(m map[string]uint64, keep func(string) bool) uint64 {
	var n uint64
	for k, v := range m {
		if keep(k) {
			n += v
		}
	}
	return n
}

// kinds renders counts as "a 3, b 1", largest first, for the kinds keep
// selects; "—" when there are none.
func kinds(m map[string]uint64, keep func(string) bool) string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range m {
		if v > 0 && keep(k) {
			l = append(l, kv{k, v})
		}
	}
	if len(l) == 0 {
		return "—"
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%s %s", e.k, thousands(e.v))
	}
	return strings.Join(parts, ", ")
}

func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f", float64(d)/1e6)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f", float64(d)/1e6)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// usage is the process's memory and goroutines at one point.
type usage struct {
	rss        uint64 // VmRSS
	heapInUse  uint64 // MemStats.HeapInuse: spans holding objects
	heapLive   uint64 // bytes in live objects (right after a GC)
	goroutines int
}

// measureAtRest reads usage after the caller has stopped the load: two GCs
// (the second frees what the first's finalizers and sync.Pool victims
// released) and a scavenge, so that RSS and heap show what is retained
// rather than garbage not yet collected.
func measureAtRest() usage {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{rss: vmRSS(), heapInUse: m.HeapInuse, heapLive: m.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// measureLive reads usage without disturbing the load: the live heap as the
// last GC left it.
func measureLive() usage {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	u := usage{rss: vmRSS()}
	if s[0].Value.Kind() == metrics.KindUint64 {
		u.heapLive = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		u.goroutines = int(s[1].Value.Uint64())
	} else {
		u.goroutines = runtime.NumGoroutine()
	}
	return u
}

func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/archfit/archfit/internal/imageplatform"
)

// sweep walks a pool of n references in an order that jumps between
// repositories, each reference once per pass, from any number of
// goroutines.
type sweep struct {
	n, stride, offset uint64
	next              atomic.Uint64
}

// newSweep starts a pass at offset, so that two sweeps over one pool do
// not ask about the same references at the same time.
func newSweep(n int, offset uint64) *sweep {
	return &sweep{n: uint64(n), stride: coprimeStride(uint64(n)), offset: offset}
}

// coprimeStride is a step near the golden ratio of n that shares no factor
// with n, so i·stride mod n visits every index once per pass.
func coprimeStride(n uint64) uint64 {
	if n < 3 {
		return 1
	}
	s := uint64(float64(n)*0.618) | 1
	for gcd(s, n) != 1 {
		s += 2
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// take returns the next index and how many were taken before it.
func (s *sweep) take() (idx, seq uint64) {
	seq = s.next.Add(1) - 1
	return s.at(seq), seq
}

// at is the index taken at sequence number seq.
func (s *sweep) at(seq uint64) uint64 { return ((s.offset + seq) * s.stride) % s.n }

func (s *sweep) taken() uint64 { return s.next.Load() }

// churn drives the resolver the way the scheduler plugin does, with a
// budget per call, over references that mostly have not been asked about
// recently: 85% the next reference of the sweep (a miss, since the pool is
// ten times the cache), 10% one of the last 2,000 taken (mostly hits), 5% a
// small fixed set that stays cached and so passes its tag TTL and is
// refreshed behind.
type churn struct {
	r       *imageplatform.RegistryResolver
	refs    []string
	sweep   *sweep
	budget  time.Duration
	workers int
	rate    float64
	stats   *series
	gate    *gate
}

const (
	recentWindow = 2000
	fixedHot     = 100
)

func (c *churn) run(ctx context.Context, seed uint64) {
	var wg sync.WaitGroup
	every := time.Duration(float64(time.Second) * float64(c.workers) / c.rate)
	for w := 0; w < c.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			paced(ctx, every, func(int) { c.gate.do(func() { c.once(ctx, rng) }) })
		}(w)
	}
	wg.Wait()
}

// paced calls f once per period on average until ctx ends. A call that
// overruns its period is followed at once by the calls it delayed, so a
// stalled registry does not lower the offered load; a backlog of more than
// a second (a pause to measure at rest) is dropped rather than sent as a
// burst.
func paced(ctx context.Context, every time.Duration, f func(seq int)) {
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for seq := 0; ; seq++ {
		next = next.Add(every)
		if now := time.Now(); next.After(now) {
			t.Reset(next.Sub(now))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else if now.Sub(next) > time.Second {
			next = now
		}
		if ctx.Err() != nil {
			return
		}
		f(seq)
	}
}

func (c *churn) once(ctx context.Context, rng *rand.Rand) {
	var idx uint64
	switch x := rng.IntN(100); {
	case x < 85:
		idx, _ = c.sweep.take()
	case x < 95:
		if n := c.sweep.taken(); n > 0 {
			idx = c.sweep.at(n - 1 - uint64(rng.IntN(int(min(n, recentWindow)))))
		}
	default:
		idx = uint64(rng.IntN(min(fixedHot, len(c.refs))))
	}
	cctx, cancel := context.WithTimeout(ctx, c.budget)
	defer cancel()
	start := time.Now()
	res := c.r.Resolve(cctx, imageplatform.Request{Image: c.refs[idx]})
	d := time.Since(start)
	kind := imageplatform.ErrorReason(res.Err)
	if res.Err == nil {
		kind = "miss"
		if res.Cached {
			kind = "hit"
		}
	}
	if ctx.Err() != nil && res.IsPending() {
		return // the run ended under this call; not the resolver's doing
	}
	c.stats.record(d, kind, true)
}

// gate lets the load be paused so that memory and goroutines are measured
// at rest, the same way at the end of the warm-up and at the end of the run.
type gate struct{ mu sync.RWMutex }

func (g *gate) do(f func()) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	f()
}

// pause waits for every operation in progress and holds new ones until
// resume.
func (g *gate) pause()  { g.mu.Lock() }
func (g *gate) resume() { g.mu.Unlock() }

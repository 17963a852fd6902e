package archfit

import (
	"math"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

// archPrices knows the cheapest price per vCPU of each os/arch in the
// cluster, for the saving estimate in PostBind. It is recomputed from the
// node lister at most every refresh interval, off the scheduling cycle.
type archPrices struct {
	lister  corelisters.NodeLister
	facts   *factsCache
	refresh time.Duration

	mu      sync.Mutex
	at      time.Time
	minimum map[imageplatform.OSArch]float64
}

func newArchPrices(l corelisters.NodeLister, facts *factsCache) *archPrices {
	return &archPrices{lister: l, facts: facts, refresh: 10 * time.Second}
}

// cheapestOther returns the cheapest per-vCPU price among the other
// platforms the pod could have used, or "" when there is none.
func (a *archPrices) cheapestOther(os, arch string, pp *imageplatform.PodPlatforms) (string, float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.minimum == nil || time.Since(a.at) > a.refresh {
		nodes, err := a.lister.List(labels.Everything())
		if err != nil {
			return "", 0
		}
		m := map[imageplatform.OSArch]float64{}
		for _, n := range nodes {
			f := a.facts.get(n)
			if !f.known {
				continue
			}
			p := float64(f.microPerVCPU) / 1e6
			k := imageplatform.OSArch{OS: f.os, Arch: f.arch}
			if cur, ok := m[k]; !ok || p < cur {
				m[k] = p
			}
		}
		a.minimum, a.at = m, time.Now()
	}
	bestArch, best := "", math.Inf(1)
	for k, p := range a.minimum {
		if k.OS != os || k.Arch == arch || !pp.Allows(k.OS, k.Arch) {
			continue
		}
		if p < best {
			bestArch, best = k.Arch, p
		}
	}
	return bestArch, best
}

package app

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/archfit/archfit/test/harness/carequest"
)

// BenchmarkBestOptions measures BestOptions over real gRPC + TLS on
// loopback with a warm resolver cache, at 10, 200 and 2,000 options × 50
// pods, and reports p50 and p99. Target: p99 ≤ 20 ms at 200 × 50.
func BenchmarkBestOptions(b *testing.B) {
	f := startExpander(b, nil)
	pods := [][]byte{}
	for i := 0; i < 50; i++ {
		img := f.multi
		if i%7 == 0 {
			img = f.amd
		}
		pods = append(pods, carequest.PendingPod("default", fmt.Sprintf("p-%d", i), img, "250m"))
	}
	for _, n := range []int{10, 200, 2000} {
		var opts []opt
		for i := 0; i < n; i++ {
			arch, it := "arm64", "m7g.large"
			if i%2 == 0 {
				arch, it = "amd64", "m6i.large"
			}
			opts = append(opts, opt{group: fmt.Sprintf("ng-%04d", i), arch: arch, instanceType: it, pods: pods})
		}
		req := request(opts...)
		call(b, f.client, req) // warm the cache
		b.Run(fmt.Sprintf("options=%d/pods=50/warm", n), func(b *testing.B) {
			durs := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := f.client.BestOptions(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(start))
			}
			sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
			b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(durs[(len(durs)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}

package imageplatform_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	ip "github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/registrytest"
)

func TestInstrumentCountsLookupsHitsAndErrors(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/a:1", "linux/arm64", false))
	raw := newResolver(t, reg)
	promReg := prometheus.NewRegistry()
	r := ip.Instrument(raw, ip.NewMetrics(promReg, "archfit_resolver"))
	ctx := context.Background()
	r.Resolve(ctx, ip.Request{Image: reg.Host + "/app/a:1"})
	r.Resolve(ctx, ip.Request{Image: reg.Host + "/app/a:1"})
	r.Resolve(ctx, ip.Request{Image: reg.Host + "/app/missing:1"})

	want := `
# HELP archfit_resolver_cache_requests_total Resolver cache lookups by outcome (hit or miss).
# TYPE archfit_resolver_cache_requests_total counter
archfit_resolver_cache_requests_total{outcome="hit"} 1
archfit_resolver_cache_requests_total{outcome="miss"} 2
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(want), "archfit_resolver_cache_requests_total"); err != nil {
		t.Error(err)
	}
	wantErrs := `
# HELP archfit_resolver_registry_errors_total Failed lookups by reason and HTTP status (0 when there was none).
# TYPE archfit_resolver_registry_errors_total counter
archfit_resolver_registry_errors_total{reason="not_found",status="404"} 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(wantErrs), "archfit_resolver_registry_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(promReg, "archfit_resolver_lookup_duration_seconds"); n != 1 {
		t.Errorf("latency histogram series = %d, want 1", n)
	}
	if got := testutil.ToFloat64(mustCounter(t, promReg, "archfit_resolver_lookups_total", `source="manifest"`, `result="ok"`)); got != 1 {
		t.Errorf("ok lookups = %v, want 1", got)
	}
}

// mustCounter finds one series of a counter by label matchers.
func mustCounter(t *testing.T, g prometheus.Gatherer, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			var got []string
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName()+"="+`"`+lp.GetValue()+`"`)
			}
			for _, l := range labels {
				if !strings.Contains(strings.Join(got, ","), l) {
					continue metrics
				}
			}
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
		}
	}
	t.Fatalf("no series %s{%v}", name, labels)
	return nil
}

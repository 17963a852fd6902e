package imageplatform_test

import (
	"context"
	"errors"
	"fmt"
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
# HELP archfit_resolver_registry_errors_total Failed lookups by reason, HTTP status (0 when there was none) and registry host (the first 32 hosts by name, the rest as other).
# TYPE archfit_resolver_registry_errors_total counter
archfit_resolver_registry_errors_total{host="` + reg.Host + `",reason="not_found",status="404"} 1
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

// TestRegistryErrorHostsAreBounded checks that registry_errors_total names
// at most MaxHostLabels hosts, whoever chooses the images' hosts, and counts
// the rest under other.
func TestRegistryErrorHostsAreBounded(t *testing.T) {
	promReg := prometheus.NewRegistry()
	r := ip.Instrument(failing{}, ip.NewMetrics(promReg, "archfit_resolver"))
	for i := range ip.MaxHostLabels + 10 {
		r.Resolve(context.Background(), ip.Request{Image: fmt.Sprintf("registry-%d.example.com/app:1", i)})
	}
	r.Resolve(context.Background(), ip.Request{Image: "registry-0.example.com/other:1"})
	mfs, err := promReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "archfit_resolver_registry_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "host" {
					hosts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if len(hosts) != ip.MaxHostLabels+1 || hosts["other"] != 10 || hosts["registry-0.example.com"] != 2 {
		t.Errorf("series by host = %d (other %v, registry-0 %v), want %d named hosts, 10 errors as other and 2 for registry-0",
			len(hosts), hosts["other"], hosts["registry-0.example.com"], ip.MaxHostLabels)
	}
}

// failing answers every lookup with a registry's 503.
type failing struct{}

func (failing) Resolve(_ context.Context, req ip.Request) ip.Result {
	return ip.Result{Image: req.Image, Err: errors.New("unavailable")}
}
func (f failing) ResolveCached(req ip.Request) ip.Result { return f.Resolve(context.Background(), req) }

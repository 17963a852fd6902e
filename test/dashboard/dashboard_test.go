// Package dashboard checks archfit's Grafana dashboard against the
// metrics the components register: every metric and label name its
// queries use must be one that archfit-scheduler, archfit-expander or
// archfit-placement exports, so that renaming a metric or a label fails
// here instead of emptying a panel. The registries are built as the
// binaries build them, with the components' own constructors.
package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/component-base/metrics/legacyregistry"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/archfit/archfit/expander"
	"github.com/archfit/archfit/internal/imageplatform"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	"github.com/archfit/archfit/internal/placement"
	"github.com/archfit/archfit/manifests"
	"github.com/archfit/archfit/plugins/archfit"
)

const (
	// dashboardFile is the canonical copy, the kustomize component's.
	dashboardFile = "../../manifests/components/grafana-dashboard/archfit-dashboard.json"
	// chartCopy is the Helm chart's copy; it must not drift.
	chartCopy = "../../manifests/charts/archfit/dashboards/archfit.json"
	component = "../../manifests/components/grafana-dashboard"
)

// targetLabels are the labels Prometheus puts on every series it scrapes;
// the dashboard may use them on any metric.
var targetLabels = set("job", "instance")

// external lists metrics that no archfit component registers but the
// dashboard may use (kube-state-metrics', say), with their label names.
// Each entry must say where the metric comes from in the dashboard's
// panel description and in docs/operator-guide.md. Empty: the dashboard
// needs only archfit's own metrics.
var external = map[string][]string{}

// metric is one registered metric family.
type metric struct {
	labels map[string]bool
	// kind is counter, gauge, histogram, summary or untyped; "" when the
	// collector's type could not be learned (then no _bucket, _sum or
	// _count series is assumed).
	kind string
	from []string // the binaries that export it
}

type catalog map[string]*metric

var (
	catalogOnce sync.Once
	catalogVal  catalog
	catalogErr  error
)

// registered builds each binary's registry as the binary does and lists
// the metrics in it.
func registered(t *testing.T) catalog {
	t.Helper()
	catalogOnce.Do(func() { catalogVal, catalogErr = buildCatalog() })
	if catalogErr != nil {
		t.Fatal(catalogErr)
	}
	return catalogVal
}

func buildCatalog() (catalog, error) {
	cat := catalog{}

	// archfit-scheduler: kube-scheduler serves component-base's legacy
	// registry, where ArchFit's New registers its own series and its
	// resolver's. The context lives as long as the test binary: the
	// plugin's collectors stay registered anyway.
	ctx := context.Background()
	cs := clientsetfake.NewClientset()
	fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: "archfit-scheduler"},
		frameworkruntime.WithClientSet(cs), frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(cs, 0)))
	if err != nil {
		return nil, fmt.Errorf("scheduler framework: %w", err)
	}
	if _, err := archfit.New(ctx, nil, fh); err != nil {
		return nil, fmt.Errorf("ArchFit plugin: %w", err)
	}
	if err := cat.add("archfit-scheduler", legacyregistry.Registerer()); err != nil {
		return nil, err
	}

	// archfit-expander: expander/app.Run's registry.
	reg := prometheus.NewRegistry()
	expander.NewMetrics(reg)
	imageplatform.NewMetrics(reg, "archfit_resolver")
	if err := cat.add("archfit-expander", reg); err != nil {
		return nil, err
	}

	// archfit-placement: internal/placement/app.Run's registry, with
	// the migration controller's series.
	reg = prometheus.NewRegistry()
	imageplatform.NewMetrics(reg, "archfit_resolver")
	placement.NewMetrics(reg, func() float64 { return 0 })
	migrationctl.NewMetrics(reg)
	if err := cat.add("archfit-placement", reg); err != nil {
		return nil, err
	}
	return cat, nil
}

// add lists what reg holds: Describe for names and labels, and the
// registered collector itself for the type.
func (c catalog) add(binary string, reg prometheus.Registerer) error {
	coll, ok := reg.(prometheus.Collector)
	if !ok {
		return fmt.Errorf("%s: registry %T cannot describe its collectors", binary, reg)
	}
	ch := make(chan *prometheus.Desc)
	go func() { coll.Describe(ch); close(ch) }()
	var descs []*prometheus.Desc
	for d := range ch {
		descs = append(descs, d)
	}
	if len(descs) == 0 {
		return fmt.Errorf("%s: the registry describes no metric", binary)
	}
	for _, d := range descs {
		name, labels, err := parseDesc(d.String())
		if err != nil {
			return fmt.Errorf("%s: %w", binary, err)
		}
		m := c[name]
		if m == nil {
			m = &metric{labels: map[string]bool{}, kind: kindOf(reg, d, name)}
			c[name] = m
		}
		for _, l := range labels {
			m.labels[l] = true
		}
		if !slices.Contains(m.from, binary) {
			m.from = append(m.from, binary)
		}
	}
	return nil
}

// parseDesc reads the name and label names (variable and constant) out
// of a Desc's String(): client_golang gives no other access to them.
func parseDesc(s string) (string, []string, error) {
	bad := func(why string) (string, []string, error) {
		return "", nil, fmt.Errorf("cannot read %s (%s): has client_golang's Desc.String changed?", s, why)
	}
	rest, ok := strings.CutPrefix(s, "Desc{fqName: ")
	if !ok {
		return bad("no fqName")
	}
	quoted := func(key string) (string, bool) {
		var ok bool
		if key != "" {
			if rest, ok = strings.CutPrefix(rest, key); !ok {
				return "", false
			}
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", false
		}
		rest = rest[len(q):]
		v, err := strconv.Unquote(q)
		return v, err == nil
	}
	name, ok := quoted("")
	if !ok || name == "" {
		return bad("fqName")
	}
	if _, ok := quoted(", help: "); !ok {
		return bad("help")
	}
	if strings.HasPrefix(rest, ", unit: ") {
		if _, ok := quoted(", unit: "); !ok {
			return bad("unit")
		}
	}
	if rest, ok = strings.CutPrefix(rest, ", constLabels: {"); !ok {
		return bad("constLabels")
	}
	var labels []string
	for !strings.HasPrefix(rest, "}") {
		rest = strings.TrimPrefix(rest, ",")
		k, after, ok := strings.Cut(rest, "=")
		if !ok || k == "" {
			return bad("const label")
		}
		labels = append(labels, k)
		rest = after
		if _, ok := quoted(""); !ok {
			return bad("const label value")
		}
	}
	if rest, ok = strings.CutPrefix(rest, "}, variableLabels: {"); !ok {
		return bad("variableLabels")
	}
	vl, ok := strings.CutSuffix(rest, "}}")
	if !ok {
		return bad("end")
	}
	for _, l := range strings.Split(vl, ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			labels = append(labels, l)
		}
	}
	return name, labels, nil
}

// probe describes one Desc that is registered already, so that
// registering it makes the registry hand back the collector that owns it
// (prometheus.AlreadyRegisteredError, which metricsutil.Register relies
// on too).
type probe struct{ d *prometheus.Desc }

func (p probe) Describe(ch chan<- *prometheus.Desc) { ch <- p.d }
func (p probe) Collect(chan<- prometheus.Metric)    {}

// kindOf is the type of the registered metric d describes.
func kindOf(reg prometheus.Registerer, d *prometheus.Desc, name string) string {
	err := reg.Register(probe{d})
	if err == nil {
		reg.Unregister(probe{d})
		return ""
	}
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		return "" // a collector of several Descs (Go runtime, process)
	}
	switch are.ExistingCollector.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	// A collector without labels has its one series already: gather it
	// from a registry of its own.
	own := prometheus.NewRegistry()
	if own.Register(are.ExistingCollector) != nil {
		return ""
	}
	mfs, err := own.Gather()
	if err != nil {
		return ""
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return strings.ToLower(mf.GetType().String())
		}
	}
	return ""
}

// labelsOf is the label names of the series a query's metric name
// selects, or why it selects none.
func (c catalog) labelsOf(name string) (map[string]bool, error) {
	with := func(m *metric, extra ...string) map[string]bool {
		out := map[string]bool{}
		for l := range m.labels {
			out[l] = true
		}
		for _, l := range extra {
			out[l] = true
		}
		return out
	}
	if m := c[name]; m != nil {
		switch m.kind {
		case "histogram":
			return nil, fmt.Errorf("%s is a histogram: its series are %[1]s_bucket, %[1]s_sum and %[1]s_count", name)
		case "summary":
			return with(m, "quantile"), nil
		}
		return with(m), nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if m := c[base]; ok && m != nil {
			switch {
			case m.kind == "histogram" && suffix == "_bucket":
				return with(m, "le"), nil
			case m.kind == "histogram" || m.kind == "summary" && suffix != "_bucket":
				return with(m), nil
			}
			return nil, fmt.Errorf("%s: %s is a %s, which has no %s series", name, base, or(m.kind, "metric of unknown type"), suffix)
		}
	}
	if labels, ok := external[name]; ok {
		return set(labels...), nil
	}
	msg := fmt.Sprintf("no archfit component registers %s", name)
	if near := c.nearest(name); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return nil, errors.New(msg)
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// nearest is the registered archfit_ name closest to name, if close.
func (c catalog) nearest(name string) string {
	best, bestD := "", 6
	for n := range c {
		if !strings.HasPrefix(n, "archfit_") {
			continue
		}
		if d := distance(n, name); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// query is one PromQL expression of the dashboard, or one variable's query.
type query struct {
	where    string // a JSON path, for messages
	expr     string
	legend   string
	variable bool
}

// queries lists every expr in the dashboard, wherever it sits (panels,
// the panels of collapsed rows, library panels, annotations), and the
// query of every query variable.
func queries(dash map[string]any) []query {
	var out []query
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				legend, _ := v["legendFormat"].(string)
				out = append(out, query{where: path, expr: e, legend: legend})
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k != "templating" {
					walk(v[k], path+"."+k)
				}
			}
		case []any:
			for i, x := range v {
				walk(x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(dash, "")
	tmpl, _ := dash["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	for i, x := range list {
		v, _ := x.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		q := v["query"]
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		out = append(out, query{where: fmt.Sprintf(".templating.list[%d](%v)", i, v["name"]), expr: s, variable: true})
	}
	return out
}

var legendLabel = regexp.MustCompile(`{{\s*([^}\s]*)\s*}}`)

// check lists every name in the dashboard's queries that no component
// registers, and every query it cannot read.
func check(dashJSON []byte, cat catalog) (problems []string, n int) {
	var dash map[string]any
	if err := json.Unmarshal(dashJSON, &dash); err != nil {
		return []string{err.Error()}, 0
	}
	qs := queries(dash)
	for _, q := range qs {
		for _, p := range checkQuery(q, cat) {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", q.where, q.expr, p))
		}
	}
	return problems, len(qs)
}

func checkQuery(q query, cat catalog) []string {
	expr := q.expr
	var valuesOf string // label_values' label
	if q.variable {
		fn, args, ok := call(q.expr)
		switch {
		case !ok:
			return []string{"cannot read the variable's query"}
		case fn == "query_result" && len(args) == 1:
			expr = args[0]
		case fn == "label_values" && len(args) == 2:
			expr, valuesOf = args[0], args[1]
		case fn == "label_values" && len(args) == 1:
			if l := args[0]; !targetLabels[l] && !anyHas(cat, l) {
				return []string{fmt.Sprintf("label %s is on no registered metric", l)}
			}
			return nil
		default:
			return []string{fmt.Sprintf("%s: only label_values and query_result can be checked", fn)}
		}
	}
	a, err := analyze(expr)
	if err != nil {
		return []string{err.Error()}
	}
	if len(a.refs) == 0 {
		return []string{"names no metric"}
	}
	var problems []string
	all := map[string]bool{}
	refLabels := make([]map[string]bool, len(a.refs))
	for i, r := range a.refs {
		labels, err := cat.labelsOf(r.metric)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		refLabels[i] = labels
		for l := range labels {
			all[l] = true
		}
		for _, l := range r.labels {
			if !labels[l] && !targetLabels[l] {
				problems = append(problems, fmt.Sprintf("label %s is not on %s (its labels: %s)", l, r.metric, names(labels)))
			}
		}
	}
	defined := set(a.defined...)
	known := func(scope map[string]bool, l string) bool { return scope[l] || targetLabels[l] || defined[l] }
	for _, g := range a.groupings {
		scope := all
		if g.from >= 0 {
			scope = map[string]bool{}
			for i, r := range a.refs {
				if r.at > g.from && r.at < g.to {
					for l := range refLabels[i] {
						scope[l] = true
					}
				}
			}
		}
		for _, l := range g.labels {
			if !known(scope, l) {
				problems = append(problems, fmt.Sprintf("%s (%s): label %s is on none of the metrics it reads", g.keyword, l, l))
			}
		}
	}
	if valuesOf != "" && !known(all, valuesOf) {
		problems = append(problems, fmt.Sprintf("label_values: label %s is not on the metrics it reads (their labels: %s)", valuesOf, names(all)))
	}
	for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
		if !known(all, m[1]) {
			problems = append(problems, fmt.Sprintf("legend {{%s}}: label %s is not on the metrics the query reads", m[1], m[1]))
		}
	}
	return problems
}

func anyHas(cat catalog, label string) bool {
	for _, m := range cat {
		if m.labels[label] {
			return true
		}
	}
	return false
}

func names(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// call splits a Grafana variable query, fn(arg, arg), at its top-level
// commas.
func call(s string) (fn string, args []string, ok bool) {
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '(')
	if open <= 0 || !strings.HasSuffix(s, ")") {
		return "", nil, false
	}
	fn, body := strings.TrimSpace(s[:open]), s[open+1:len(s)-1]
	depth, start, quote := 0, 0, byte(0)
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(body[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(body[start:]); last != "" || len(args) > 0 {
		args = append(args, last)
	}
	return fn, args, depth == 0 && quote == 0
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The test this package is for: every metric and label the dashboard
// names is one archfit registers.
func TestDashboardNamesOnlyRegisteredMetrics(t *testing.T) {
	cat := registered(t)
	problems, n := check(readFile(t, dashboardFile), cat)
	for _, p := range problems {
		t.Error(p)
	}
	if n < 30 {
		t.Errorf("found %d queries in the dashboard; it has more: is the walk missing some?", n)
	}
	t.Logf("%d queries checked against %d registered metrics", n, len(cat))
}

// Each binary's metrics are on the dashboard, so that a component's
// panels are not dropped by accident.
func TestDashboardCoversEveryComponent(t *testing.T) {
	var dash map[string]any
	if err := json.Unmarshal(readFile(t, dashboardFile), &dash); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, q := range queries(dash) {
		expr := q.expr
		if q.variable {
			if _, args, ok := call(expr); ok && len(args) > 0 {
				expr = args[0]
			}
		}
		if a, err := analyze(expr); err == nil {
			for _, r := range a.refs {
				used[r.metric] = true
			}
		}
	}
	for _, prefix := range []string{"archfit_scheduler_", "archfit_expander_", "archfit_placement_", "archfit_migration_", "archfit_resolver_"} {
		found := false
		for m := range used {
			found = found || strings.HasPrefix(m, prefix)
		}
		if !found {
			t.Errorf("no panel shows an %s* metric", prefix)
		}
	}
	// The panels the issue asks for, by the metric each rests on.
	for _, m := range []string{
		"archfit_migration_workload_pods", "archfit_migration_saving_per_month", "archfit_migration_saving_available_per_month",
		"archfit_placement_admissions_total", "archfit_placement_gated_pods", "archfit_placement_gate_duration_seconds_bucket",
		"archfit_expander_decisions_total", "archfit_expander_vetoes_total",
		"archfit_migration_movable_pods", "archfit_migration_rollbacks_total",
		"archfit_resolver_cache_requests_total", "archfit_resolver_registry_errors_total",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// The dashboard is portable: its data source is a variable, every panel
// and query uses it, and kubectl apply (client-side, which copies the
// object into an annotation of at most 256 KiB) can still apply it.
func TestDashboardShape(t *testing.T) {
	b := readFile(t, dashboardFile)
	if len(b) > 200<<10 {
		t.Errorf("the dashboard is %d bytes; client-side kubectl apply fails near 256 KiB", len(b))
	}
	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Query      any    `json:"query"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("uid %q, title %q: want both, so that re-imports replace the dashboard", dash.UID, dash.Title)
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && v.Query != "prometheus" {
			t.Errorf("variable %s: query %v, want prometheus", v.Name, v.Query)
		}
		// Grafana runs query and shows definition: the test checks the
		// one, so the other must say the same.
		if v.Type == "query" && v.Definition != "" && v.Definition != v.Query {
			t.Errorf("variable %s: definition %q differs from query %v", v.Name, v.Definition, v.Query)
		}
	}
	if vars["datasource"] != "datasource" || vars["namespace"] != "query" {
		t.Errorf("variables %v: want datasource (a data source variable) and namespace", vars)
	}
	type panel struct {
		ID         int               `json:"id"`
		Type       string            `json:"type"`
		Title      string            `json:"title"`
		Datasource map[string]string `json:"datasource"`
		Targets    []struct {
			Expr       string            `json:"expr"`
			Datasource map[string]string `json:"datasource"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	ids := map[int]bool{}
	var visit func(raw []json.RawMessage)
	visit = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			if ids[p.ID] {
				t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			visit(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, ds := range append([]map[string]string{p.Datasource}, func() (out []map[string]string) {
				for _, tg := range p.Targets {
					out = append(out, tg.Datasource)
				}
				return out
			}()...) {
				if ds["uid"] != "${datasource}" {
					t.Errorf("panel %q: data source %v, want uid ${datasource}", p.Title, ds)
				}
			}
		}
	}
	visit(dash.Panels)
}

// The Helm chart ships the same file.
func TestChartCopyIsIdentical(t *testing.T) {
	if !bytes.Equal(readFile(t, dashboardFile), readFile(t, chartCopy)) {
		t.Errorf("%s differs from %s: copy the canonical one over it (cp %s %s)", chartCopy, dashboardFile, dashboardFile, chartCopy)
	}
}

// The kustomize component ships the file, unchanged, where Grafana's
// sidecar finds it.
func TestComponentConfigMap(t *testing.T) {
	if !slices.Contains(manifests.Components(), "components/grafana-dashboard") {
		t.Errorf("manifests.Components() %v lacks components/grafana-dashboard", manifests.Components())
	}
	objs, err := manifests.Compose([]string{"../../manifests/base"}, []string{component})
	if err != nil {
		t.Fatal(err)
	}
	want := string(readFile(t, dashboardFile))
	found := 0
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || o.GetName() != "archfit-dashboard" {
			continue
		}
		found++
		if o.GetNamespace() != "archfit" {
			t.Errorf("namespace %q, want archfit", o.GetNamespace())
		}
		if o.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("labels %v: want grafana_dashboard: \"1\", the sidecar's default", o.GetLabels())
		}
		data, _ := o.Object["data"].(map[string]any)
		if len(data) != 1 || data["archfit.json"] != want {
			t.Errorf("data keys %v: want archfit.json alone, holding %s as it is", keys(data), dashboardFile)
		}
	}
	if found != 1 {
		t.Errorf("%d ConfigMaps archfit-dashboard in base + the component, want 1", found)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The catalog is what the binaries export: a sample of each, with its
// labels and type.
func TestCatalog(t *testing.T) {
	cat := registered(t)
	for name, want := range map[string]struct {
		kind, from string
		labels     []string
	}{
		"archfit_scheduler_decisions_total":        {"counter", "archfit-scheduler", []string{"profile", "arch"}},
		"archfit_scheduler_lookup_wait_seconds":    {"histogram", "archfit-scheduler", []string{"profile"}},
		"archfit_expander_call_duration_seconds":   {"histogram", "archfit-expander", nil},
		"archfit_expander_vetoes_total":            {"counter", "archfit-expander", nil},
		"archfit_placement_gated_pods":             {"gauge", "archfit-placement", nil},
		"archfit_migration_workload_pods":          {"gauge", "archfit-placement", []string{"workload_namespace", "workload", "arch"}},
		"archfit_resolver_registry_errors_total":   {"counter", "archfit-scheduler", []string{"reason", "status", "host"}},
		"archfit_resolver_lookup_duration_seconds": {"histogram", "archfit-placement", nil},
	} {
		m := cat[name]
		if m == nil {
			t.Errorf("%s is not in the catalog", name)
			continue
		}
		if m.kind != want.kind || !slices.Contains(m.from, want.from) || len(m.labels) != len(want.labels) {
			t.Errorf("%s: %s from %v with %s; want a %s from %s with %v", name, m.kind, m.from, names(m.labels), want.kind, want.from, want.labels)
		}
		for _, l := range want.labels {
			if !m.labels[l] {
				t.Errorf("%s lacks label %s", name, l)
			}
		}
	}
	if got := cat["archfit_resolver_cache_requests_total"]; got == nil || len(got.from) != 3 {
		t.Errorf("archfit_resolver_cache_requests_total: %+v; want it from all three binaries", got)
	}
}

func TestParseDesc(t *testing.T) {
	d := prometheus.NewDesc("x_total", `help with "quotes", }} and variableLabels: {fake}`, []string{"a", "b"}, prometheus.Labels{"c": `v}", d="`})
	name, labels, err := parseDesc(d.String())
	sort.Strings(labels)
	if err != nil || name != "x_total" || strings.Join(labels, ",") != "a,b,c" {
		t.Errorf("parseDesc(%s) = %q, %v, %v; want x_total, [a b c]", d, name, labels, err)
	}
}

// The checker catches what it is for: each mutation of the real dashboard
// must be reported, naming the wrong name.
func TestCheckerRejects(t *testing.T) {
	cat := registered(t)
	real := string(readFile(t, dashboardFile))
	for _, tt := range []struct {
		name     string
		old, new string
		want     string
	}{
		{"misspelled metric", "archfit_expander_vetoes_total[", "archfit_expander_veto_total[", "no archfit component registers archfit_expander_veto_total (did you mean archfit_expander_vetoes_total?)"},
		{"misspelled metric in a collapsed row", "(archfit_resolver_lookups_total[", "(archfit_resolver_lookup_total[", "no archfit component registers archfit_resolver_lookup_total"},
		{"nonexistent label in a selector", `outcome=\"hit\"`, `outcom=\"hit\"`, "label outcom is not on archfit_resolver_cache_requests_total"},
		{"by label of another metric", "sum by (purpose, result) (increase(archfit_migration_evictions_total", "sum by (purpose, outcome) (increase(archfit_migration_evictions_total", "label outcome is on none of the metrics it reads"},
		{"on label", "sum(rate(archfit_placement_gate_duration_seconds_sum[$__rate_interval])) / sum(", "sum(rate(archfit_placement_gate_duration_seconds_sum[$__rate_interval])) / on(pod) sum(", "label pod is on none"},
		{"label_values label", "label_values(archfit_migration_workload_pods, workload_namespace)", "label_values(archfit_migration_workload_pods, namespace)", "label namespace is not on the metrics it reads"},
		{"label_values selector", `label_values(archfit_migration_workload_pods{workload_namespace=~\"$namespace\"}, workload)`, `label_values(archfit_migration_workload_pods{ns=~\"$namespace\"}, workload)`, "label ns is not on archfit_migration_workload_pods"},
		{"legend label", `{{host}} {{reason}} {{status}}`, `{{registry}} {{reason}} {{status}}`, "legend {{registry}}"},
		{"counter as a histogram", "archfit_expander_vetoes_total[", "archfit_expander_vetoes_total_bucket[", "archfit_expander_vetoes_total is a counter, which has no _bucket series"},
		{"bare histogram", "archfit_placement_gate_duration_seconds_bucket[", "archfit_placement_gate_duration_seconds[", "archfit_placement_gate_duration_seconds is a histogram"},
		{"le on a histogram's count", "archfit_placement_gate_duration_seconds_count[", `archfit_placement_gate_duration_seconds_count{le=\"1\"}[`, "label le is not on archfit_placement_gate_duration_seconds_count"},
		{"unknown function", "histogram_quantile(", "histogram_quantil(", "unknown function histogram_quantil"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(real, tt.old) {
				t.Fatalf("the dashboard no longer has %q: pick another mutation", tt.old)
			}
			problems, _ := check([]byte(strings.ReplaceAll(real, tt.old, tt.new)), cat)
			for _, p := range problems {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			if len(problems) > 5 {
				problems = append(problems[:5], "…")
			}
			t.Errorf("want a problem containing %q; got %q", tt.want, problems)
		})
	}
}

// Small dashboards of each shape the walk must reach.
func TestCheckerFindsEveryQuery(t *testing.T) {
	cat := registered(t)
	for name, dash := range map[string]string{
		"panel":         `{"panels":[{"type":"timeseries","targets":[{"expr":"nope_total"}]}]}`,
		"collapsed row": `{"panels":[{"type":"row","collapsed":true,"panels":[{"type":"stat","targets":[{"expr":"rate(nope_total[5m])"}]}]}]}`,
		"variable":      `{"templating":{"list":[{"type":"query","name":"v","query":"label_values(nope_total, arch)"}]}}`,
		"variable obj":  `{"templating":{"list":[{"type":"query","name":"v","query":{"query":"query_result(sum(nope_total))","refId":"A"}}]}}`,
		"annotation":    `{"annotations":{"list":[{"expr":"changes(nope_total[1h]) > 0"}]}}`,
	} {
		problems, n := check([]byte(dash), cat)
		if n != 1 || !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "no archfit component registers nope_total") }) {
			t.Errorf("%s: %d queries, problems %q; want 1 query and nope_total reported", name, n, problems)
		}
	}
}

func TestAnalyze(t *testing.T) {
	for _, tt := range []struct {
		expr      string
		refs      string // metric{labels} …
		groupings string // keyword(labels)@from-to …
		err       string
	}{
		{expr: `sum by (le) (rate(x_bucket{a="}", b=~"$v|w"}[$__rate_interval]))`, refs: "x_bucket{a,b}", groupings: "by(le)@5-22"},
		{expr: `sum(rate(x_total[5m])) by (job) / on(job) group_left(arch) y`, refs: "x_total{} y{}", groupings: "by(job)@1-9 on(job)@-1--1 group_left(arch)@-1--1"},
		{expr: `histogram_quantile(0.99, sum without(instance) (rate(h_bucket[${__rate_interval}] offset -5m)))`, refs: "h_bucket{}", groupings: "without(instance)@9-20"},
		{expr: `{__name__="up", job='x'} or {"m:rec", pod!="p"} @ start()`, refs: `up{job} m:rec{pod}`},
		{expr: `label_replace(m, "dst", "$1", "src", "(.*)") * count_values("v", n) and bool 1e-3 < Inf`, refs: "m{} n{}"},
		{expr: `max_over_time(m[1h:5m])`, refs: "m{}"},
		{expr: `sumx(m)`, err: "unknown function sumx"},
		{expr: `$metric{a="b"}`, err: "dashboard variable $metric in place of a metric name"},
		{expr: `{__name__=~"m.*"}`, err: "only one name"},
		{expr: `sum(m) by`, err: "by without a label list"},
		{expr: `rate(m[5m]`, err: "unbalanced"},
		{expr: `m by (x)`, err: "by outside an aggregation"},
	} {
		a, err := analyze(tt.expr)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("analyze(%s) error %v, want %q", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("analyze(%s): %v", tt.expr, err)
			continue
		}
		var refs, groups []string
		for _, r := range a.refs {
			refs = append(refs, r.metric+"{"+strings.Join(r.labels, ",")+"}")
		}
		for _, g := range a.groupings {
			groups = append(groups, fmt.Sprintf("%s(%s)@%d-%d", g.keyword, strings.Join(g.labels, ","), g.from, g.to))
		}
		if got := strings.Join(refs, " "); got != tt.refs {
			t.Errorf("analyze(%s) refs %s, want %s", tt.expr, got, tt.refs)
		}
		if got := strings.Join(groups, " "); got != tt.groupings {
			t.Errorf("analyze(%s) groupings %s, want %s", tt.expr, got, tt.groupings)
		}
	}
	if a, _ := analyze(`label_replace(m, "dst", "$1", "src", "(.*)") + count_values("v", n)`); a == nil || strings.Join(a.defined, ",") != "dst,v" {
		t.Errorf("defined labels %v, want dst,v", a)
	}
}

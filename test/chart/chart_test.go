package chart

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/yaml"
)

// helm lint, as the CLI runs it, on the defaults and with every optional
// part on: nothing at warning or above (the INFO about a missing icon is
// fine).
func TestLint(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := chartutil.ParseKubeVersion("1.37.0")
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"everything": {
			"tls":            map[string]any{"mode": "certManager"},
			"serviceMonitor": map[string]any{"enabled": true},
			"dashboard":      map[string]any{"enabled": true},
			"namespace":      map[string]any{"create": true},
			"resolver":       map[string]any{"usePullSecrets": true, "insecureRegistries": []any{"r:5000"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.AllWithKubeVersion(dir, vals, "archfit", kv)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}

// The default render: the base's components and nothing optional.
func TestDefaults(t *testing.T) {
	r := renderObjects(t, Options{KubeVersion: "1.37.1"})
	for _, k := range []string{"Deployment/archfit/archfit-scheduler", "Deployment/archfit/archfit-expander", "Deployment/archfit/archfit-placement",
		"MutatingWebhookConfiguration//archfit-placement", "ConfigMap/archfit/archfit-scheduler-config", "ConfigMap/archfit/archfit-expander-policy",
		"Secret/archfit/archfit-expander-tls", "Secret/archfit/archfit-placement-tls", "ConfigMap/kube-system/archfit-expander-ca"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	for k, o := range r {
		switch o.Kind() {
		case "Namespace", "ServiceMonitor", "Issuer", "Certificate":
			t.Errorf("%s rendered by default", k)
		}
		if o.Name() == "archfit-pull-secrets" || o.Name() == "archfit-dashboard" {
			t.Errorf("%s rendered by default", k)
		}
	}
	for _, name := range []string{"archfit-expander", "archfit-placement"} {
		if got, want := image(r.get(t, "Deployment", "archfit", name)), "archfit:0.1.0"; got != want {
			t.Errorf("%s image %s, want %s", name, got, want)
		}
	}
	pa := args(r.get(t, "Deployment", "archfit", "archfit-placement"))
	if v, _ := flag(pa, "migration-mode"); v != "DryRun" {
		t.Errorf("--migration-mode=%s, want DryRun as manifests/base ships", v)
	}
}

// Each component off in turn: its objects vanish, the rest stay as they were.
func TestComponentToggles(t *testing.T) {
	all := renderObjects(t, Options{})
	for _, tc := range []struct {
		component string
		gone      []string
	}{
		{"scheduler", []string{
			"Deployment/archfit/archfit-scheduler", "PodDisruptionBudget/archfit/archfit-scheduler", "ConfigMap/archfit/archfit-scheduler-config",
			"ServiceAccount/archfit/archfit-scheduler", "ClusterRoleBinding//archfit-scheduler-as-kube-scheduler",
			"ClusterRoleBinding//archfit-scheduler-as-volume-scheduler", "Role/archfit/archfit-scheduler-leader-election",
			"RoleBinding/archfit/archfit-scheduler-leader-election", "RoleBinding/kube-system/archfit-scheduler-authentication-reader",
			"ClusterRole//archfit-scheduler-migration", "ClusterRoleBinding//archfit-scheduler-migration",
			"Role/archfit/archfit-scheduler-rollback-records", "RoleBinding/archfit/archfit-scheduler-rollback-records",
		}},
		{"expander", []string{
			"Deployment/archfit/archfit-expander", "Service/archfit/archfit-expander", "PodDisruptionBudget/archfit/archfit-expander",
			"ConfigMap/archfit/archfit-expander-policy", "ServiceAccount/archfit/archfit-expander",
			"Role/kube-system/archfit-expander-priorities", "RoleBinding/kube-system/archfit-expander-priorities",
			"Role/archfit/archfit-expander-rollback-records", "RoleBinding/archfit/archfit-expander-rollback-records",
			"ClusterRole//archfit-expander", "ClusterRoleBinding//archfit-expander",
			"Secret/archfit/archfit-expander-tls", "ConfigMap/kube-system/archfit-expander-ca",
		}},
		{"placement", []string{
			"Deployment/archfit/archfit-placement", "Service/archfit/archfit-placement", "PodDisruptionBudget/archfit/archfit-placement",
			"ServiceAccount/archfit/archfit-placement", "ClusterRole//archfit-placement", "ClusterRoleBinding//archfit-placement",
			"Role/archfit/archfit-placement-leader-election", "RoleBinding/archfit/archfit-placement-leader-election",
			"MutatingWebhookConfiguration//archfit-placement", "Secret/archfit/archfit-placement-tls",
		}},
		// Migration runs inside archfit-placement: off is a flag, no object goes.
		{"migration", nil},
	} {
		t.Run(tc.component, func(t *testing.T) {
			off := renderObjects(t, set(tc.component+".enabled=false"))
			var gone []string
			for _, k := range all.keys() {
				if _, ok := off[k]; !ok {
					gone = append(gone, k)
				}
			}
			want := slices.Sorted(slices.Values(tc.gone))
			if !slices.Equal(gone, want) {
				t.Errorf("gone: %q\nwant: %q", gone, want)
			}
			for k := range off {
				if _, ok := all[k]; !ok {
					t.Errorf("%s appears only with %s off", k, tc.component)
				}
			}
			pa := args(all.get(t, "Deployment", "archfit", "archfit-placement"))
			if tc.component == "migration" {
				pa = args(off.get(t, "Deployment", "archfit", "archfit-placement"))
				if v, _ := flag(pa, "migration-mode"); v != "Disabled" {
					t.Errorf("--migration-mode=%s, want Disabled", v)
				}
				if _, ok := flag(pa, "migration-evictions-per-minute"); ok {
					t.Errorf("migration flags left with migration off: %q", pa)
				}
			}
		})
	}
	// With expander and placement off, no TLS at all; the scheduler alone.
	only := renderObjects(t, set("expander.enabled=false", "placement.enabled=false"))
	for k, o := range only {
		if o.Kind() == "Secret" || o.Name() == "archfit-expander-ca" {
			t.Errorf("%s rendered with neither TLS user", k)
		}
	}
}

// archfit-scheduler's image follows the cluster's minor, clamped to the
// builds there are.
func TestSchedulerImagePerKubernetesMinor(t *testing.T) {
	sched := func(t *testing.T, o Options) string {
		t.Helper()
		return image(renderObjects(t, o).get(t, "Deployment", "archfit", "archfit-scheduler"))
	}
	for kv, want := range map[string]string{
		"1.35.0": "archfit:0.1.0-k8s1.35", "1.36.4": "archfit:0.1.0-k8s1.36",
		"1.37.1": "archfit:0.1.0-k8s1.37", "1.38.0": "archfit:0.1.0-k8s1.37", "1.40.2": "archfit:0.1.0-k8s1.37",
	} {
		if got := sched(t, Options{KubeVersion: kv}); got != want {
			t.Errorf("Kubernetes %s: %s, want %s", kv, got, want)
		}
	}
	// EKS and GKE report the minor as "35+".
	eks := &chartutil.KubeVersion{Version: "v1.35.3-eks-4096722", Major: "1", Minor: "35+"}
	if got := sched(t, Options{Kube: eks}); got != "archfit:0.1.0-k8s1.35" {
		t.Errorf("EKS 1.35: %s", got)
	}
	// Overrides.
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{KubeVersion: "1.38.0", Set: []string{"scheduler.image.tag=custom"}}, "archfit:custom"},
		{Options{KubeVersion: "1.37.1", Set: []string{"scheduler.kubernetesMinor=35"}}, "archfit:0.1.0-k8s1.35"},
		{Options{KubeVersion: "1.37.1", SetString: []string{"scheduler.kubernetesMinor=1.36"}}, "archfit:0.1.0-k8s1.36"},
		{Options{KubeVersion: "1.36.0", Set: []string{"image.repository=r.example/archfit", "image.tag=v2"}}, "r.example/archfit:v2-k8s1.36"},
		{Options{Set: []string{"scheduler.image.repository=r.example/sched"}}, "r.example/sched:0.1.0-k8s1.37"},
	} {
		if got := sched(t, tc.o); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.o, got, tc.want)
		}
	}
	other := renderObjects(t, set("image.repository=r.example/archfit", "image.tag=v2", "placement.image.tag=v3"))
	if got := image(other.get(t, "Deployment", "archfit", "archfit-expander")); got != "r.example/archfit:v2" {
		t.Errorf("expander %s", got)
	}
	if got := image(other.get(t, "Deployment", "archfit", "archfit-placement")); got != "r.example/archfit:v3" {
		t.Errorf("placement %s", got)
	}

	// A kubernetesMinor with no build fails.
	if _, err := Render(context.Background(), set("scheduler.kubernetesMinor=38")); err == nil || !strings.Contains(err.Error(), "scheduler.kubernetesMinor: 38 is not a minor archfit-scheduler is built for (1.35, 1.36 and 1.37)") {
		t.Errorf("kubernetesMinor 38: %v", err)
	}
	// 1.34: helm install stops at the chart's kubeVersion...
	_, err := Render(context.Background(), Options{KubeVersion: "1.34.2"})
	if err == nil || !strings.Contains(err.Error(), "chart requires kubeVersion: >=1.35.0-0 which is incompatible with Kubernetes v1.34.2") {
		t.Errorf("1.34 install: %v", err)
	}
	// ...and the template itself fails with the supported minors, for
	// renderers that skip that check.
	err = renderEngine(t, "1.34.2")
	const msg = "archfit-scheduler is built for Kubernetes 1.35, 1.36 and 1.37 only, and kube-scheduler must never be newer than its API server; this cluster is v1.34.2"
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("1.34 template: %v, want %q", err, msg)
	}
	// Without the scheduler, nothing depends on the minor.
	if err := renderEngine(t, "1.34.2", "scheduler.enabled=false"); err != nil {
		t.Errorf("1.34 without the scheduler: %v", err)
	}
}

// renderEngine renders with engine.Render alone (no kubeVersion check).
func renderEngine(t *testing.T, kubeVersion string, sets ...string) error {
	t.Helper()
	ch, vals, err := load(Options{Set: sets})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "archfit", Namespace: "archfit", IsInstall: true}, caps)
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Render(ch, rv)
	return err
}

// Self-signed (default) versus cert-manager.
func TestTLSModes(t *testing.T) {
	t.Run("selfSigned", func(t *testing.T) {
		r := renderObjects(t, Options{})
		ca := r.get(t, "Secret", "archfit", "archfit-expander-ca")
		caPEM := secretData(t, ca, "tls.crt")
		if c := parseCert(t, caPEM); !c.IsCA || c.Subject.CommonName != "archfit-expander-ca" {
			t.Errorf("CA: IsCA %v, CN %s", c.IsCA, c.Subject.CommonName)
		}
		checkServing(t, r.get(t, "Secret", "archfit", "archfit-expander-tls"), caPEM, "archfit-expander.archfit.svc")
		checkServing(t, r.get(t, "Secret", "archfit", "archfit-placement-tls"), caPEM, "archfit-placement.archfit.svc.cluster.local")
		// The webhook's caBundle and cluster-autoscaler's trust file are the same CA.
		mwc := r.get(t, "MutatingWebhookConfiguration", "", "archfit-placement")
		hooks := asList(mwc["webhooks"])
		if len(hooks) != 2 {
			t.Fatalf("%d webhooks", len(hooks))
		}
		for _, w := range hooks {
			if got := at(w, "clientConfig", "caBundle"); got != at(ca, "data", "ca.crt") {
				t.Errorf("%v: caBundle is not the CA", at(w, "name"))
			}
		}
		if at(mwc, "metadata", "annotations") != nil {
			t.Errorf("annotations %v without cert-manager", at(mwc, "metadata", "annotations"))
		}
		cm := r.get(t, "ConfigMap", "kube-system", "archfit-expander-ca")
		if got, _ := at(cm, "data", "ca.crt").(string); strings.TrimSpace(got) != strings.TrimSpace(string(caPEM)) {
			t.Errorf("CA's ConfigMap ca.crt:\n%s\nwant\n%s", got, caPEM)
		}
		for k, o := range r {
			if strings.HasPrefix(k, "Issuer/") || strings.HasPrefix(k, "Certificate/") {
				t.Errorf("%s without cert-manager (%s)", k, o.Source)
			}
		}
	})
	t.Run("certManager", func(t *testing.T) {
		r := renderObjects(t, set("tls.mode=certManager"))
		for _, k := range []string{"Issuer/archfit/archfit-selfsigned", "Issuer/archfit/archfit-expander-ca",
			"Certificate/archfit/archfit-expander-ca", "Certificate/archfit/archfit-expander", "Certificate/archfit/archfit-placement"} {
			if _, ok := r[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		for k, o := range r {
			if o.Kind() == "Secret" {
				t.Errorf("%s generated with cert-manager", k)
			}
		}
		mwc := r.get(t, "MutatingWebhookConfiguration", "", "archfit-placement")
		if got := at(mwc, "metadata", "annotations", "cert-manager.io/inject-ca-from"); got != "archfit/archfit-placement" {
			t.Errorf("inject-ca-from %v", got)
		}
		for _, w := range asList(mwc["webhooks"]) {
			if b := at(w, "clientConfig", "caBundle"); b != nil {
				t.Errorf("%v: caBundle %v; cert-manager injects it", at(w, "name"), b)
			}
		}
		// Nothing issued yet (no lookup): no trust file for CA yet.
		if r.has("ConfigMap", "kube-system", "archfit-expander-ca") {
			t.Error("CA's ConfigMap rendered before cert-manager issued the CA")
		}
	})
}

// A bad value stops the render naming it.
func TestBadValuesFail(t *testing.T) {
	for v, want := range map[string]string{
		"tls.mode=openssl":               `tls.mode: "openssl" is not selfSigned or certManager`,
		"resolver.rollbackRecords=nope":  `resolver.rollbackRecords: "nope" is not namespace/name`,
		"migration.mode=Sometimes":       `migration.mode: "Sometimes" is not DryRun, Enabled or Disabled`,
		"scheduler.kubernetesMinor=34":   `scheduler.kubernetesMinor: 34 is not a minor archfit-scheduler is built for`,
		"scheduler.configFile=mine.yaml": `scheduler.configFile: "mine.yaml" is not archfit-scheduler.yaml`,
	} {
		if _, err := Render(context.Background(), set(v)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", v, err, want)
		}
	}
}

// Values that several components read reach each of them.
func TestSharedValues(t *testing.T) {
	r := renderObjects(t, Options{Namespace: "platform", Set: []string{
		"resolver.unknownImagePolicy=Deny", "resolver.fallbackArchitectures={amd64,arm64}",
		"resolver.insecureRegistries={r:5000}", "resolver.cacheSize=20000", "resolver.tagTTL=2h",
		"resolver.rollbackRecords=ops/records", "schedulerName=cheap-scheduler",
		"placement.namespaceOptIn.label=example.com/arch", "placement.namespaceOptIn.value=auto",
		"placement.skipNamespaces={kube-system,monitoring}", "clusterAutoscaler.namespace=autoscaler",
		"architectureWeights.arm64=0.5", "scheduler.archFitArgs.extra.priceAnnotation=example.com/price",
	}})
	want := map[string]string{
		"unknown-image-policy": "Deny", "fallback-architectures": "amd64,arm64", "insecure-registry": "r:5000",
		"cache-size": "20000", "tag-ttl": "2h", "rollback-records": "ops/records",
	}
	for _, d := range []string{"archfit-expander", "archfit-placement"} {
		a := args(r.get(t, "Deployment", "platform", d))
		for f, v := range want {
			if got, _ := flag(a, f); got != v {
				t.Errorf("%s --%s=%q, want %q", d, f, got, v)
			}
		}
	}
	ea := args(r.get(t, "Deployment", "platform", "archfit-expander"))
	if v, _ := flag(ea, "priority-configmap-namespace"); v != "autoscaler" {
		t.Errorf("expander --priority-configmap-namespace=%q", v)
	}
	pa := args(r.get(t, "Deployment", "platform", "archfit-placement"))
	for f, v := range map[string]string{"scheduler-name": "cheap-scheduler", "namespace-selector": "example.com/arch=auto",
		"skip-namespaces": "kube-system,monitoring", "leader-elect-resource-namespace": "platform"} {
		if got, _ := flag(pa, f); got != v {
			t.Errorf("placement --%s=%q, want %q", f, got, v)
		}
	}
	// The scheduler config: every file.
	cm := r.get(t, "ConfigMap", "platform", "archfit-scheduler-config")
	for _, file := range []string{"archfit-scheduler.yaml", "archfit-scheduler-pull-secrets.yaml", "archfit-filter-only.yaml"} {
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(at(cm, "data", file).(string)), &cfg); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if ns := at(cfg, "leaderElection", "resourceNamespace"); ns != "platform" {
			t.Errorf("%s: leader election in %v", file, ns)
		}
		a, _ := at(cfg, "profiles", 0, "pluginConfig", 0, "args").(map[string]any)
		for k, v := range map[string]any{"unknownImagePolicy": "Deny", "insecureRegistries": []any{"r:5000"},
			"cacheSize": float64(20000), "tagTTL": "2h", "rollbackRecords": "ops/records", "priceAnnotation": "example.com/price"} {
			if got := a[k]; !equalJSON(got, v) {
				t.Errorf("%s: %s = %v, want %v", file, k, got, v)
			}
		}
		if !slices.Equal(strs(a["fallbackArchitectures"]), []string{"amd64", "arm64"}) {
			t.Errorf("%s: fallbackArchitectures %v", file, a["fallbackArchitectures"])
		}
		if file != "archfit-filter-only.yaml" {
			if got := at(cfg, "profiles", 0, "schedulerName"); got != "cheap-scheduler" {
				t.Errorf("%s: schedulerName %v", file, got)
			}
			if got := at(a, "architectureWeights", "arm64"); got != 0.5 {
				t.Errorf("%s: arm64 weight %v", file, got)
			}
		}
	}
	var policy map[string]any
	if err := yaml.Unmarshal([]byte(at(r.get(t, "ConfigMap", "platform", "archfit-expander-policy"), "data", "policy.yaml").(string)), &policy); err != nil {
		t.Fatal(err)
	}
	if got := at(policy, "architectureWeights", "arm64"); got != 0.5 {
		t.Errorf("expander policy arm64 weight %v", got)
	}
	// The webhook follows the scheduler name, opt-in label and skipped namespaces.
	mwc := r.get(t, "MutatingWebhookConfiguration", "", "archfit-placement")
	if got := at(mwc, "webhooks", 0, "matchConditions", 0, "expression"); got != "object.spec.schedulerName == 'cheap-scheduler'" {
		t.Errorf("by-scheduler condition %v", got)
	}
	if got := at(mwc, "webhooks", 1, "namespaceSelector", "matchExpressions", 0); !equalJSON(got, map[string]any{"key": "example.com/arch", "operator": "In", "values": []any{"auto"}}) {
		t.Errorf("by-namespace selector %v", got)
	}
	for i := range 2 {
		if got := strs(at(mwc, "webhooks", i, "namespaceSelector", "matchExpressions", i, "values")); !slices.Equal(got, []string{"kube-system", "monitoring", "platform"}) {
			t.Errorf("webhook %d skips %q", i, got)
		}
		if got := at(mwc, "webhooks", i, "clientConfig", "service", "namespace"); got != "platform" {
			t.Errorf("webhook %d calls namespace %v", i, got)
		}
	}
	// RBAC follows the records' ConfigMap and CA's namespace.
	for _, k := range []string{"Role/ops/archfit-scheduler-rollback-records", "Role/ops/archfit-expander-rollback-records",
		"Role/ops/archfit-placement-rollback-records", "Role/autoscaler/archfit-expander-priorities", "ConfigMap/autoscaler/archfit-expander-ca"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	if names := strs(at(r.get(t, "Role", "ops", "archfit-scheduler-rollback-records"), "rules", 0, "resourceNames")); !slices.Equal(names, []string{"records"}) {
		t.Errorf("scheduler may read %q", names)
	}
	// The serving certificates name the release namespace.
	caPEM := secretData(t, r.get(t, "Secret", "platform", "archfit-expander-ca"), "tls.crt")
	checkServing(t, r.get(t, "Secret", "platform", "archfit-expander-tls"), caPEM, "archfit-expander.platform.svc")

	// No namespace opt-in: the flag is empty and the second webhook goes.
	r = renderObjects(t, set("placement.namespaceOptIn.enabled=false"))
	pa = args(r.get(t, "Deployment", "archfit", "archfit-placement"))
	if v, ok := flag(pa, "namespace-selector"); !ok || v != "" {
		t.Errorf("--namespace-selector=%q (set %v), want empty", v, ok)
	}
	if n := len(asList(r.get(t, "MutatingWebhookConfiguration", "", "archfit-placement")["webhooks"])); n != 1 {
		t.Errorf("%d webhooks without the namespace opt-in", n)
	}
}

// Per-component replicas, PDBs, resources, priority classes and pull secrets.
func TestComponentSettings(t *testing.T) {
	r := renderObjects(t, set("scheduler.replicas=3", "expander.pdb.enabled=false", "placement.pdb.minAvailable=2",
		"placement.resources.requests.cpu=250m", "expander.priorityClassName=high", "scheduler.priorityClassName=",
		"imagePullSecrets={regcred}", "migration.mode=Enabled", "migration.evictionsPerMinute=12", "migration.expectScaleUp=false",
		"scheduler.configFile=archfit-filter-only.yaml", "placement.extraArgs={--workers=8}", "image.pullPolicy=Always"))
	s := r.get(t, "Deployment", "archfit", "archfit-scheduler")
	if at(s, "spec", "replicas") != 3.0 {
		t.Errorf("scheduler replicas %v", at(s, "spec", "replicas"))
	}
	if at(s, "spec", "template", "spec", "priorityClassName") != nil {
		t.Errorf("scheduler priorityClassName %v", at(s, "spec", "template", "spec", "priorityClassName"))
	}
	if v, _ := flag(args(s), "config"); v != "/etc/archfit/scheduler/archfit-filter-only.yaml" {
		t.Errorf("--config=%s", v)
	}
	if r.has("PodDisruptionBudget", "archfit", "archfit-expander") {
		t.Error("expander PDB with pdb.enabled=false")
	}
	if got := at(r.get(t, "PodDisruptionBudget", "archfit", "archfit-placement"), "spec", "minAvailable"); got != 2.0 {
		t.Errorf("placement minAvailable %v", got)
	}
	p := r.get(t, "Deployment", "archfit", "archfit-placement")
	if got := at(container(p), "resources", "requests", "cpu"); got != "250m" {
		t.Errorf("placement cpu %v", got)
	}
	if got := at(container(p), "imagePullPolicy"); got != "Always" {
		t.Errorf("imagePullPolicy %v", got)
	}
	e := r.get(t, "Deployment", "archfit", "archfit-expander")
	if got := at(e, "spec", "template", "spec", "priorityClassName"); got != "high" {
		t.Errorf("expander priorityClassName %v", got)
	}
	for _, d := range []map[string]any{s, e, p} {
		if got := at(d, "spec", "template", "spec", "imagePullSecrets", 0, "name"); got != "regcred" {
			t.Errorf("%v: imagePullSecrets %v", at(d, "metadata", "name"), got)
		}
	}
	pa := args(p)
	for f, v := range map[string]string{"migration-mode": "Enabled", "migration-evictions-per-minute": "12", "migration-expect-scale-up": "false", "workers": "8"} {
		if got, _ := flag(pa, f); got != v {
			t.Errorf("placement --%s=%q, want %q", f, got, v)
		}
	}
	// The pull-secrets component's equivalent.
	r = renderObjects(t, set("resolver.usePullSecrets=true"))
	if v, _ := flag(args(r.get(t, "Deployment", "archfit", "archfit-scheduler")), "config"); v != "/etc/archfit/scheduler/archfit-scheduler-pull-secrets.yaml" {
		t.Errorf("--config=%s with pull secrets", v)
	}
	for _, d := range []string{"archfit-expander", "archfit-placement"} {
		if _, ok := flag(args(r.get(t, "Deployment", "archfit", d)), "use-pull-secrets"); !ok {
			t.Errorf("%s without --use-pull-secrets", d)
		}
	}
	if got := len(asList(r.get(t, "ClusterRoleBinding", "", "archfit-pull-secrets")["subjects"])); got != 3 {
		t.Errorf("pull secrets bound to %d accounts", got)
	}
}

// The dashboard ConfigMap carries the chart's dashboard file.
func TestDashboard(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "dashboards", "archfit.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := renderObjects(t, set("dashboard.enabled=true", "dashboard.namespace=monitoring", "dashboard.annotations.grafana_folder=archfit"))
	cm := r.get(t, "ConfigMap", "monitoring", "archfit-dashboard")
	if got := at(cm, "metadata", "labels", "grafana_dashboard"); got != "1" {
		t.Errorf("grafana_dashboard label %v", got)
	}
	if got := at(cm, "metadata", "annotations", "grafana_folder"); got != "archfit" {
		t.Errorf("folder annotation %v", got)
	}
	if got, _ := at(cm, "data", "archfit.json").(string); got != strings.TrimSpace(string(file)) {
		t.Errorf("archfit.json differs from dashboards/archfit.json (%d vs %d bytes)", len(got), len(file))
	}
}

// NOTES.txt gives the cluster-autoscaler chart's values for this release.
func TestNotes(t *testing.T) {
	notes := render(t, Options{Namespace: "platform"}).Notes
	for _, want := range []string{
		"expanderPriorities:", "extraArgs:", "expander: grpc,priority", "grpc-expander-url: archfit-expander.platform.svc:443",
		"grpc-expander-cert: /etc/archfit-expander/ca.crt", "extraVolumes:", "extraVolumeMounts:", "name: archfit-expander-ca",
		"archfit:0.1.0-k8s1.37", "Migration is DryRun",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	if notes := render(t, Options{KubeVersion: "1.39.0"}).Notes; !strings.Contains(notes, "WARNING") {
		t.Errorf("no skew warning on 1.39:\n%s", notes)
	}
}

// helm package, then install from the .tgz: the same objects.
func TestPackage(t *testing.T) {
	tgz, err := Package("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(tgz) != "archfit-0.1.0.tgz" {
		t.Errorf("packaged as %s", tgz)
	}
	ch, err := loader.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.KubeVersion != ">=1.35.0-0" || ch.Metadata.APIVersion != "v2" {
		t.Errorf("Chart.yaml: %+v", ch.Metadata)
	}
	opts := set("dashboard.enabled=true")
	fromDir := renderObjects(t, opts)
	opts.Chart = tgz
	fromTgz := renderObjects(t, opts)
	if !slices.Equal(fromDir.keys(), fromTgz.keys()) {
		t.Errorf("objects from the .tgz:\n%q\nfrom the directory:\n%q", fromTgz.keys(), fromDir.keys())
	}
}

// README.md lists every value of values.yaml.
func TestReadmeListsEveryValue(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The operator guide's §1a holds the same reference.
	guide, err := os.ReadFile(filepath.Join(dir, "..", "..", "..", "docs", "operator-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		t.Fatal(err)
	}
	// Maps that are one setting, not a group of them.
	whole := map[string]bool{"resources": true, "nodeSelector": true, "affinity": true, "architectureWeights": true,
		"labels": true, "annotations": true, "extra": true, "commonLabels": true}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !whole[k] {
				walk(path+".", sub)
				continue
			}
			if !strings.Contains(string(readme), "`"+path+"`") {
				t.Errorf("README.md does not list `%s`", path)
			}
			if !strings.Contains(string(guide), "`"+path+"`") {
				t.Errorf("docs/operator-guide.md §1a does not list `%s`", path)
			}
		}
	}
	walk("", vals)
}

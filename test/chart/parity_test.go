package chart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The chart renders what kustomize builds from manifests/ (the base, and
// each component beside the value that stands for it): the same
// objects, and in each the same spec, RBAC rules, container args, webhook
// configuration and ConfigMap content (YAML compared as data, not text).
// What legitimately differs is ignored, and nothing else:
//   - Helm's labels (helm.sh/chart, app.kubernetes.io/managed-by, instance,
//     version) and app.kubernetes.io/part-of, which the chart puts on every
//     object and kustomize only on the base's, not on its components';
//   - container images (kustomize's images: transformer vs the chart's
//     image values) and the scheduler pod's checksum/config annotation;
//   - ConfigMap name suffixes kustomize's generators add;
//   - the webhook's caBundle;
//   - the objects listed per case: the Namespace (helm install
//     --create-namespace makes it unless namespace.create) and the TLS
//     Secrets and CA's ConfigMap the chart generates in selfSigned mode.
func TestParityWithKustomize(t *testing.T) {
	generated := []string{"Secret/archfit/archfit-expander-ca", "Secret/archfit/archfit-expander-tls",
		"Secret/archfit/archfit-placement-tls", "ConfigMap/kube-system/archfit-expander-ca"}
	for _, tc := range []struct {
		name          string
		resources     []string // under manifests/
		components    []string
		set           []string
		chartOnly     []string
		kustomizeOnly []string
	}{
		{"base", []string{"base"}, nil, nil, generated, []string{"Namespace//archfit"}},
		{"base, namespace.create", []string{"base"}, nil, []string{"namespace.create=true"}, generated, nil},
		{"base+servicemonitor", []string{"base"}, []string{"components/servicemonitor"}, []string{"serviceMonitor.enabled=true"}, generated, []string{"Namespace//archfit"}},
		{"base+pull-secrets", []string{"base"}, []string{"components/pull-secrets"}, []string{"resolver.usePullSecrets=true"}, generated, []string{"Namespace//archfit"}},
		{"overlays/cert-manager", []string{"overlays/cert-manager"}, nil, []string{"tls.mode=certManager"}, nil, []string{"Namespace//archfit"}},
		{"base+grafana-dashboard", []string{"base"}, []string{"components/grafana-dashboard"}, []string{"dashboard.enabled=true"}, generated, []string{"Namespace//archfit"}},
		{"cert-manager+servicemonitor+pull-secrets", []string{"base"}, []string{"components/cert-manager", "components/servicemonitor", "components/pull-secrets"},
			[]string{"tls.mode=certManager", "serviceMonitor.enabled=true", "resolver.usePullSecrets=true", "namespace.create=true"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.components {
				if _, err := os.Stat(filepath.Join(manifestsDir(t), c, "kustomization.yaml")); err != nil {
					t.Skipf("no %s in this checkout", c)
				}
			}
			k := kustomize(t, tc.resources, tc.components)
			c := chartMaps(renderObjects(t, Options{KubeVersion: "1.37.1", Set: tc.set}))
			for _, e := range parity(k, c, tc.chartOnly, tc.kustomizeOnly) {
				t.Error(e)
			}
		})
	}
}

// The comparison fails on a flag, an RBAC verb or a webhook setting on one
// side only, and on an object on one side only.
func TestParityDetectsDrift(t *testing.T) {
	k := kustomize(t, []string{"base"}, nil)
	allow := []string{"Secret/archfit/archfit-expander-ca", "Secret/archfit/archfit-expander-tls",
		"Secret/archfit/archfit-placement-tls", "ConfigMap/kube-system/archfit-expander-ca"}
	kOnly := []string{"Namespace//archfit"}
	fresh := func() map[string]map[string]any { return chartMaps(renderObjects(t, Options{})) }
	if errs := parity(k, fresh(), allow, kOnly); len(errs) > 0 {
		t.Fatalf("no parity to start from: %v", errs)
	}
	for name, tc := range map[string]struct {
		change func(map[string]map[string]any)
		want   string
	}{
		"flag": {func(c map[string]map[string]any) {
			ctr := container(c["Deployment/archfit/archfit-placement"])
			ctr["args"] = append(asList(ctr["args"]), "--workers=8")
		}, `archfit-placement: args only in the chart: ["--workers=8"]`},
		"flag value": {func(c map[string]map[string]any) {
			ctr := container(c["Deployment/archfit/archfit-expander"])
			a := asList(ctr["args"])
			a[len(a)-1] = "--v=4"
		}, `archfit-expander: args only in kustomize: ["--v=2"]`},
		"verb": {func(c map[string]map[string]any) {
			rule := at(c["ClusterRole//archfit-placement"], "rules", 0).(map[string]any)
			rule["verbs"] = append(asList(rule["verbs"]), "delete")
		}, "ClusterRole//archfit-placement: rules differ"},
		"webhook": {func(c map[string]map[string]any) {
			at(c["MutatingWebhookConfiguration//archfit-placement"], "webhooks", 1).(map[string]any)["timeoutSeconds"] = 10.0
		}, "MutatingWebhookConfiguration//archfit-placement differs"},
		"scheduler config": {func(c map[string]map[string]any) {
			cfg := at(c["ConfigMap/archfit/archfit-scheduler-config"], "data", "archfit-scheduler.yaml").(map[string]any)
			at(cfg, "profiles", 0, "pluginConfig", 0, "args").(map[string]any)["lookupBudget"] = "200ms"
		}, "ConfigMap/archfit/archfit-scheduler-config differs"},
		"object": {func(c map[string]map[string]any) {
			delete(c, "RoleBinding/kube-system/archfit-scheduler-authentication-reader")
		}, "RoleBinding/kube-system/archfit-scheduler-authentication-reader only in kustomize"},
	} {
		c := fresh()
		tc.change(c)
		errs := parity(k, c, allow, kOnly)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
			t.Errorf("%s: errors %q, want one containing %q", name, errs, tc.want)
		}
	}
}

// helmLabels are the labels the chart may add.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/part-of"}

// parity compares kustomize's objects with the chart's (both normalized),
// allowing the listed keys on one side only.
func parity(k, c map[string]map[string]any, chartOnly, kustomizeOnly []string) []string {
	var errs []string
	var keys []string
	for key := range k {
		keys = append(keys, key)
	}
	for key := range c {
		if _, ok := k[key]; !ok {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		ko, inK := k[key]
		co, inC := c[key]
		switch {
		case !inC && !slices.Contains(kustomizeOnly, key):
			errs = append(errs, key+" only in kustomize")
		case !inK && !slices.Contains(chartOnly, key):
			errs = append(errs, key+" only in the chart")
		case inK && inC:
			errs = append(errs, compare(key, ko, co)...)
		}
	}
	for _, key := range chartOnly {
		if _, ok := c[key]; !ok {
			errs = append(errs, key+": expected from the chart, not rendered")
		}
	}
	return errs
}

// compare reports how one object differs, naming container args and RBAC
// rules first, then any other difference.
func compare(key string, k, c map[string]any) []string {
	var errs []string
	if strings.HasPrefix(key, "Deployment/") {
		kc, cc := container(k), container(c)
		ka, ca := strs(kc["args"]), strs(cc["args"])
		if only := minus(ca, ka); len(only) > 0 {
			errs = append(errs, fmt.Sprintf("%s: args only in the chart: %q", at(c, "metadata", "name"), only))
		}
		if only := minus(ka, ca); len(only) > 0 {
			errs = append(errs, fmt.Sprintf("%s: args only in kustomize: %q", at(k, "metadata", "name"), only))
		}
		if len(errs) > 0 {
			return errs
		}
		// Same flags, maybe in another order: the rest must match.
		slices.Sort(ka)
		slices.Sort(ca)
		kc["args"], cc["args"] = anyList(ka), anyList(ca)
	}
	if strings.HasPrefix(key, "ClusterRole/") || strings.HasPrefix(key, "Role/") {
		if d := cmp.Diff(k["rules"], c["rules"]); d != "" {
			return []string{fmt.Sprintf("%s: rules differ (-kustomize +chart):\n%s", key, d)}
		}
	}
	if d := cmp.Diff(k, c); d != "" {
		errs = append(errs, fmt.Sprintf("%s differs (-kustomize +chart):\n%s", key, d))
	}
	return errs
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func anyList(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// hashSuffix is the content hash kustomize's generators append to a
// ConfigMap's name (its hasher's alphabet).
var hashSuffix = regexp.MustCompile(`^(.+)-[bcdfghkmt2-9]{10}$`)

// kustomize builds the given directories under manifests/ and components
// in one kustomization, as an operator's overlay would, and returns the
// normalized objects by kind/namespace/name (generated names unsuffixed).
func kustomize(t *testing.T, resources, components []string) map[string]map[string]any {
	t.Helper()
	manifests := manifestsDir(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	for _, l := range []struct {
		key   string
		paths []string
	}{{"resources", resources}, {"components", components}} {
		if len(l.paths) > 0 {
			fmt.Fprintf(&b, "%s:\n", l.key)
		}
		for _, p := range l.paths {
			rel, err := filepath.Rel(dir, filepath.Join(manifests, p))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  - %s\n", rel)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	renamed := map[string]string{} // ConfigMap name with kustomize's suffix -> without
	var objs []map[string]any
	for _, r := range rm.Resources() {
		if m := hashSuffix.FindStringSubmatch(r.GetName()); r.GetKind() == "ConfigMap" && m != nil {
			renamed[r.GetName()] = m[1]
		}
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		obj := map[string]any{}
		if err := json.Unmarshal(js, &obj); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	out := map[string]map[string]any{}
	for _, obj := range objs {
		md := obj["metadata"].(map[string]any)
		if n, ok := renamed[md["name"].(string)]; ok && obj["kind"] == "ConfigMap" {
			md["name"] = n
		}
		for _, v := range asList(at(obj, "spec", "template", "spec", "volumes")) {
			if cm, ok := at(v, "configMap").(map[string]any); ok {
				if n, ok := renamed[cm["name"].(string)]; ok {
					cm["name"] = n
				}
			}
		}
		o := Object{Obj: obj}
		out[o.Key()] = normalize(obj)
	}
	return out
}

// manifestsDir is manifests/ of this checkout.
func manifestsDir(t *testing.T) string {
	t.Helper()
	chartDir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(chartDir, "..", "..")
}

// chartMaps normalizes a render's objects.
func chartMaps(r rendered) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, o := range r {
		out[k] = normalize(o.Obj)
	}
	return out
}

// normalize drops what legitimately differs between kustomize and the
// chart, in place, and decodes YAML and JSON held in ConfigMaps.
func normalize(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, l := range helmLabels {
			delete(labels, l)
		}
		if len(labels) == 0 {
			delete(md, "labels")
		}
	}
	switch obj["kind"] {
	case "Deployment":
		tmd, _ := at(obj, "spec", "template", "metadata").(map[string]any)
		if ann, ok := tmd["annotations"].(map[string]any); ok {
			delete(ann, "checksum/config")
			if len(ann) == 0 {
				delete(tmd, "annotations")
			}
		}
		for _, c := range asList(at(obj, "spec", "template", "spec", "containers")) {
			delete(c.(map[string]any), "image")
		}
	case "MutatingWebhookConfiguration":
		for _, w := range asList(obj["webhooks"]) {
			if cc, ok := at(w, "clientConfig").(map[string]any); ok {
				delete(cc, "caBundle")
			}
		}
	case "ConfigMap":
		data, _ := obj["data"].(map[string]any)
		for k, v := range data {
			if s, ok := v.(string); ok && (strings.HasSuffix(k, ".yaml") || strings.HasSuffix(k, ".yml") || strings.HasSuffix(k, ".json")) {
				var parsed any
				if err := yaml.Unmarshal([]byte(s), &parsed); err == nil {
					data[k] = parsed
				}
			}
		}
	}
	return obj
}

// equalJSON compares two values as JSON.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

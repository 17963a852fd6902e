// Package chart renders and packages archfit's Helm chart
// (manifests/charts/archfit) with the Helm SDK, for its tests and for
// tests of the main module, which run `go run ./cmd/render` here rather
// than import this module: the Helm SDK stays out of archfit's go.mod.
package chart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// Dir is the chart's directory in this checkout, found from this source
// file, so it does not depend on the working directory.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("chart: cannot locate the source tree (built with -trimpath?); pass the chart's directory")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "manifests", "charts", "archfit")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	return dir, nil
}

// Options of one render.
type Options struct {
	// Chart is the chart's directory or packaged .tgz; empty: Dir().
	Chart string
	// KubeVersion is the cluster's version the chart sees
	// (.Capabilities.KubeVersion), e.g. "1.37.1". Empty: 1.37.0.
	KubeVersion string
	// Kube, when set, replaces KubeVersion (for versions such as EKS's,
	// whose Minor is "35+").
	Kube *chartutil.KubeVersion
	// ReleaseName and Namespace; empty: archfit and archfit.
	ReleaseName, Namespace string
	// ValueFiles (-f), Set (--set k=v) and SetString (--set-string), as
	// the helm CLI takes them.
	ValueFiles, Set, SetString []string
	// Values are merged over all of the above.
	Values map[string]any
	// Lookup, when set, is the API server the chart's lookup calls read
	// (as helm install and upgrade do); nil: lookup finds nothing, as in
	// helm template.
	Lookup *rest.Config
}

// Result of a render.
type Result struct {
	// Manifest is the multi-document YAML, in Helm's install order.
	Manifest string
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Render renders the chart as `helm install --dry-run` (or `helm template`)
// does, through action.Install in client-only mode: the chart's
// kubeVersion constraint is checked, and lookup reaches o.Lookup if set.
func Render(ctx context.Context, o Options) (*Result, error) {
	ch, vals, err := load(o)
	if err != nil {
		return nil, err
	}
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	install := action.NewInstall(cfg)
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true
	install.ReleaseName = or(o.ReleaseName, "archfit")
	install.Namespace = or(o.Namespace, "archfit")
	install.KubeVersion = o.Kube
	if install.KubeVersion == nil {
		kv, err := chartutil.ParseKubeVersion(or(o.KubeVersion, "1.37.0"))
		if err != nil {
			return nil, fmt.Errorf("kube version: %w", err)
		}
		install.KubeVersion = kv
	}
	if o.Lookup != nil {
		// helm install --dry-run=server: templates may read the cluster.
		install.DryRunOption = "server"
		cfg.RESTClientGetter = restConfigGetter{o.Lookup}
	}
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, err
	}
	res := &Result{Manifest: rel.Manifest, Notes: rel.Info.Notes}
	for _, h := range rel.Hooks { // the chart has none; keep them if it ever does
		res.Manifest += "\n---\n# Source: " + h.Path + "\n" + h.Manifest
	}
	return res, nil
}

func load(o Options) (*chart.Chart, map[string]any, error) {
	path := o.Chart
	if path == "" {
		var err error
		if path, err = Dir(); err != nil {
			return nil, nil, err
		}
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load chart %s: %w", path, err)
	}
	vo := values.Options{ValueFiles: o.ValueFiles, Values: o.Set, StringValues: o.SetString}
	vals, err := vo.MergeValues(getter.Providers{})
	if err != nil {
		return nil, nil, err
	}
	vals = chartutil.MergeTables(copyValues(o.Values), vals)
	return ch, vals, nil
}

// copyValues deep-copies v through YAML, so a caller's map is never
// changed by a render.
func copyValues(v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// Package writes the chart as a .tgz into dir (helm package) and returns
// its path.
func Package(chartDir, dir string) (string, error) {
	if chartDir == "" {
		var err error
		if chartDir, err = Dir(); err != nil {
			return "", err
		}
	}
	p := action.NewPackage()
	p.Destination = dir
	return p.Run(chartDir, nil)
}

// Object is one rendered document, decoded through JSON (numbers are
// float64), with the template it came from.
type Object struct {
	Source string
	Obj    map[string]any
}

// Kind, Namespace and Name of the object.
func (o Object) Kind() string      { return str(o.Obj, "kind") }
func (o Object) Namespace() string { return str(o.Obj, "metadata", "namespace") }
func (o Object) Name() string      { return str(o.Obj, "metadata", "name") }

// Key is kind/namespace/name.
func (o Object) Key() string { return o.Kind() + "/" + o.Namespace() + "/" + o.Name() }

// Objects splits a manifest into its objects, in order.
func Objects(manifest string) ([]Object, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []Object
	for _, k := range keys {
		doc := docs[k]
		var src string
		if first, _, ok := strings.Cut(strings.TrimSpace(doc), "\n"); ok && strings.HasPrefix(first, "# Source: ") {
			src = strings.TrimPrefix(first, "# Source: ")
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, Object{Source: src, Obj: obj})
	}
	return out, nil
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// restConfigGetter is the RESTClientGetter helm's install needs to reach a
// cluster for lookup; nothing else of it is used in client-only mode.
type restConfigGetter struct{ cfg *rest.Config }

func (g restConfigGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }
func (g restConfigGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("chart: no discovery in client-only rendering")
}
func (g restConfigGetter) ToRESTMapper() (meta.RESTMapper, error) {
	return nil, errors.New("chart: no REST mapper in client-only rendering")
}
func (g restConfigGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{})
}

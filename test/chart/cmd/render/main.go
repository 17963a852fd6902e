// Command render prints archfit's Helm chart as `helm template` would,
// with the Helm SDK, for tests and for machines without a helm binary:
//
//	cd test/chart && go run ./cmd/render --kube-version 1.37.1 [--set k=v]... [-f values.yaml]... > archfit.yaml
//	cd test/chart && go run ./cmd/render --package DIR      # writes DIR/archfit-<version>.tgz, prints its path
//
// The multi-document YAML goes to stdout in Helm's install order; NOTES.txt
// goes to stderr with --notes. --lookup-kubeconfig lets the chart's lookup
// read a cluster (as helm install does), so the self-signed certificates
// already there are kept.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/archfit/archfit/test/chart"
)

type list []string

func (l *list) String() string     { return fmt.Sprint(*l) }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o chart.Options
	var set, setString, files list
	var pkg, kubeconfig string
	var notes bool
	flag.StringVar(&o.Chart, "chart", "", "chart directory or .tgz (default: manifests/charts/archfit of this checkout)")
	flag.StringVar(&o.KubeVersion, "kube-version", "1.37.0", "Kubernetes version the chart renders for (.Capabilities.KubeVersion)")
	flag.StringVar(&o.ReleaseName, "name", "archfit", "release name")
	flag.StringVar(&o.Namespace, "namespace", "archfit", "release namespace")
	flag.Var(&set, "set", "a value, key=value as helm --set (repeatable)")
	flag.Var(&setString, "set-string", "a string value, key=value as helm --set-string (repeatable)")
	flag.Var(&files, "f", "a values file (repeatable)")
	flag.StringVar(&kubeconfig, "lookup-kubeconfig", "", "kubeconfig of a cluster the chart's lookup reads (default: none, as helm template)")
	flag.StringVar(&pkg, "package", "", "package the chart into this directory instead of rendering it; prints the .tgz's path")
	flag.BoolVar(&notes, "notes", false, "print the rendered NOTES.txt to stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if pkg != "" {
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			fail(err)
		}
		path, err := chart.Package(o.Chart, pkg)
		if err != nil {
			fail(err)
		}
		fmt.Println(path)
		return
	}
	o.Set, o.SetString, o.ValueFiles = set, setString, files
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			fail(err)
		}
		o.Lookup = cfg
	}
	res, err := chart.Render(context.Background(), o)
	if err != nil {
		fail(err)
	}
	fmt.Print(res.Manifest)
	if notes {
		fmt.Fprintln(os.Stderr, res.Notes)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "render:", err)
	os.Exit(1)
}

// Package manifests builds archfit's kustomize targets with kustomize's own
// library, so tests check exactly what `kubectl apply -k` would send.
package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Targets are the directories under manifests/ that build on their own.
func Targets() []string {
	return []string{"base", "overlays/cert-manager"}
}

// Components are the kustomize Components under manifests/. All but
// cluster-autoscaler compose onto the base; that one patches the
// cluster-autoscaler Deployment, which the operator's own kustomization
// brings.
func Components() []string {
	return []string{"components/cert-manager", "components/servicemonitor", "components/pull-secrets", "components/cluster-autoscaler", "components/grafana-dashboard"}
}

// Build runs kustomize on dir, on disk. Code that must run outside a
// checkout (the archfit CLI) uses BuildEmbedded instead.
func Build(dir string) ([]*unstructured.Unstructured, error) {
	return kustomizeBuild(filesys.MakeFsOnDisk(), dir, dir)
}

// kustomizeBuild runs kustomize on dir in fsys; name is dir as errors show it.
func kustomizeBuild(fsys filesys.FileSystem, dir, name string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", name, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		// Through JSON, so numbers are int64 as client-go expects (kustomize's
		// own maps hold int, which DeepCopy refuses).
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", name, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", name, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Compose builds a kustomization, written to a temporary directory, with
// the given resources and components (directories, relative to the
// working directory or absolute), as an operator's own overlay would.
func Compose(resources, components []string) ([]*unstructured.Unstructured, error) {
	dir, err := os.MkdirTemp("", "archfit-kustomize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	k, err := kustomization(resources, components, func(p string) (string, error) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		return filepath.Rel(dir, abs)
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return nil, err
	}
	return Build(dir)
}

// kustomization is a Kustomization of resources and components, each path
// written as rel returns it.
func kustomization(resources, components []string, rel func(string) (string, error)) (string, error) {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	for _, list := range []struct {
		key   string
		paths []string
	}{{"resources", resources}, {"components", components}} {
		if len(list.paths) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", list.key)
		for _, p := range list.paths {
			r, err := rel(p)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "  - %s\n", r)
		}
	}
	return b.String(), nil
}

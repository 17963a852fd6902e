package manifests

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	schedulerconfig "github.com/archfit/archfit/scheduler-config"
)

// files is the kustomize tree under manifests/, whole directories (with
// all:, so no file a kustomization names is left out), so that a binary
// built anywhere (go install …@version) builds what this checkout ships.
//
//go:embed all:base all:components all:overlays
var files embed.FS

// The embedded trees' places in the in-memory filesystem: the same
// relative paths as in the repository, since manifests/base names
// ../../scheduler-config as a resource.
const (
	embeddedManifests       = "/archfit/manifests"
	embeddedSchedulerConfig = "/archfit/scheduler-config"
)

// embeddedFS lays the embedded manifests and the embedded scheduler
// configs out in kustomize's in-memory filesystem. A new one each time:
// kustomize may write to it, and builds may run concurrently.
func embeddedFS() (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	for _, tree := range []struct {
		fsys fs.FS
		dir  string
	}{{files, embeddedManifests}, {schedulerconfig.Files, embeddedSchedulerConfig}} {
		err := fs.WalkDir(tree.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(tree.fsys, p)
			if err != nil {
				return err
			}
			return mem.WriteFile(path.Join(tree.dir, p), b)
		})
		if err != nil {
			return nil, fmt.Errorf("embedded manifests: %w", err)
		}
	}
	return mem, nil
}

// embeddedDir is dir, relative to manifests/ ("base",
// "components/cert-manager"), in the embedded filesystem.
func embeddedDir(dir string) (string, error) {
	clean := path.Clean(dir)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("embedded manifests: %q is not a directory under manifests/", dir)
	}
	return path.Join(embeddedManifests, clean), nil
}

// BuildEmbedded runs kustomize on target, one of Targets(), from the copy
// of manifests/ and scheduler-config/ compiled into the binary; it does not
// read the working directory.
func BuildEmbedded(target string) ([]*unstructured.Unstructured, error) {
	mem, err := embeddedFS()
	if err != nil {
		return nil, err
	}
	dir, err := embeddedDir(target)
	if err != nil {
		return nil, err
	}
	return kustomizeBuild(mem, dir, "manifests/"+path.Clean(target)+" (embedded)")
}

// ComposeEmbedded is Compose on the embedded copy: resources and
// components are directories relative to manifests/, such as "base" and
// Components()' entries.
func ComposeEmbedded(resources, components []string) ([]*unstructured.Unstructured, error) {
	mem, err := embeddedFS()
	if err != nil {
		return nil, err
	}
	const dir = "/archfit/compose"
	rel := func(p string) (string, error) {
		if _, err := embeddedDir(p); err != nil {
			return "", err
		}
		return path.Join("../manifests", path.Clean(p)), nil
	}
	k, err := kustomization(resources, components, rel)
	if err != nil {
		return nil, err
	}
	if err := mem.WriteFile(path.Join(dir, "kustomization.yaml"), []byte(k)); err != nil {
		return nil, err
	}
	return kustomizeBuild(mem, dir, "a composition of the embedded manifests")
}

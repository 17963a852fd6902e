package manifests

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	schedulerconfig "github.com/archfit/archfit/scheduler-config"
)

// The embedded copy holds exactly the files on disk, so no file a
// kustomization will name can be left out of the binary.
func TestEmbeddedFilesAreTheFilesOnDisk(t *testing.T) {
	for _, tree := range []struct {
		fsys fs.FS
		disk string
		only func(string) bool // which files on disk the embed takes
	}{
		{files, ".", func(p string) bool {
			top, _, _ := strings.Cut(p, "/")
			return top == "base" || top == "components" || top == "overlays"
		}},
		{schedulerconfig.Files, "../scheduler-config", func(p string) bool {
			return !strings.Contains(p, "/") && filepath.Ext(p) == ".yaml"
		}},
	} {
		onDisk := map[string]bool{}
		err := filepath.WalkDir(tree.disk, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(tree.disk, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if tree.only(rel) {
				onDisk[rel] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		embedded := map[string]bool{}
		err = fs.WalkDir(tree.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			embedded[p] = true
			want, err := os.ReadFile(filepath.Join(tree.disk, p))
			if err != nil {
				t.Errorf("%s is embedded but not on disk: %v", p, err)
				return nil
			}
			if got, _ := fs.ReadFile(tree.fsys, p); string(got) != string(want) {
				t.Errorf("%s/%s: the embedded copy differs from the file on disk", tree.disk, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for p := range onDisk {
			if !embedded[p] {
				t.Errorf("%s/%s is not embedded", tree.disk, p)
			}
		}
		if len(embedded) < 4 {
			t.Errorf("%s: only %d files embedded", tree.disk, len(embedded))
		}
	}
}

func sameObjects(t *testing.T, what string, got, want []*unstructured.Unstructured) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s: the embedded build differs from the build on disk:\nembedded: %s\non disk:  %s", what, g, w)
	}
	if len(want) == 0 {
		t.Errorf("%s: built nothing", what)
	}
}

// What the CLI builds from its embedded copy is what kustomize builds from
// the checkout, for every target and component.
func TestEmbeddedBuildsEqualBuildsOnDisk(t *testing.T) {
	for _, dir := range Targets() {
		t.Run(dir, func(t *testing.T) {
			got, err := BuildEmbedded(dir)
			if err != nil {
				t.Fatal(err)
			}
			sameObjects(t, dir, got, build(t, dir))
		})
	}
	for _, c := range Components() {
		t.Run(c, func(t *testing.T) {
			// cluster-autoscaler patches CA's Deployment, which no target
			// here holds; its build is then the base's, and the files test
			// above covers its patch.
			got, err := ComposeEmbedded([]string{"base"}, []string{c})
			if err != nil {
				t.Fatal(err)
			}
			sameObjects(t, c, got, compose(t, []string{"base"}, []string{c}))
		})
	}
	all := []string{"components/servicemonitor", "components/pull-secrets"}
	got, err := ComposeEmbedded([]string{"overlays/cert-manager"}, all)
	if err != nil {
		t.Fatal(err)
	}
	sameObjects(t, "every component", got, compose(t, []string{"overlays/cert-manager"}, all))
}

func TestEmbeddedRefusesPathsOutsideManifests(t *testing.T) {
	for _, dir := range []string{"../scheduler-config", "/etc", "base/../../x"} {
		if _, err := BuildEmbedded(dir); err == nil {
			t.Errorf("BuildEmbedded(%q) succeeded", dir)
		}
	}
	if _, err := ComposeEmbedded([]string{"../../x"}, nil); err == nil {
		t.Error("ComposeEmbedded of ../../x succeeded")
	}
}

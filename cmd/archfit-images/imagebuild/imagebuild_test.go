package imagebuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/registrytest"
)

func files(t *testing.T, img v1.Image) map[string]File {
	t.Helper()
	fs, err := ReadFiles(img, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// The builder's real path, end to end: cross-compile, assemble, push to a
// real registry, and read the index back with archfit's own resolver. The
// input is a small program (testdata/hello) rather than archfit's
// binaries, which take minutes to cross-compile; make images and make e2e
// build those.
func TestBuildPushResolve(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := context.Background()
	build := func() v1.ImageIndex {
		idx, err := Build(ctx, WithPackages("./testdata/hello"), WithCACertificates(caFile), WithCreated(created), WithLogf(t.Logf))
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	idx := build()

	reg := registrytest.New()
	t.Cleanup(reg.Close)
	ref := reg.Host + "/archfit/archfit:test"
	dig, err := Push(ctx, idx, ref, true)
	if err != nil {
		t.Fatal(err)
	}

	// archfit's resolver sees both architectures.
	res, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(reg.Host), imageplatform.WithAllowedPrivateRegistries(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Resolve(ctx, imageplatform.Request{Image: ref})
	if got.Err != nil {
		t.Fatal(got.Err)
	}
	var plats []string
	for _, p := range got.Platforms {
		plats = append(plats, p.String())
	}
	slices.Sort(plats)
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) || got.Digest != dig.DigestStr() {
		t.Fatalf("resolved %v at %s, want linux/amd64 and linux/arm64 at %s", plats, got.Digest, dig.DigestStr())
	}

	pulled, err := remote.Index(dig)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := pulled.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s", mt)
	}
	im, _ := pulled.IndexManifest()
	elfMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, d := range im.Manifests {
		img, err := pulled.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		arch := d.Platform.Architecture
		if cf.Architecture != arch || cf.OS != "linux" {
			t.Errorf("%s: config says %s/%s", arch, cf.OS, cf.Architecture)
		}
		if cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/hello"}) {
			t.Errorf("%s: user %q entrypoint %v", arch, cf.Config.User, cf.Config.Entrypoint)
		}
		fs := files(t, img)
		for _, want := range []string{"usr/local/bin/hello", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
			if f, ok := fs[want]; !ok {
				t.Errorf("%s: %s missing", arch, want)
			} else if !f.Header.ModTime.Equal(created) {
				t.Errorf("%s: %s stamped %v, want %v", arch, want, f.Header.ModTime, created)
			}
		}
		if !strings.Contains(string(fs["etc/passwd"].Body), "nonroot:x:65532:65532:") {
			t.Errorf("%s: no nonroot user in /etc/passwd", arch)
		}
		bin := fs["usr/local/bin/hello"].Body
		if len(bin) == 0 {
			t.Fatalf("%s: empty binary", arch)
		}
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != elfMachine[arch] {
			t.Errorf("%s: binary is for %v", arch, f.Machine)
		}
		// Static: no interpreter, so it runs on a base without libc.
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: binary is dynamically linked", arch)
			}
		}
		if arch == runtime.GOARCH && runtime.GOOS == "linux" {
			exe := filepath.Join(t.TempDir(), "hello")
			if err := os.WriteFile(exe, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe).CombinedOutput()
			if err != nil || string(out) != "hello from linux/"+arch+"\n" {
				t.Errorf("running the image's binary: %q, %v", out, err)
			}
		}
	}

	// Reproducible: the same sources and time give the same digest.
	again, err := build().Digest()
	if err != nil {
		t.Fatal(err)
	}
	if again.String() != dig.DigestStr() {
		t.Errorf("rebuild gave %s, first build %s", again, dig.DigestStr())
	}
}

func TestBuildRefusesWithoutCACertificates(t *testing.T) {
	_, err := Build(context.Background(), WithPackages("./testdata/hello"), WithCACertificates(filepath.Join(t.TempDir(), "none.pem")))
	if err == nil || !strings.Contains(err.Error(), "CA certificates") {
		t.Fatalf("err = %v", err)
	}
}

func TestPushRejectsBadReference(t *testing.T) {
	_, err := Push(context.Background(), nil, "Not A Reference", false)
	if err == nil || !strings.Contains(err.Error(), "image reference") {
		t.Fatalf("err = %v", err)
	}
}

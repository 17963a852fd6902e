// Package imagebuild builds archfit's container image, an OCI image index
// for linux/amd64 and linux/arm64, without a Docker engine: the Go
// toolchain cross-compiles static binaries and go-containerregistry
// assembles and pushes the image. The result matches the Dockerfile's: the
// four binaries in /usr/local/bin on a distroless-style base (no shell,
// CA certificates, a non-root user 65532).
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinDir is where the binaries sit in the image; the manifests' commands
// name it.
const BinDir = "/usr/local/bin"

// NonRootUID is the image's user, as distroless's "nonroot".
const NonRootUID = 65532

type options struct {
	dir        string
	goCmd      string
	packages   []string
	platforms  []v1.Platform
	ldflags    string
	caCerts    string
	created    time.Time
	entrypoint string
	logf       func(string, ...any)
}

// Option configures Build.
type Option func(*options)

// WithModuleDir sets the directory `go build` runs in (default: the
// working directory).
func WithModuleDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithGo sets the go command (default "go").
func WithGo(goCmd string) Option { return func(o *options) { o.goCmd = goCmd } }

// WithPackages sets the main packages to build (default: archfit's four
// commands). The first is the entrypoint.
func WithPackages(pkgs ...string) Option { return func(o *options) { o.packages = pkgs } }

// WithPlatforms sets the platforms (default linux/amd64 and linux/arm64).
func WithPlatforms(ps ...v1.Platform) Option { return func(o *options) { o.platforms = ps } }

// WithLDFlags adds linker flags (the version stamps Kubernetes binaries
// need, for instance).
func WithLDFlags(f string) Option { return func(o *options) { o.ldflags = f } }

// WithCACertificates sets the PEM bundle copied to
// /etc/ssl/certs/ca-certificates.crt (default: the build machine's). The
// resolver talks TLS to registries, so the image cannot do without one.
func WithCACertificates(file string) Option { return func(o *options) { o.caCerts = file } }

// WithCreated sets the time stamped on files and the config, for
// reproducible images (default: SOURCE_DATE_EPOCH, else the Unix epoch).
func WithCreated(t time.Time) Option { return func(o *options) { o.created = t } }

// WithLogf receives progress lines.
func WithLogf(f func(string, ...any)) Option { return func(o *options) { o.logf = f } }

// DefaultPackages are archfit's commands; archfit (the CLI) is the
// entrypoint and the manifests set command to the others.
func DefaultPackages() []string {
	return []string{"./cmd/archfit", "./cmd/archfit-scheduler", "./cmd/archfit-expander", "./cmd/archfit-placement"}
}

// DefaultPlatforms are the platforms archfit ships for.
func DefaultPlatforms() []v1.Platform {
	return []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
}

// Build cross-compiles the packages for each platform and returns the image
// index.
func Build(ctx context.Context, opts ...Option) (v1.ImageIndex, error) {
	o := options{
		goCmd:     "go",
		packages:  DefaultPackages(),
		platforms: DefaultPlatforms(),
		caCerts:   "/etc/ssl/certs/ca-certificates.crt",
		created:   sourceDateEpoch(),
		logf:      func(string, ...any) {},
	}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.packages) == 0 || len(o.platforms) == 0 {
		return nil, fmt.Errorf("imagebuild: need at least one package and one platform")
	}
	o.entrypoint = path.Join(BinDir, path.Base(o.packages[0]))
	certs, err := os.ReadFile(o.caCerts)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: CA certificates for the image: %w", err)
	}
	base, err := baseLayer(certs, o.created)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "archfit-imagebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		out := filepath.Join(work, p.OS+"-"+p.Architecture)
		if err := compile(ctx, o, p, out); err != nil {
			return nil, err
		}
		img, err := image(o, p, base, out)
		if err != nil {
			return nil, err
		}
		pp := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pp}})
	}
	// Digest forces every layer to be computed while the binaries exist.
	if _, err := idx.Digest(); err != nil {
		return nil, err
	}
	return idx, nil
}

func sourceDateEpoch() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Unix(0, 0).UTC()
}

func compile(ctx context.Context, o options, p v1.Platform, out string) error {
	args := []string{"build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w " + o.ldflags), "-o", out + string(filepath.Separator)}
	args = append(args, o.packages...)
	cmd := exec.CommandContext(ctx, o.goCmd, args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Variant != "" && p.Architecture == "arm" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	o.logf("building %s for %s/%s", strings.Join(o.packages, " "), p.OS, p.Architecture)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s/%s: %w\n%s", p.OS, p.Architecture, err, b)
	}
	o.logf("built %s/%s in %s", p.OS, p.Architecture, time.Since(start).Round(time.Second))
	return nil
}

// entry is a file or directory in a layer.
type entry struct {
	name     string
	mode     int64
	uid      int
	body     []byte
	dir      bool
	typeflag byte
}

func layer(entries []entry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: created, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !e.dir {
			if _, err := tw.Write(e.body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// baseLayer is what distroless/static provides that a Go binary needs: a
// passwd entry for the non-root user, CA certificates, and a /tmp.
func baseLayer(certs []byte, created time.Time) (v1.Layer, error) {
	uid := fmt.Sprint(NonRootUID)
	return layer([]entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + uid + ":" + uid + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:" + uid + ":\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: certs},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: NonRootUID},
		{name: "tmp", mode: 0o1777, dir: true},
	}, created)
}

func binLayer(dir string, created time.Time) (v1.Layer, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	entries := []entry{{name: "usr", mode: 0o755, dir: true}, {name: "usr/local", mode: 0o755, dir: true}, {name: strings.TrimPrefix(BinDir, "/"), mode: 0o755, dir: true}}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{name: path.Join(strings.TrimPrefix(BinDir, "/"), n), mode: 0o755, body: b})
	}
	return layer(entries, created)
}

func image(o options, p v1.Platform, base v1.Layer, binDir string) (v1.Image, error) {
	bins, err := binLayer(binDir, o.created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, bins)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: o.created}
	cf.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cf.Config.WorkingDir = "/"
	cf.Config.Entrypoint = []string{o.entrypoint}
	cf.Config.Env = []string{"PATH=" + BinDir + ":/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "archfit",
		"org.opencontainers.image.description": "archfit-scheduler, archfit-expander, archfit-placement and the archfit CLI",
		"org.opencontainers.image.source":      "https://github.com/archfit/archfit",
	}
	return mutate.ConfigFile(img, cf)
}

// Push writes the index and its images to ref. insecure allows plain HTTP
// (a loopback or in-cluster registry without TLS).
func Push(ctx context.Context, idx v1.ImageIndex, ref string, insecure bool) (name.Digest, error) {
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return name.Digest{}, fmt.Errorf("push %s: %w", r, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return r.Context().Digest(d.String()), nil
}

// File is a regular file read back out of an image.
type File struct {
	Header *tar.Header
	Body   []byte
}

// ReadFiles returns the regular files in img's layers whose names (without
// a leading slash) match, for checking what an image holds or taking its
// binaries out.
func ReadFiles(img v1.Image, match func(name string) bool) (map[string]File, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := map[string]File{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				rc.Close()
				return nil, err
			}
			if !match(h.Name) {
				continue
			}
			var b []byte
			if h.Typeflag == tar.TypeReg {
				if b, err = io.ReadAll(tr); err != nil {
					rc.Close()
					return nil, err
				}
			}
			out[h.Name] = File{Header: h, Body: b}
		}
		rc.Close()
	}
	return out, nil
}

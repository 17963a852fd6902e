package imageplatform_test

import (
	"strings"
	"testing"

	ip "github.com/archfit/archfit/internal/imageplatform"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "linux/amd64", want: "linux/amd64"},
		{in: "linux/arm64/v8", want: "linux/arm64"},
		{in: "linux/aarch64", want: "linux/arm64"},
		{in: "linux/x86_64", want: "linux/amd64"},
		{in: "linux/arm", want: "linux/arm/v7"},
		{in: "linux/arm/v6", want: "linux/arm/v6"},
		{in: "linux/arm/v7", want: "linux/arm/v7"},
		{in: "Windows/AMD64", want: "windows/amd64"},
		{in: "linux/amd64/v3", want: "linux/amd64/v3"},
		{in: "linux", err: "want os/arch"},
		{in: "linux//v7", err: "empty element"},
		{in: "linux/amd64/v1/x", err: "want os/arch"},
		{in: "linux/am d64", err: "invalid character"},
	}
	for _, tt := range tests {
		p, err := ip.ParsePlatform(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("%q: got %v %v, want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestParsePlatformList(t *testing.T) {
	ps, err := ip.ParsePlatformList("linux/arm64, linux/amd64,linux/arm64/v8,")
	if err != nil || strings.Join(ip.PlatformStrings(ps), ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("got %v %v", ps, err)
	}
	for _, bad := range []string{"", " , ", "linux/amd64,bogus"} {
		if _, err := ip.ParsePlatformList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParsePlatform: never panics, and a parsed platform re-parses to itself
// (normalisation is idempotent).
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm/v7", "linux/arm64/v8", "windows/amd64", "a/b/c/d", "/", "linux/arm/5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ip.ParsePlatform(s)
		if err != nil {
			return
		}
		q, err := ip.ParsePlatform(p.String())
		if err != nil || q != p {
			t.Fatalf("%q → %v → %v (%v): not idempotent", s, p, q, err)
		}
		if _, err := ip.ParsePlatformList(s + "," + s); err != nil {
			t.Fatalf("list of a valid platform refused: %v", err)
		}
	})
}

// FuzzParseReference: never panics; an accepted reference names a registry
// and a repository, and a refused one wraps ErrInvalidReference.
func FuzzParseReference(f *testing.F) {
	r, err := ip.NewRegistryResolver(ip.WithInsecureRegistries("127.0.0.1:5000"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"nginx", "nginx:1.27", "library/nginx@sha256:0123456789012345678901234567890123456789012345678901234567890123", "127.0.0.1:5000/a/b:c", "ghcr.io/x/y:1@sha256:0123456789012345678901234567890123456789012345678901234567890123", "::", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := r.ParseReference(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid image reference") {
				t.Fatalf("%q: error does not say what is wrong: %v", s, err)
			}
			return
		}
		if ref.Context().RegistryStr() == "" || ref.Context().RepositoryStr() == "" {
			t.Fatalf("%q parsed without registry or repository: %v", s, ref)
		}
	})
}

func TestDockerHubShortNames(t *testing.T) {
	r, err := ip.NewRegistryResolver()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"nginx":               "index.docker.io/library/nginx:latest",
		"nginx:1.27":          "index.docker.io/library/nginx:1.27",
		"bitnami/redis:7":     "index.docker.io/bitnami/redis:7",
		"ghcr.io/org/app:1.0": "ghcr.io/org/app:1.0",
	} {
		ref, err := r.ParseReference(in)
		if err != nil || ref.Name() != want {
			t.Errorf("%s → %v (%v), want %s", in, ref, err, want)
		}
	}
}

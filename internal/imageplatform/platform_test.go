package imageplatform_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// FuzzParsePlatformList fuzzes the archfit.dev/platforms annotation. A value
// is refused, or parses into a non-empty, sorted, duplicate-free list of
// normalised platforms, exactly those of its items, that re-parses to
// itself. And a pod carrying it is judged by it alone, without a registry
// lookup: every image gets the list, or the pod gets ErrInvalidOverride.
func FuzzParsePlatformList(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64,linux/amd64", "linux/arm64/v8, linux/aarch64,", "linux/arm,windows/amd64", "", " , ", "linux/amd64,bogus", "linux/arm/5,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ip.ParsePlatformList(s)
		checkOverride(t, s, ps, err)
		if err != nil {
			return
		}
		var want []string
		for _, item := range strings.Split(s, ",") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			p, err := ip.ParsePlatform(item)
			if err != nil {
				t.Fatalf("%q accepted with item %q refused: %v", s, item, err)
			}
			want = append(want, p.String())
		}
		slices.Sort(want)
		want = slices.Compact(want)
		got := ip.PlatformStrings(ps)
		if !slices.Equal(got, want) {
			t.Fatalf("%q → %q, want %q (sorted, distinct)", s, got, want)
		}
		again, err := ip.ParsePlatformList(strings.Join(got, ","))
		if err != nil || !slices.Equal(again, ps) {
			t.Fatalf("%q → %q → %v (%v): not a fixed point", s, got, again, err)
		}
	})
}

// checkOverride evaluates a pod annotated with s and checks that the
// annotation alone decided it.
func checkOverride(t *testing.T, s string, ps []ip.Platform, parseErr error) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{ip.PlatformsAnnotation: s}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1"}, {Name: "b", Image: "b:1"}}},
	}
	looked := false
	got := ip.EvaluatePod(context.Background(), pod, ip.PodPolicy{Unknown: ip.PolicyDeny}, func(_ context.Context, image string) ip.Result {
		looked = true
		return ip.Result{Image: image, Source: ip.SourceUnknown, Err: errors.New("no registry in this test")}
	})
	if looked {
		t.Fatalf("%q: the registry was asked despite the annotation", s)
	}
	if parseErr != nil {
		if !errors.Is(got.OverrideErr, ip.ErrInvalidOverride) || got.Unconstrained || len(got.Allowed) != 0 {
			t.Fatalf("%q is refused (%v) but the pod got %+v", s, parseErr, got)
		}
		return
	}
	var want []ip.OSArch
	for _, p := range ps {
		if !slices.Contains(want, p.OSArch()) {
			want = append(want, p.OSArch())
		}
	}
	slices.SortFunc(want, func(a, b ip.OSArch) int { return strings.Compare(a.String(), b.String()) })
	if got.OverrideErr != nil || got.Unconstrained || !slices.Equal(got.Allowed, want) {
		t.Fatalf("%q: pod allows %v (override error %v), want %v", s, got.Allowed, got.OverrideErr, want)
	}
	for _, v := range got.Images {
		if v.Result.Source != ip.SourceOverride || !slices.Equal(v.Result.Platforms, ps) {
			t.Fatalf("%q: image %s got %s %v, want the override %v", s, v.Result.Image, v.Result.Source, v.Result.Platforms, ps)
		}
	}
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

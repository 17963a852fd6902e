package imageplatform

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// staticResolver answers every request with the same Result.
type staticResolver struct{ res Result }

func (s staticResolver) Resolve(context.Context, Request) Result { return s.res }
func (s staticResolver) ResolveCached(Request) Result            { return s.res }

type denialMap map[string][]string

func (d denialMap) DeniedArchitectures(digest string) []string { return d[digest] }

func TestWithDenials(t *testing.T) {
	const denied, clean = "sha256:denied", "sha256:clean"
	d := denialMap{denied: {"arm64", "s390x"}}
	platforms := func() []Platform {
		return []Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}}
	}
	for _, tc := range []struct {
		name       string
		res        Result
		want       []string // the arches left
		wantDenied []string
	}{
		{"a denied digest", Result{Digest: denied, Platforms: platforms(), Source: SourceIndex}, []string{"amd64"}, []string{"arm64", "s390x"}},
		{"a digest without records", Result{Digest: clean, Platforms: platforms(), Source: SourceIndex}, []string{"amd64", "arm64", "s390x"}, nil},
		{"no digest (an override)", Result{Platforms: platforms(), Source: SourceOverride}, []string{"amd64", "arm64", "s390x"}, nil},
		{"a failed lookup", Result{Digest: denied, Platforms: platforms(), Source: SourceUnknown, Err: errors.New("401")}, []string{"amd64", "arm64", "s390x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.res.Platforms)
			r := WithDenials(staticResolver{tc.res}, d)
			for call, got := range map[string]Result{
				"Resolve":       r.Resolve(context.Background(), Request{Image: "app:1"}),
				"ResolveCached": r.ResolveCached(Request{Image: "app:1"}),
			} {
				var arches []string
				for _, p := range got.Platforms {
					arches = append(arches, p.Architecture)
				}
				if !slices.Equal(arches, tc.want) {
					t.Errorf("%s: platforms %v, want %v", call, arches, tc.want)
				}
				if !slices.Equal(got.Denied, tc.wantDenied) {
					t.Errorf("%s: Denied = %v, want %v", call, got.Denied, tc.wantDenied)
				}
				if got.Digest != tc.res.Digest || got.Source != tc.res.Source || !errors.Is(got.Err, tc.res.Err) {
					t.Errorf("%s: %+v, want the rest of the result untouched", call, got)
				}
			}
			// The resolver's cache shares its Platforms with every caller.
			if !slices.Equal(tc.res.Platforms, orig) {
				t.Errorf("the original Platforms were changed: %v, was %v", tc.res.Platforms, orig)
			}
		})
	}

	base := &staticResolver{Result{Digest: denied, Platforms: platforms()}}
	if r := WithDenials(base, nil); r != Resolver(base) {
		t.Error("WithDenials(r, nil) wraps; want r itself")
	}
	// A result without a denial is the next resolver's own, not a copy.
	res := Result{Digest: clean, Platforms: platforms()}
	r := WithDenials(staticResolver{res}, d)
	if n := testing.AllocsPerRun(100, func() { _ = r.ResolveCached(Request{Image: "app:1"}) }); n != 0 {
		t.Errorf("a result without a denial allocates %v times", n)
	}
	if got := r.ResolveCached(Request{}); &got.Platforms[0] != &res.Platforms[0] {
		t.Error("a result without a denial got a new Platforms slice")
	}
}

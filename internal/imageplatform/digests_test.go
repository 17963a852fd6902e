package imageplatform_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// Digests lists, from a real registry, the digests a runtime may report
// for an image: the index's, and each platform's manifest and config
// digests, as go-containerregistry's own client reads them.
func TestDigests(t *testing.T) {
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	r := newResolver(t, reg)
	ctx := context.Background()
	for _, docker := range []bool{false, true} {
		idx := ok(t)(reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, docker, true))
		want, err := reg.PlatformDigests("app/multi:1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Digests(ctx, imageplatform.Request{Image: reg.Host + "/app/multi:1"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != idx || len(got.Platforms) != 2 {
			t.Fatalf("docker=%v: Digests = %+v, want index %s and two platforms (attestations skipped)", docker, got, idx)
		}
		for _, p := range got.Platforms {
			w := want[p.Platform.Architecture]
			if p.Manifest != w[0] || p.Config != w[1] || p.Platform.OS != "linux" {
				t.Errorf("docker=%v %s: %+v, want manifest %s config %s", docker, p.Platform, p, w[0], w[1])
			}
		}
		if arm := got.ForArch("arm64"); !slices.Equal(arm, []string{idx, want["arm64"][0], want["arm64"][1]}) {
			t.Errorf("ForArch(arm64) = %v", arm)
		}
		for _, d := range []string{idx, want["amd64"][0], want["arm64"][1]} {
			if !got.Has(d) {
				t.Errorf("Has(%s) = false", d)
			}
		}
		if got.Has("sha256:"+strings.Repeat("0", 64)) || got.Has("") {
			t.Error("Has is true for a digest the image does not have")
		}
		// By digest, the same answer.
		byDigest, err := r.Digests(ctx, imageplatform.Request{Image: reg.Host + "/app/multi@" + idx})
		if err != nil || byDigest.Digest != idx || len(byDigest.Platforms) != 2 {
			t.Fatalf("by digest: %+v, %v", byDigest, err)
		}
	}

	// A single-arch image: its manifest is the digest, with its config's.
	one := ok(t)(reg.PushImage("app/one:1", "linux/arm64", false))
	got, err := r.Digests(ctx, imageplatform.Request{Image: reg.Host + "/app/one:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != one || len(got.Platforms) != 1 || got.Platforms[0].Manifest != one || got.Platforms[0].Platform.Architecture != "arm64" ||
		!strings.HasPrefix(got.Platforms[0].Config, "sha256:") || got.Platforms[0].Config == one {
		t.Fatalf("single manifest: %+v", got)
	}

	// A missing image and a malformed reference are errors, never an
	// empty answer taken for "no other digests".
	if _, err := r.Digests(ctx, imageplatform.Request{Image: reg.Host + "/app/none:1"}); err == nil {
		t.Error("no error for an image the registry does not have")
	}
	if _, err := r.Digests(ctx, imageplatform.Request{Image: "UPPER/case:1"}); err == nil {
		t.Error("no error for a malformed reference")
	}
}

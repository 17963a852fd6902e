package imageplatform

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageDigests are the digests one image can be known by. A container
// runtime reports one of them as a container's imageID, and which one
// depends on the runtime: containerd reports the digest the tag resolved
// to (an index's, for a multi-arch tag), others the platform manifest's or
// the config's. A rollback record must match whichever was reported.
type ImageDigests struct {
	// Digest is what the reference resolves to: an index's digest, or a
	// single manifest's. It is the digest Result.Digest carries, and so
	// the one every resolver looks records up by.
	Digest string `json:"digest"`
	// Platforms holds, for each platform of an index (or the one of a
	// single manifest), its manifest's digest and its config's digest.
	Platforms []PlatformDigests `json:"platforms,omitempty"`
}

// PlatformDigests are one platform's manifest and config digests.
type PlatformDigests struct {
	Platform Platform `json:"platform"`
	Manifest string   `json:"manifest"`
	Config   string   `json:"config"`
}

// DigestLister learns every digest an image can be known by. It is for
// callers off the scheduling and admission paths (migration's rollback
// records): it asks the registry each time, one request per platform more
// than a lookup of the platforms does.
type DigestLister interface {
	Digests(ctx context.Context, req Request) (ImageDigests, error)
}

var _ DigestLister = (*RegistryResolver)(nil)

// maxDigestPlatforms bounds the manifests one Digests call fetches: an
// index with more entries than any real image has is a lying or broken
// registry, and each entry costs a request.
const maxDigestPlatforms = 32

// Has reports whether digest is one of the image's digests.
func (d ImageDigests) Has(digest string) bool {
	if digest == "" {
		return false
	}
	if d.Digest == digest {
		return true
	}
	for _, p := range d.Platforms {
		if p.Manifest == digest || p.Config == digest {
			return true
		}
	}
	return false
}

// ForArch is every digest that names the image on arch: Digest, then the
// manifest and config digests of arch's platforms. A record that an arch
// is broken holds these, so that it matches whatever the runtime reported.
func (d ImageDigests) ForArch(arch string) []string {
	out := []string{d.Digest}
	add := func(s string) {
		if s == "" {
			return
		}
		for _, have := range out {
			if have == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, p := range d.Platforms {
		if p.Platform.Architecture == arch {
			add(p.Manifest)
			add(p.Config)
		}
	}
	return out
}

// Digests implements DigestLister, through the same transport, breaker,
// credentials and mirrors as Resolve.
func (r *RegistryResolver) Digests(ctx context.Context, req Request) (ImageDigests, error) {
	ref, err := r.ParseReference(req.Image)
	if err != nil {
		return ImageDigests{}, err
	}
	p, err := r.puller(req.Credentials, ref.Context().Name())
	if err != nil {
		return ImageDigests{}, err
	}
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return ImageDigests{}, fmt.Errorf("GET %s: %w", ref, err)
	}
	out := ImageDigests{Digest: desc.Digest.String()}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != out.Digest {
		return ImageDigests{}, fmt.Errorf("%s: the registry returned digest %s", ref, out.Digest)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return ImageDigests{}, fmt.Errorf("%s: parse index: %w", ref, err)
		}
		for _, m := range idx.Manifests {
			if m.Platform == nil || m.Annotations["vnd.docker.reference.type"] != "" || !m.MediaType.IsImage() {
				continue // nested index or attestation manifest
			}
			if len(out.Platforms) == maxDigestPlatforms {
				return ImageDigests{}, fmt.Errorf("%s: index lists over %d platforms", ref, maxDigestPlatforms)
			}
			pd := PlatformDigests{Manifest: m.Digest.String(),
				Platform: Normalize(Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant})}
			md, err := p.Get(ctx, ref.Context().Digest(pd.Manifest))
			if err != nil {
				return ImageDigests{}, fmt.Errorf("GET %s@%s: %w", ref.Context(), pd.Manifest, err)
			}
			if pd.Config, err = configDigest(md.Manifest); err != nil {
				return ImageDigests{}, fmt.Errorf("%s@%s: %w", ref.Context(), pd.Manifest, err)
			}
			out.Platforms = append(out.Platforms, pd)
		}
	case desc.MediaType.IsImage():
		cfg, err := configDigest(desc.Manifest)
		if err != nil {
			return ImageDigests{}, fmt.Errorf("%s: %w", ref, err)
		}
		pd := PlatformDigests{Manifest: out.Digest, Config: cfg}
		if img, err := desc.Image(); err == nil {
			if cf, err := img.ConfigFile(); err == nil {
				pd.Platform = Normalize(Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
			}
		}
		out.Platforms = append(out.Platforms, pd)
	default:
		return ImageDigests{}, fmt.Errorf("%s: unsupported manifest media type %q", ref, desc.MediaType)
	}
	return out, nil
}

func configDigest(manifest []byte) (string, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return "", fmt.Errorf("parse manifest: %w", err)
	}
	if m.Config.Digest.Hex == "" {
		return "", fmt.Errorf("manifest has no config digest")
	}
	return m.Config.Digest.String(), nil
}

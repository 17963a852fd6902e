package imageplatform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
)

// PlatformsAnnotation on a pod replaces the registry lookup for all of the
// pod's images, for private registries the scheduler holds no credentials
// for. Example: "linux/amd64,linux/arm64".
const PlatformsAnnotation = "archfit.dev/platforms"

// Source says where a Result's platforms came from.
type Source string

const (
	SourceIndex    Source = "index"    // a multi-arch OCI index or Docker manifest list
	SourceManifest Source = "manifest" // a single-arch manifest's config blob
	SourceOverride Source = "override" // the archfit.dev/platforms annotation
	SourceUnknown  Source = "unknown"  // not learned; Err says why
)

// Credentials are the registry credentials available for one pod. ID names
// their identity (a hash of the secrets' content) and is part of every cache
// key, so one tenant's credentials never answer another tenant's lookup.
// The zero value is anonymous access.
type Credentials struct {
	ID       string
	Keychain authn.Keychain
}

// Request is one image as written in a pod spec, with the pod's credentials.
type Request struct {
	Image       string
	Credentials Credentials
}

// Result is what a lookup learned. Platforms is shared with the cache and
// must be treated as read-only.
type Result struct {
	Image     string     `json:"image"`
	Digest    string     `json:"digest,omitempty"`
	Platforms []Platform `json:"platforms,omitempty"`
	Source    Source     `json:"source"`
	// Denied lists the architectures a rollback record removed from
	// Platforms (WithDenials).
	Denied []string `json:"denied,omitempty"`
	Err    error    `json:"-"`
	// Cached is true when no registry request was needed to answer.
	Cached bool `json:"-"`
}

// Resolver learns the platforms of an image. Implementations are safe for
// concurrent use. When ctx ends before the answer is known, Resolve returns
// ErrPending and the lookup continues in the background.
type Resolver interface {
	Resolve(ctx context.Context, req Request) Result
	// ResolveCached answers from what is already known and never waits: a
	// miss starts the lookup in the background (once, however many ask)
	// and returns ErrPending. For callers that must not block on a
	// registry: queueing hints, SignPod.
	ResolveCached(req Request) Result
}

type refKey struct{ cred, image string }

type refEntry struct {
	res       Result
	refreshAt time.Time // zero: never (digest references)
	expires   time.Time // only for failures
}

type digestKey struct{ cred, repo, digest string }

// pullerKey is one puller per credential and repository. A go-containerregistry
// Puller keeps a reader (and its token) for every repository it has touched
// and never lets go of one, so a puller shared across repositories grows
// with every repository a cluster ever ran; one per repository, in a bounded
// cache, holds that state to MaxPullers repositories.
type pullerKey struct{ cred, repo string }

// MaxPullers bounds the repositories whose registry token and connection
// state are kept; evicting one costs a /v2/ ping and a token on its next
// lookup, which a new repository costs anyway.
const MaxPullers = 1024

type digestEntry struct {
	platforms []Platform
	source    Source
}

// RegistryResolver resolves images against their registries, with the
// caching and protections described on each Option.
type RegistryResolver struct {
	o       *options
	guard   *guard
	refs    *typedLRU[refKey, refEntry]
	digests *typedLRU[digestKey, digestEntry]
	pullers *typedLRU[pullerKey, *remote.Puller]
	sf      singleflight.Group
	// done is a context that has ended, so that a lookup answers at once.
	done context.Context
}

var _ Resolver = (*RegistryResolver)(nil)

// NewRegistryResolver builds a resolver. An invalid option is an error that
// names the option.
func NewRegistryResolver(opts ...Option) (*RegistryResolver, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &RegistryResolver{
		o:       o,
		guard:   newGuard(o),
		refs:    newLRU[refKey, refEntry](o.cacheSize),
		digests: newLRU[digestKey, digestEntry](o.cacheSize),
		pullers: newLRU[pullerKey, *remote.Puller](MaxPullers),
		done:    doneContext(),
	}, nil
}

// CacheEntries counts what each of the resolver's caches holds. Each is
// bounded: References and Digests by WithCacheSize, Pullers (one per
// credential and repository) by a fixed size.
type CacheEntries struct{ References, Digests, Pullers int }

// CacheEntries reports the caches' sizes, for soak tests and debugging.
func (r *RegistryResolver) CacheEntries() CacheEntries {
	return CacheEntries{References: r.refs.Len(), Digests: r.digests.Len(), Pullers: r.pullers.Len()}
}

// Resolve implements Resolver. The cache-hit path takes one short lock and
// does not allocate.
func (r *RegistryResolver) Resolve(ctx context.Context, req Request) Result {
	key := refKey{cred: req.Credentials.ID, image: req.Image}
	if e, ok := r.refs.Get(key); ok {
		now := r.o.now()
		switch {
		case e.res.Err == nil && (e.refreshAt.IsZero() || now.Before(e.refreshAt)):
			e.res.Cached = true
			return e.res
		case e.res.Err == nil:
			// Stale tag: answer now, refresh behind. Pushing refreshAt out
			// first keeps concurrent hits from each starting a refresh.
			e.refreshAt = now.Add(r.o.negativeTTL)
			r.refs.Add(key, e)
			go r.lookup(context.Background(), key, req, true)
			e.res.Cached = true
			return e.res
		case now.Before(e.expires):
			e.res.Cached = true
			return e.res
		}
	}
	return r.lookup(ctx, key, req, false)
}

// ResolveCached implements Resolver.
func (r *RegistryResolver) ResolveCached(req Request) Result { return r.Resolve(r.done, req) }

func doneContext() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("answered from cache only"))
	return ctx
}

// lookup runs one collapsed registry lookup. The work is detached from ctx
// so that a caller whose budget ends does not waste the requests already
// made: the answer lands in the cache for the next caller.
func (r *RegistryResolver) lookup(ctx context.Context, key refKey, req Request, refresh bool) Result {
	ch := r.sf.DoChan(key.cred+"\x00"+key.image, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.Background(), r.o.requestTimeout)
		defer cancel()
		res := r.fetch(wctx, req)
		r.store(key, res, refresh)
		return res, nil
	})
	select {
	case v := <-ch:
		res := v.Val.(Result)
		res.Image = req.Image
		return res
	case <-ctx.Done():
		return Result{Image: req.Image, Source: SourceUnknown, Err: fmt.Errorf("%w: %v", ErrPending, context.Cause(ctx))}
	}
}

func (r *RegistryResolver) store(key refKey, res Result, refresh bool) {
	now := r.o.now()
	if res.Err != nil {
		if refresh {
			// A failed refresh keeps the last good answer; a digest cannot
			// change platforms, and a moved tag is rarer than a flaky
			// registry. Try again after the negative TTL.
			if e, ok := r.refs.Get(key); ok && e.res.Err == nil {
				e.refreshAt = now.Add(r.o.negativeTTL)
				r.refs.Add(key, e)
				return
			}
		}
		r.refs.Add(key, refEntry{res: res, expires: now.Add(r.o.negativeTTL)})
		return
	}
	e := refEntry{res: res}
	if !strings.Contains(key.image, "@") {
		e.refreshAt = now.Add(r.o.tagTTL)
	}
	r.refs.Add(key, e)
}

// ParseReference parses an image reference as written in a pod spec,
// applying Docker Hub defaults (nginx → index.docker.io/library/nginx:latest)
// and the plain-HTTP allow-list.
func (r *RegistryResolver) ParseReference(image string) (name.Reference, error) {
	return parseReference(image, r.guard.insecure, r.o.hubMirror)
}

func parseReference(image string, insecure map[string]bool, hubMirror string) (name.Reference, error) {
	if strings.TrimSpace(image) != image || image == "" {
		return nil, fmt.Errorf("%w %q: empty or surrounded by spaces", ErrInvalidReference, image)
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, image, err)
	}
	if hubMirror != "" && ref.Context().RegistryStr() == name.DefaultRegistry {
		mirrored := hubMirror + "/" + ref.Context().RepositoryStr()
		if d, ok := ref.(name.Digest); ok {
			mirrored += "@" + d.DigestStr()
		} else {
			mirrored += ":" + ref.Identifier()
		}
		image = mirrored
		if ref, err = name.ParseReference(image); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, image, err)
		}
	}
	if insecure[ref.Context().RegistryStr()] {
		if ref, err = name.ParseReference(image, name.Insecure); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, image, err)
		}
	}
	return ref, nil
}

func (r *RegistryResolver) puller(c Credentials, repo string) (*remote.Puller, error) {
	key := pullerKey{cred: c.ID, repo: repo}
	if p, ok := r.pullers.Get(key); ok {
		return p, nil
	}
	var chain []authn.Keychain
	if c.Keychain != nil {
		chain = append(chain, c.Keychain)
	}
	if r.o.defaultKeychain != nil {
		chain = append(chain, r.o.defaultKeychain)
	}
	opts := []remote.Option{
		remote.WithTransport(r.guard),
		// One attempt: retries belong to the cache and the breaker, not to
		// a request that a scheduling cycle may be waiting on.
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}),
		remote.WithUserAgent(r.o.userAgent),
	}
	if len(chain) > 0 {
		opts = append(opts, remote.WithAuthFromKeychain(authn.NewMultiKeychain(chain...)))
	}
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	r.pullers.Add(key, p)
	return p, nil
}

func (r *RegistryResolver) fetch(ctx context.Context, req Request) Result {
	fail := func(digest string, err error) Result {
		return Result{Image: req.Image, Digest: digest, Source: SourceUnknown, Err: err}
	}
	ref, err := r.ParseReference(req.Image)
	if err != nil {
		return fail("", err)
	}
	p, err := r.puller(req.Credentials, ref.Context().Name())
	if err != nil {
		return fail("", err)
	}
	var digest string
	if d, ok := ref.(name.Digest); ok {
		digest = d.DigestStr()
	} else {
		// HEAD: Docker Hub does not count it as a pull.
		desc, err := p.Head(ctx, ref)
		if err != nil {
			return fail("", fmt.Errorf("HEAD %s: %w", ref, err))
		}
		digest = desc.Digest.String()
	}
	repo := ref.Context().Name()
	dk := digestKey{cred: req.Credentials.ID, repo: repo, digest: digest}
	if e, ok := r.digests.Get(dk); ok {
		return Result{Image: req.Image, Digest: digest, Platforms: e.platforms, Source: e.source}
	}
	dref := ref.Context().Digest(digest)
	desc, err := p.Get(ctx, dref)
	if err != nil {
		return fail(digest, fmt.Errorf("GET %s: %w", dref, err))
	}
	platforms, source, err := platformsOf(desc)
	if err != nil {
		return fail(digest, fmt.Errorf("%s: %w", dref, err))
	}
	r.digests.Add(dk, digestEntry{platforms: platforms, source: source})
	return Result{Image: req.Image, Digest: digest, Platforms: platforms, Source: source}
}

// platformsOf reads the platform truth from a fetched manifest.
func platformsOf(desc *remote.Descriptor) ([]Platform, Source, error) {
	switch {
	case desc.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, SourceUnknown, fmt.Errorf("parse index: %w", err)
		}
		var out []Platform
		for _, m := range idx.Manifests {
			if m.Platform == nil || m.Annotations["vnd.docker.reference.type"] != "" {
				continue // nested index or attestation manifest
			}
			p := Normalize(Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant})
			if p.OS == "" || p.Architecture == "" || p.OS == "unknown" || p.Architecture == "unknown" {
				continue
			}
			out = append(out, p)
		}
		if len(out) == 0 {
			return nil, SourceUnknown, ErrNoPlatforms
		}
		return SortPlatforms(out), SourceIndex, nil
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, SourceUnknown, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, SourceUnknown, fmt.Errorf("config blob: %w", err)
		}
		p := Normalize(Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
		if p.OS == "" || p.Architecture == "" {
			return nil, SourceUnknown, ErrNoPlatforms
		}
		return []Platform{p}, SourceManifest, nil
	}
	return nil, SourceUnknown, fmt.Errorf("unsupported manifest media type %q", desc.MediaType)
}

// ValidateHostPort checks a registry host as given in configuration.
func ValidateHostPort(h string) error {
	if h == "" || strings.ContainsAny(h, "/ ") {
		return fmt.Errorf("%q: want host or host:port, without scheme or path", h)
	}
	if _, err := name.NewRegistry(h, name.StrictValidation); err != nil {
		return fmt.Errorf("%q: %v", h, err)
	}
	return nil
}

// IsPending reports whether a result is still being looked up.
func (r Result) IsPending() bool { return errors.Is(r.Err, ErrPending) }

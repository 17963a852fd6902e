package imageplatform

import "context"

// Denials says which architectures an image digest was found not to run
// on, although its registry claims them: an index that lists arm64 but
// ships an amd64 binary, or an app that crash-loops on arm64 only.
// Migration's rollback records implement it.
type Denials interface {
	// DeniedArchitectures returns the architectures digest must not run
	// on; nil when there are none. It must not block.
	DeniedArchitectures(digest string) []string
}

// WithDenials wraps a Resolver so that a Result whose digest has a denial
// lacks the denied architectures, as if its registry had never listed
// them. Every component that resolves through it (the scheduler's Filter,
// placement's constraint, the expander's group choice) then keeps the
// image off those architectures. Results without a denial pass through
// untouched and without allocating.
func WithDenials(r Resolver, d Denials) Resolver {
	if d == nil {
		return r
	}
	return &denied{next: r, d: d}
}

type denied struct {
	next Resolver
	d    Denials
}

func (x *denied) Resolve(ctx context.Context, req Request) Result {
	return x.apply(x.next.Resolve(ctx, req))
}

func (x *denied) ResolveCached(req Request) Result {
	return x.apply(x.next.ResolveCached(req))
}

func (x *denied) apply(res Result) Result {
	if res.Digest == "" || res.Err != nil || len(res.Platforms) == 0 {
		return res
	}
	arches := x.d.DeniedArchitectures(res.Digest)
	if len(arches) == 0 {
		return res
	}
	// Platforms is shared with the cache: build a new slice.
	kept := make([]Platform, 0, len(res.Platforms))
	for _, p := range res.Platforms {
		deny := false
		for _, a := range arches {
			if p.Architecture == a {
				deny = true
				break
			}
		}
		if !deny {
			kept = append(kept, p)
		}
	}
	res.Platforms = kept
	res.Denied = arches
	return res
}

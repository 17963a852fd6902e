package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/archfit/archfit/test/harness/registrytest"
)

// Repositories are named by how the registry treats them, so that a fault
// can be set on a path substring. The shares are per mille of repositories
// and are small on purpose: the resolver allows 8 requests at a time per
// registry, and a stalled request holds one of them until its timeout, so a
// larger stalled share would measure that queue and nothing else.
const (
	kindOK   = "ok"
	kindFail = "e503" // every manifest request answers 503
	kindSlow = "slow" // manifest requests are held, within the timeouts
	kindHang = "hang" // manifest requests are held until the client gives up

	failPerMille = 30
	slowPerMille = 5
	hangPerMille = 1

	slowDelay = 200 * time.Millisecond
	hangDelay = time.Minute
)

func repoKind(j int) string {
	switch m := j % 1000; {
	case m < failPerMille:
		return kindFail
	case m < failPerMille+slowPerMille:
		return kindSlow
	case m < failPerMille+slowPerMille+hangPerMille:
		return kindHang
	}
	return kindOK
}

// pool is the image references of the soak, all distinct, in a loopback
// registry.
type pool struct {
	reg   *registrytest.Registry
	refs  []string
	repos int
	// hot are images the expander's requests also use that always resolve,
	// one of them through the Docker Hub mirror.
	hot []string
}

// artifact is a manifest as pushed: child manifests first for an index.
type artifact struct {
	mediaType types.MediaType
	raw       []byte
	children  []artifact
	digest    string
}

func rawArtifact(m interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
}) (artifact, error) {
	raw, err := m.RawManifest()
	if err != nil {
		return artifact{}, err
	}
	mt, err := m.MediaType()
	if err != nil {
		return artifact{}, err
	}
	d, err := m.Digest()
	if err != nil {
		return artifact{}, err
	}
	return artifact{mediaType: mt, raw: raw, digest: d.String()}, nil
}

// baseArtifacts pushes the four kinds of image (OCI index, Docker manifest
// list, single-arch amd64 and arm64) once, which uploads their blobs; the
// registry keeps blobs across repositories, so every other repository only
// needs the manifests.
func baseArtifacts(reg *registrytest.Registry) ([]artifact, error) {
	ref := func(tag string) (name.Reference, error) {
		return name.ParseReference(reg.Host+"/soak/base:"+tag, name.Insecure)
	}
	var out []artifact
	for i, docker := range []bool{false, true} {
		idx, err := registrytest.Index([]string{"linux/amd64", "linux/arm64"}, docker, false)
		if err != nil {
			return nil, err
		}
		r, err := ref(fmt.Sprintf("index%d", i))
		if err != nil {
			return nil, err
		}
		if err := remote.WriteIndex(r, idx); err != nil {
			return nil, err
		}
		a, err := rawArtifact(idx)
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range im.Manifests {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			c, err := rawArtifact(img)
			if err != nil {
				return nil, err
			}
			a.children = append(a.children, c)
		}
		out = append(out, a)
	}
	for i, p := range []string{"linux/amd64", "linux/arm64"} {
		img, err := registrytest.Image(p, int64(i))
		if err != nil {
			return nil, err
		}
		r, err := ref(fmt.Sprintf("single%d", i))
		if err != nil {
			return nil, err
		}
		if err := remote.Write(r, img); err != nil {
			return nil, err
		}
		a, err := rawArtifact(img)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// newPool starts a registry holding n distinct references, tagsPerRepo
// tags sharing one digest in each repository: tags churn more than digests
// do, and both caches then churn (the digest cache by repository).
// Reference i is in repository i mod repos, so a sweep whose stride is
// coprime with n reaches every repository in its first repos steps.
// Manifests are PUT directly (one request each), which is what makes
// 100,000 references quick to set up.
func newPool(ctx context.Context, n, tagsPerRepo int) (*pool, error) {
	reg := registrytest.New()
	p := &pool{reg: reg, repos: (n + tagsPerRepo - 1) / tagsPerRepo}
	base, err := baseArtifacts(reg)
	if err != nil {
		reg.Close()
		return nil, fmt.Errorf("base images: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	put := func(repo, target string, a artifact) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+reg.Host+"/v2/"+repo+"/manifests/"+target, bytes.NewReader(a.raw))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", string(a.mediaType))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("PUT %s:%s: %s", repo, target, resp.Status)
		}
		return nil
	}
	repos := p.repos
	repoName := func(j int) string { return fmt.Sprintf("soak/%s/app-%05d", repoKind(j), j) }
	p.refs = make([]string, n)
	for i := range p.refs {
		j := i % repos
		p.refs[i] = fmt.Sprintf("%s/%s:t%d", reg.Host, repoName(j), i/repos)
	}

	work := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				a := base[j%len(base)]
				for _, c := range a.children {
					if err := put(repoName(j), c.digest, c); err != nil {
						errs <- err
						return
					}
				}
				for t := 0; j+t*repos < n; t++ {
					if err := put(repoName(j), fmt.Sprintf("t%d", t), a); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	var failed error
feed:
	for j := 0; j < repos; j++ {
		select {
		case work <- j:
		case failed = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		reg.Close()
		return nil, fmt.Errorf("pushing %d references: %w", n, failed)
	}

	for i, a := range base {
		repo := fmt.Sprintf("soak/hot/app-%d", i)
		for _, c := range a.children {
			if err := put(repo, c.digest, c); err != nil {
				reg.Close()
				return nil, err
			}
		}
		if err := put(repo, "1", a); err != nil {
			reg.Close()
			return nil, err
		}
		p.hot = append(p.hot, reg.Host+"/"+repo+":1")
	}
	nginx := base[0]
	for _, c := range nginx.children {
		if err := put("library/nginx", c.digest, c); err != nil {
			reg.Close()
			return nil, err
		}
	}
	if err := put("library/nginx", "1.27", nginx); err != nil {
		reg.Close()
		return nil, err
	}
	p.hot = append(p.hot, "nginx:1.27")
	return p, nil
}

// setFaults applies the per-repository faults. Only reads are faulted, so a
// fault never gets in the way of setting up.
func (p *pool) setFaults() {
	reads := []string{http.MethodGet, http.MethodHead}
	p.reg.SetFault("/soak/"+kindFail+"/", registrytest.Fault{Status: http.StatusServiceUnavailable, Methods: reads})
	p.reg.SetFault("/soak/"+kindSlow+"/", registrytest.Fault{Delay: slowDelay, Methods: reads})
	p.reg.SetFault("/soak/"+kindHang+"/", registrytest.Fault{Delay: hangDelay, Methods: reads})
}

// rateLimitBursts makes the registry answer 429 (Retry-After: 1) to
// manifest reads of one repository in ten for window, every period, until
// ctx ends: a registry that rate-limits some of the time. One in ten rather
// than all, because each 429 a request in flight receives also counts as a
// failure towards the resolver's circuit breaker, and with every read
// refused the eight requests in flight open it for its whole cooldown,
// which would leave the rest of the load measuring an open breaker.
func (p *pool) rateLimitBursts(ctx context.Context, period, window time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.reg.SetFault("0/manifests/", registrytest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Methods: []string{http.MethodGet, http.MethodHead}})
		select {
		case <-ctx.Done():
		case <-time.After(window):
		}
		// registrytest can only clear every fault; the per-repository
		// ones go straight back.
		p.reg.ClearFaults()
		p.setFaults()
	}
}

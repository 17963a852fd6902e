// Package registrytest runs a real OCI registry in process, with request
// counting and fault injection, and pushes images of chosen platforms into
// it. Tests, the demo and benchmarks use it; it is never a mock: clients
// speak the distribution HTTP API to go-containerregistry's registry.
package registrytest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/archfit/archfit/internal/resolverflags"
	apiconfig "github.com/archfit/archfit/plugins/apis/config"
)

// Fault is what the fault injector does to matching requests.
type Fault struct {
	// Status, when non-zero, answers with this code (and RetryAfter on 429).
	Status     int
	RetryAfter string
	// Delay holds the request this long (or until the client gives up).
	Delay time.Duration
	// Truncate sends a Content-Length larger than the body, then closes.
	Truncate bool
	// Oversize sends a body of this many bytes.
	Oversize int64
	// Body replaces the response body (a lying registry), keeping headers.
	Body []byte
	// Methods restricts the fault to these methods (empty: all).
	Methods []string
}

// Registry is a running registry on loopback.
type Registry struct {
	Server *httptest.Server
	// Host is host:port, what image references start with.
	Host string

	mu       sync.Mutex
	user     string // when set, every request needs these basic credentials
	password string
	faults   map[string]Fault // path substring → fault
	counts   map[string]int   // method → count
	paths    map[string]int   // exact path → count
	total    atomic.Int64

	inflight, maxInflight atomic.Int64
}

// Option configures New.
type Option func(*config)

type config struct{ tls bool }

// WithTLS serves HTTPS with a self-signed certificate; use Pool to trust it.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// New starts a registry. Close it with Close.
func New(opts ...Option) *Registry {
	var c config
	for _, o := range opts {
		o(&c)
	}
	r := &Registry{faults: map[string]Fault{}, counts: map[string]int{}, paths: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.total.Add(1)
		r.mu.Lock()
		r.counts[req.Method]++
		r.paths[req.URL.Path]++
		var fault *Fault
		for sub, f := range r.faults {
			if strings.Contains(req.URL.Path, sub) && (len(f.Methods) == 0 || contains(f.Methods, req.Method)) {
				f := f
				fault = &f
				break
			}
		}
		user, password := r.user, r.password
		r.mu.Unlock()
		if user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		if fault == nil {
			h.ServeHTTP(w, req)
			return
		}
		r.serveFault(w, req, h, *fault)
	})
	if c.tls {
		r.Server = httptest.NewTLSServer(wrapped)
	} else {
		r.Server = httptest.NewServer(wrapped)
	}
	r.Host = strings.TrimPrefix(strings.TrimPrefix(r.Server.URL, "http://"), "https://")
	return r
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (r *Registry) serveFault(w http.ResponseWriter, req *http.Request, h http.Handler, f Fault) {
	if f.Delay > 0 {
		// Concurrency is measured while requests are held, where an overlap
		// cannot be an artefact of handler teardown.
		cur := r.inflight.Add(1)
		for {
			m := r.maxInflight.Load()
			if cur <= m || r.maxInflight.CompareAndSwap(m, cur) {
				break
			}
		}
		select {
		case <-time.After(f.Delay):
			r.inflight.Add(-1)
		case <-req.Context().Done():
			r.inflight.Add(-1)
			return
		}
	}
	switch {
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"errors":[{"code":"%s","message":"injected %d"}]}`, codeFor(f.Status), f.Status)
	case f.Truncate:
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", fmt.Sprint(len(body)+100))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	case f.Oversize > 0:
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		chunk := make([]byte, 32<<10)
		for sent := int64(0); sent < f.Oversize; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case f.Body != nil:
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(f.Body)))
		w.WriteHeader(rec.Code)
		if req.Method != http.MethodHead {
			w.Write(f.Body)
		}
	default:
		h.ServeHTTP(w, req)
	}
}

func codeFor(status int) string {
	switch status {
	case 401:
		return "UNAUTHORIZED"
	case 403:
		return "DENIED"
	case 404:
		return "MANIFEST_UNKNOWN"
	case 429:
		return "TOOMANYREQUESTS"
	}
	return "UNKNOWN"
}

// ResolverFlags are resolver settings that reach this registry: plain HTTP
// on loopback, Docker Hub images looked up in it too, the rest defaults.
func (r *Registry) ResolverFlags(requestTimeout time.Duration) resolverflags.Flags {
	return resolverflags.Defaults().With(func(c *apiconfig.ResolverConfig) {
		c.InsecureRegistries = []string{r.Host}
		c.DockerHubMirror = r.Host
		c.RequestTimeout.Duration = requestTimeout
	})
}

// Close stops the server.
func (r *Registry) Close() { r.Server.Close() }

// SetFault applies f to requests whose path contains pathSub ("" = all).
func (r *Registry) SetFault(pathSub string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[pathSub] = f
}

// RequireBasicAuth makes every later request need these credentials.
func (r *Registry) RequireBasicAuth(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user, r.password = user, password
}

// ClearFaults removes every fault.
func (r *Registry) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = map[string]Fault{}
}

// Requests returns the number of requests served so far.
func (r *Registry) Requests() int64 { return r.total.Load() }

// Count returns how many requests of a method were served.
func (r *Registry) Count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[method]
}

// PathCount returns how many requests had exactly this path.
func (r *Registry) PathCount(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paths[path]
}

// ResetCounts zeroes the counters.
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = map[string]int{}
	r.paths = map[string]int{}
	r.total.Store(0)
	r.maxInflight.Store(0)
}

// MaxInFlight is the most delayed requests held at once since the last reset.
func (r *Registry) MaxInFlight() int64 { return r.maxInflight.Load() }

// Pool returns a cert pool trusting a TLS registry.
func (r *Registry) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(r.Server.Certificate())
	return pool
}

func (r *Registry) remoteOpts() []remote.Option {
	if r.Server.TLS != nil {
		return []remote.Option{remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.Pool()}})}
	}
	return nil
}

func (r *Registry) ref(repoTag string) (name.Reference, error) {
	var opts []name.Option
	if r.Server.TLS == nil {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(r.Host+"/"+repoTag, opts...)
}

// Image builds a small image whose config records the platform. seed makes
// distinct images distinct.
func Image(platform string, seed int64) (v1.Image, error) {
	img, err := random.Image(64, 1)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(platform, "/")
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = parts[0], parts[1]
	if len(parts) > 2 {
		cfg.Variant = parts[2]
	}
	cfg.Config.Labels = map[string]string{"seed": fmt.Sprint(seed)}
	return mutate.ConfigFile(img, cfg)
}

// Index builds a multi-arch index. docker selects a Docker manifest list
// instead of an OCI index; attest adds unknown/unknown attestation entries
// as BuildKit does.
func Index(platforms []string, docker, attest bool) (v1.ImageIndex, error) {
	var idx v1.ImageIndex = empty.Index
	idxType, imgType := types.OCIImageIndex, types.OCIManifestSchema1
	if docker {
		idxType, imgType = types.DockerManifestList, types.DockerManifestSchema2
	}
	idx = mutate.IndexMediaType(idx, idxType)
	for i, p := range platforms {
		img, err := Image(p, int64(i))
		if err != nil {
			return nil, err
		}
		img = mutate.MediaType(img, imgType)
		parts := strings.Split(p, "/")
		plat := &v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			plat.Variant = parts[2]
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
		if attest {
			att, err := Image("unknown/unknown", int64(1000+i))
			if err != nil {
				return nil, err
			}
			d, err := img.Digest()
			if err != nil {
				return nil, err
			}
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: mutate.MediaType(att, imgType), Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{
					"vnd.docker.reference.type":   "attestation-manifest",
					"vnd.docker.reference.digest": d.String(),
				},
			}})
		}
	}
	return idx, nil
}

// PushIndex pushes a multi-arch index under repo:tag and returns its digest.
func (r *Registry) PushIndex(repoTag string, platforms []string, docker, attest bool) (string, error) {
	idx, err := Index(platforms, docker, attest)
	if err != nil {
		return "", err
	}
	ref, err := r.ref(repoTag)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(ref, idx, r.remoteOpts()...); err != nil {
		return "", err
	}
	d, err := idx.Digest()
	return d.String(), err
}

// Tag points newTag at the manifest repoTag points at, in the same
// repository, so both tags share one digest.
func (r *Registry) Tag(repoTag, newTag string) error {
	ref, err := r.ref(repoTag)
	if err != nil {
		return err
	}
	desc, err := remote.Get(ref, r.remoteOpts()...)
	if err != nil {
		return err
	}
	return remote.Tag(ref.Context().Tag(newTag), desc, r.remoteOpts()...)
}

// PushImage pushes a single-arch image under repo:tag and returns its digest.
func (r *Registry) PushImage(repoTag, platform string, docker bool) (string, error) {
	img, err := Image(platform, 0)
	if err != nil {
		return "", err
	}
	if docker {
		img = mutate.MediaType(img, types.DockerManifestSchema2)
	}
	ref, err := r.ref(repoTag)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, r.remoteOpts()...); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// PlatformDigests are what the registry holds under repo:tag for each
// platform's arch: its manifest's digest and its config's digest, read
// with go-containerregistry's own client, not archfit's resolver. An
// image a runtime pulled by that tag may report either as imageID.
func (r *Registry) PlatformDigests(repoTag string) (map[string][2]string, error) {
	ref, err := r.ref(repoTag)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(ref, r.remoteOpts()...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := map[string][2]string{}
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.Architecture == "unknown" {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, err
		}
		cfg, err := img.ConfigName()
		if err != nil {
			return nil, err
		}
		out[m.Platform.Architecture] = [2]string{m.Digest.String(), cfg.String()}
	}
	return out, nil
}

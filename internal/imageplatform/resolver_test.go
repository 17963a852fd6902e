package imageplatform_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/registrytest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newResolver(t *testing.T, reg *registrytest.Registry, opts ...imageplatform.Option) *imageplatform.RegistryResolver {
	t.Helper()
	base := []imageplatform.Option{imageplatform.WithInsecureRegistries(reg.Host), imageplatform.WithRequestTimeout(5 * time.Second)}
	r, err := imageplatform.NewRegistryResolver(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ok fails the test on a push error and returns the pushed digest.
func ok(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func resolve(r imageplatform.Resolver, image string) imageplatform.Result {
	return r.Resolve(context.Background(), imageplatform.Request{Image: image})
}

func TestResolvePlatformTruth(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ociDigest := ok(t)(reg.PushIndex("multi/oci:1", []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6"}, false, true))
	ok(t)(reg.PushIndex("multi/docker:1", []string{"linux/amd64", "linux/arm64/v8"}, true, false))
	ok(t)(reg.PushIndex("multi/win:1", []string{"windows/amd64", "linux/amd64"}, false, false))
	armDigest := ok(t)(reg.PushImage("single/arm:1", "linux/arm64", false))
	ok(t)(reg.PushImage("single/amd:1", "linux/amd64", true))

	tests := []struct {
		image      string
		wantSource imageplatform.Source
		want       []string
		wantDigest string
	}{
		{image: reg.Host + "/multi/oci:1", wantSource: imageplatform.SourceIndex, want: []string{"linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64"}, wantDigest: ociDigest},
		{image: reg.Host + "/multi/docker:1", wantSource: imageplatform.SourceIndex, want: []string{"linux/amd64", "linux/arm64"}},
		{image: reg.Host + "/multi/win:1", wantSource: imageplatform.SourceIndex, want: []string{"linux/amd64", "windows/amd64"}},
		{image: reg.Host + "/single/arm:1", wantSource: imageplatform.SourceManifest, want: []string{"linux/arm64"}, wantDigest: armDigest},
		{image: reg.Host + "/single/amd:1", wantSource: imageplatform.SourceManifest, want: []string{"linux/amd64"}},
		{image: reg.Host + "/single/arm@" + armDigest, wantSource: imageplatform.SourceManifest, want: []string{"linux/arm64"}, wantDigest: armDigest},
		{image: reg.Host + "/multi/oci:1@" + ociDigest, wantSource: imageplatform.SourceIndex, want: []string{"linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64"}, wantDigest: ociDigest},
	}
	r := newResolver(t, reg)
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			res := resolve(r, tt.image)
			if res.Err != nil {
				t.Fatalf("unexpected error: %v", res.Err)
			}
			if res.Source != tt.wantSource {
				t.Errorf("source = %s, want %s", res.Source, tt.wantSource)
			}
			if got := fmt.Sprint(imageplatform.PlatformStrings(res.Platforms)); got != fmt.Sprint(tt.want) {
				t.Errorf("platforms = %s, want %v", got, tt.want)
			}
			if tt.wantDigest != "" && res.Digest != tt.wantDigest {
				t.Errorf("digest = %s, want %s", res.Digest, tt.wantDigest)
			}
		})
	}
}

func TestRoundTripsAndCaching(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	digest := ok(t)(reg.PushIndex("app/web:1", []string{"linux/amd64", "linux/arm64"}, false, false))
	r := newResolver(t, reg)

	reg.ResetCounts()
	if res := resolve(r, reg.Host+"/app/web:1"); res.Err != nil || res.Cached {
		t.Fatalf("first lookup: %+v", res)
	}
	if heads, gets := reg.Count(http.MethodHead), reg.Count(http.MethodGet); heads != 1 || gets != 2 {
		// GET /v2/ (ping) and GET of the index by digest.
		t.Fatalf("first lookup made %d HEAD and %d GET, want 1 and 2", heads, gets)
	}

	reg.ResetCounts()
	res := resolve(r, reg.Host+"/app/web:1")
	if res.Err != nil || !res.Cached || res.Digest != digest {
		t.Fatalf("second lookup: %+v", res)
	}
	if n := reg.Requests(); n != 0 {
		t.Fatalf("second lookup of the same tag made %d requests, want 0", n)
	}

	// The same digest by digest reference needs no HEAD and no GET.
	if res := resolve(r, reg.Host+"/app/web@"+digest); res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := reg.Count(http.MethodGet) + reg.Count(http.MethodHead); n != 0 {
		t.Fatalf("lookup of a cached digest made %d manifest requests, want 0", n)
	}

	// Another tag on the same digest needs only a HEAD.
	if err := reg.Tag("app/web:1", "alias"); err != nil {
		t.Fatal(err)
	}
	reg.ResetCounts()
	if res := resolve(r, reg.Host+"/app/web:alias"); res.Err != nil {
		t.Fatal(res.Err)
	}
	if heads, gets := reg.Count(http.MethodHead), reg.Count(http.MethodGet); heads != 1 || gets != 0 {
		t.Fatalf("new tag on a known digest made %d HEAD and %d GET, want 1 and 0", heads, gets)
	}
}

func TestTagTTLServesStaleWhileRefreshing(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/moving:1", "linux/amd64", false))
	clk := newClock()
	r := newResolver(t, reg, imageplatform.WithClock(clk.Now), imageplatform.WithTagTTL(time.Hour))
	if res := resolve(r, reg.Host+"/app/moving:1"); res.Err != nil {
		t.Fatal(res.Err)
	}
	// The tag moves to a multi-arch index.
	ok(t)(reg.PushIndex("app/moving:1", []string{"linux/amd64", "linux/arm64"}, false, false))

	clk.Add(30 * time.Minute)
	reg.ResetCounts()
	if res := resolve(r, reg.Host+"/app/moving:1"); len(res.Platforms) != 1 || reg.Requests() != 0 {
		t.Fatalf("within TTL: platforms %v after %d requests, want the cached single arch and no request", res.Platforms, reg.Requests())
	}

	clk.Add(31 * time.Minute)
	res := resolve(r, reg.Host+"/app/moving:1")
	if !res.Cached || len(res.Platforms) != 1 {
		t.Fatalf("past TTL the stale entry must be served at once, got %+v", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res = resolve(r, reg.Host+"/app/moving:1")
		if len(res.Platforms) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background refresh never replaced the stale entry: %+v", res)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if reg.Count(http.MethodHead) < 1 {
		t.Fatalf("refresh did not HEAD the tag")
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      registrytest.Fault
		path       string
		wantReason string
		wantErr    error
	}{
		{name: "unauthorised", fault: registrytest.Fault{Status: 401}, path: "/manifests/", wantReason: "unauthorized"},
		{name: "forbidden", fault: registrytest.Fault{Status: 403}, path: "/manifests/", wantReason: "unauthorized"},
		{name: "not found", fault: registrytest.Fault{Status: 404}, path: "/manifests/", wantReason: "not_found"},
		{name: "server error", fault: registrytest.Fault{Status: 500}, path: "/manifests/", wantReason: "server_error"},
		{name: "rate limited", fault: registrytest.Fault{Status: 429, RetryAfter: "120"}, path: "/manifests/", wantReason: "rate_limited"},
		{name: "truncated manifest", fault: registrytest.Fault{Truncate: true, Methods: []string{"GET"}}, path: "/manifests/sha256", wantReason: "truncated"},
		{name: "oversize manifest", fault: registrytest.Fault{Oversize: 8 << 20, Methods: []string{"GET"}}, path: "/manifests/sha256", wantErr: imageplatform.ErrTooLarge},
		{name: "lying registry", fault: registrytest.Fault{Body: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), Methods: []string{"GET"}}, path: "/manifests/sha256", wantReason: "bad_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registrytest.New()
			defer reg.Close()
			ok(t)(reg.PushIndex("app/x:1", []string{"linux/amd64", "linux/arm64"}, false, false))
			reg.SetFault(tt.path, tt.fault)
			r := newResolver(t, reg)
			res := resolve(r, reg.Host+"/app/x:1")
			if res.Err == nil {
				t.Fatalf("want an error, got %+v", res)
			}
			if res.Source != imageplatform.SourceUnknown || len(res.Platforms) != 0 {
				t.Errorf("a failed lookup must have source unknown and no platforms, got %+v", res)
			}
			if tt.wantReason != "" {
				if got := imageplatform.ErrorReason(res.Err); got != tt.wantReason {
					t.Errorf("reason = %s, want %s (err: %v)", got, tt.wantReason, res.Err)
				}
			}
			if tt.wantErr != nil && !errors.Is(res.Err, tt.wantErr) {
				t.Errorf("err = %v, want %v", res.Err, tt.wantErr)
			}
			// Negative caching: the same failure is answered without a request.
			reg.ResetCounts()
			again := resolve(r, reg.Host+"/app/x:1")
			if again.Err == nil || !again.Cached || reg.Requests() != 0 {
				t.Errorf("failure was not cached: %+v after %d requests", again, reg.Requests())
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/a:1", "linux/amd64", false))
	ok(t)(reg.PushImage("app/b:1", "linux/arm64", false))
	clk := newClock()
	r := newResolver(t, reg, imageplatform.WithClock(clk.Now))
	reg.SetFault("/manifests/", registrytest.Fault{Status: 429, RetryAfter: "60"})
	if res := resolve(r, reg.Host+"/app/a:1"); imageplatform.ErrorReason(res.Err) != "rate_limited" {
		t.Fatalf("want rate_limited, got %v", res.Err)
	}
	reg.ClearFaults()
	reg.ResetCounts()
	// A different image on the same registry inside the window: no request.
	res := resolve(r, reg.Host+"/app/b:1")
	var rl *imageplatform.RateLimitedError
	if !errors.As(res.Err, &rl) || reg.Requests() != 0 {
		t.Fatalf("inside Retry-After: err %v after %d requests, want RateLimitedError and none", res.Err, reg.Requests())
	}
	clk.Add(61 * time.Second)
	if res := resolve(r, reg.Host+"/app/b:1"); res.Err != nil {
		t.Fatalf("after Retry-After: %v", res.Err)
	}
}

func TestCircuitBreaker(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	clk := newClock()
	r := newResolver(t, reg, imageplatform.WithClock(clk.Now), imageplatform.WithCircuitBreaker(3, time.Minute))
	reg.SetFault("/manifests/", registrytest.Fault{Status: 503})
	for i := 0; i < 3; i++ {
		if res := resolve(r, fmt.Sprintf("%s/app/img%d:1", reg.Host, i)); imageplatform.ErrorReason(res.Err) != "server_error" {
			t.Fatalf("call %d: want server_error, got %v", i, res.Err)
		}
	}
	reg.ResetCounts()
	res := resolve(r, reg.Host+"/app/other:1")
	if !errors.Is(res.Err, imageplatform.ErrCircuitOpen) || reg.Requests() != 0 {
		t.Fatalf("breaker should be open: err %v after %d requests", res.Err, reg.Requests())
	}
	reg.ClearFaults()
	ok(t)(reg.PushImage("app/later:1", "linux/arm64", false))
	clk.Add(2 * time.Minute)
	if res := resolve(r, reg.Host+"/app/later:1"); res.Err != nil {
		t.Fatalf("half-open probe should succeed: %v", res.Err)
	}
}

func TestSlowRegistryReturnsPendingThenCompletes(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/slow:1", "linux/arm64", false))
	r := newResolver(t, reg)
	reg.SetFault("/manifests/", registrytest.Fault{Delay: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := r.Resolve(ctx, imageplatform.Request{Image: reg.Host + "/app/slow:1"})
	if !res.IsPending() {
		t.Fatalf("want pending within the budget, got %+v", res)
	}
	// The lookup keeps going without the caller and lands in the cache.
	if res := resolve(r, reg.Host+"/app/slow:1"); res.Err != nil || len(res.Platforms) != 1 {
		t.Fatalf("after waiting: %+v", res)
	}
}

func TestRequestTimeout(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/stuck:1", "linux/arm64", false))
	r := newResolver(t, reg, imageplatform.WithRequestTimeout(100*time.Millisecond))
	reg.SetFault("/manifests/", registrytest.Fault{Delay: time.Minute})
	res := resolve(r, reg.Host+"/app/stuck:1")
	if got := imageplatform.ErrorReason(res.Err); got != "timeout" {
		t.Fatalf("reason = %s (%v), want timeout", got, res.Err)
	}
}

func TestConcurrentLookupsCollapse(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushIndex("app/hot:1", []string{"linux/amd64", "linux/arm64"}, false, false))
	r := newResolver(t, reg)
	reg.SetFault("/manifests/", registrytest.Fault{Delay: 100 * time.Millisecond})
	reg.ResetCounts()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := resolve(r, reg.Host+"/app/hot:1"); res.Err != nil || len(res.Platforms) != 2 {
				errs <- fmt.Errorf("%+v", res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if heads, gets := reg.Count(http.MethodHead), reg.Count(http.MethodGet); heads != 1 || gets != 2 {
		t.Fatalf("32 concurrent lookups made %d HEAD and %d GET, want 1 and 2", heads, gets)
	}
}

func TestMalformedReferenceMakesNoRequest(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	r := newResolver(t, reg)
	for _, img := range []string{"", "UPPER/case:1", "nginx:bad tag", " nginx", "nginx@sha256:abc"} {
		res := resolve(r, img)
		if !errors.Is(res.Err, imageplatform.ErrInvalidReference) {
			t.Errorf("%q: err = %v, want ErrInvalidReference", img, res.Err)
		}
	}
	if n := reg.Requests(); n != 0 {
		t.Fatalf("malformed references made %d requests", n)
	}
}

func TestPlainHTTPNeedsTheAllowList(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/x:1", "linux/amd64", false))
	r, err := imageplatform.NewRegistryResolver()
	if err != nil {
		t.Fatal(err)
	}
	res := resolve(r, reg.Host+"/app/x:1")
	if res.Err == nil {
		t.Fatal("plain HTTP to a registry that is not listed must fail")
	}
	if !errors.Is(res.Err, imageplatform.ErrInsecureNotAllowed) && !errors.Is(res.Err, imageplatform.ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrInsecureNotAllowed or ErrForbiddenAddress", res.Err)
	}
}

func TestLoopbackTLSRegistryNeedsExplicitAllow(t *testing.T) {
	reg := registrytest.New(registrytest.WithTLS())
	defer reg.Close()
	ok(t)(reg.PushIndex("app/x:1", []string{"linux/amd64", "linux/arm64"}, false, false))

	r, err := imageplatform.NewRegistryResolver(imageplatform.WithRootCAs(reg.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	reg.ResetCounts()
	if res := resolve(r, reg.Host+"/app/x:1"); !errors.Is(res.Err, imageplatform.ErrForbiddenAddress) {
		t.Fatalf("loopback registry not allowed: err = %v, want ErrForbiddenAddress", res.Err)
	}
	if n := reg.Requests(); n != 0 {
		t.Fatalf("a refused address still received %d requests", n)
	}

	r, err = imageplatform.NewRegistryResolver(imageplatform.WithRootCAs(reg.Pool()), imageplatform.WithAllowedPrivateRegistries(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	if res := resolve(r, reg.Host+"/app/x:1"); res.Err != nil || len(res.Platforms) != 2 {
		t.Fatalf("explicitly allowed TLS registry: %+v", res)
	}
}

func dockerConfigSecret(ns, name, host, user, pass string) corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(fmt.Sprintf(
			`{"auths":{%q:{"auth":%q}}}`, host, auth))},
	}
}

func TestCredentialsAreIsolated(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("private/app:1", "linux/arm64", false))
	reg.RequireBasicAuth("tenant-a", "s3cret")
	r := newResolver(t, reg)
	ctx := context.Background()

	good, err := imageplatform.CredentialsFromSecrets(ctx, []corev1.Secret{dockerConfigSecret("a", "pull", reg.Host, "tenant-a", "s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := imageplatform.CredentialsFromSecrets(ctx, []corev1.Secret{dockerConfigSecret("b", "pull", reg.Host, "tenant-b", "guess")})
	if err != nil {
		t.Fatal(err)
	}
	if good.ID == "" || good.ID == bad.ID {
		t.Fatalf("credential identities must differ and be non-empty: %q %q", good.ID, bad.ID)
	}
	img := reg.Host + "/private/app:1"
	if res := r.Resolve(ctx, imageplatform.Request{Image: img, Credentials: good}); res.Err != nil {
		t.Fatalf("with tenant A's secret: %v", res.Err)
	}
	for name, creds := range map[string]imageplatform.Credentials{"anonymous": {}, "tenant B": bad} {
		res := r.Resolve(ctx, imageplatform.Request{Image: img, Credentials: creds})
		if imageplatform.ErrorReason(res.Err) != "unauthorized" {
			t.Errorf("%s must not be answered from tenant A's cache entry: %+v (reason %s)", name, res, imageplatform.ErrorReason(res.Err))
		}
	}
}

func TestBadOptionsAreRefused(t *testing.T) {
	for name, opt := range map[string]imageplatform.Option{
		"tag TTL":      imageplatform.WithTagTTL(0),
		"negative TTL": imageplatform.WithNegativeTTL(-time.Second),
		"timeout":      imageplatform.WithRequestTimeout(0),
		"max body":     imageplatform.WithMaxBody(10),
		"concurrency":  imageplatform.WithMaxPerRegistry(0),
		"cache size":   imageplatform.WithCacheSize(0),
		"breaker":      imageplatform.WithCircuitBreaker(0, time.Second),
		"insecure":     imageplatform.WithInsecureRegistries("http://x:5000/path"),
	} {
		if _, err := imageplatform.NewRegistryResolver(opt); err == nil {
			t.Errorf("%s: bad value accepted", name)
		}
	}
}

func TestPerRegistryConcurrencyCap(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	for i := 0; i < 6; i++ {
		ok(t)(reg.PushImage(fmt.Sprintf("app/c%d:1", i), "linux/amd64", false))
	}
	r := newResolver(t, reg, imageplatform.WithMaxPerRegistry(1))
	reg.SetFault("/manifests/", registrytest.Fault{Delay: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if res := resolve(r, fmt.Sprintf("%s/app/c%d:1", reg.Host, i)); res.Err != nil {
				t.Error(res.Err)
			}
		}(i)
	}
	wg.Wait()
	if max := reg.MaxInFlight(); max != 1 {
		t.Fatalf("max concurrent requests = %d, want 1", max)
	}
}

func TestDockerHubMirror(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushIndex("library/nginx:1.27", []string{"linux/amd64", "linux/arm64"}, false, true))
	r := newResolver(t, reg, imageplatform.WithDockerHubMirror(reg.Host))
	for _, img := range []string{"nginx:1.27", "docker.io/library/nginx:1.27", "index.docker.io/library/nginx:1.27"} {
		res := resolve(r, img)
		if res.Err != nil || len(res.Platforms) != 2 {
			t.Errorf("%s via mirror: %+v", img, res)
		}
	}
	if ref, err := r.ParseReference("ghcr.io/org/app:1"); err != nil || ref.Context().RegistryStr() != "ghcr.io" {
		t.Errorf("a non-Hub image must not be mirrored: %v %v", ref, err)
	}
}

// The caches are bounded, and the bound evicts the least recently used
// entry: the one looked up again costs no request, the evicted one does.
func TestCacheIsBoundedAndKeepsRecent(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	for _, tag := range []string{"a", "b", "c"} {
		ok(t)(reg.PushIndex("app/"+tag+":1", []string{"linux/amd64", "linux/arm64"}, false, false))
	}
	r := newResolver(t, reg, imageplatform.WithCacheSize(2))
	for _, tag := range []string{"a", "b", "a", "c"} {
		if res := resolve(r, reg.Host+"/app/"+tag+":1"); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if got := r.CacheEntries(); got.References != 2 || got.Digests != 2 || got.Pullers != 3 {
		t.Fatalf("cache entries = %+v, want 2 references, 2 digests, 3 pullers (one per repository)", got)
	}
	reg.ResetCounts()
	for _, tag := range []string{"a", "c"} {
		if res := resolve(r, reg.Host+"/app/"+tag+":1"); res.Err != nil || !res.Cached {
			t.Fatalf("%s, recently used, should be cached: %+v", tag, res)
		}
	}
	if n := reg.Requests(); n != 0 {
		t.Fatalf("cached lookups made %d requests", n)
	}
	if res := resolve(r, reg.Host+"/app/b:1"); res.Err != nil || res.Cached {
		t.Fatalf("b, least recently used, should have been evicted: %+v", res)
	}
	if reg.Count(http.MethodHead) != 1 {
		t.Fatalf("the evicted tag made %d HEADs, want 1", reg.Count(http.MethodHead))
	}
}

// ResolveCached never waits: a miss comes back pending while one lookup
// runs behind, and later calls find its answer without a request.
func TestResolveCachedNeverWaits(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	ok(t)(reg.PushImage("app/slow:1", "linux/arm64", false))
	r := newResolver(t, reg)
	reg.SetFault("/manifests/", registrytest.Fault{Delay: 2 * time.Second})
	req := imageplatform.Request{Image: reg.Host + "/app/slow:1"}
	reg.ResetCounts()
	for i := 0; i < 3; i++ {
		if res := r.ResolveCached(req); !res.IsPending() {
			t.Fatalf("call %d on a miss: want pending at once, got %+v", i, res)
		}
	}
	reg.SetFault("/manifests/", registrytest.Fault{})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := r.ResolveCached(req)
		if res.Err == nil {
			if !res.Cached || len(res.Platforms) != 1 {
				t.Fatalf("answer from cache: %+v", res)
			}
			break
		}
		if !res.IsPending() || time.Now().After(deadline) {
			t.Fatalf("the background lookup never landed: %+v", res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := reg.Count(http.MethodHead); n != 1 {
		t.Fatalf("%d HEADs for one image asked four times and more, want 1 (collapsed)", n)
	}
}

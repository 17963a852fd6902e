package imageplatform

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Defaults are chosen for a scheduler: short enough that a sick registry
// cannot hold a pod for long, long enough for a healthy one across a region.
const (
	DefaultTagTTL           = time.Hour
	DefaultNegativeTTL      = 30 * time.Second
	DefaultRequestTimeout   = 10 * time.Second
	DefaultMaxBody          = 4 << 20
	DefaultMaxPerRegistry   = 8
	DefaultCacheSize        = 10000
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

type options struct {
	tagTTL           time.Duration
	negativeTTL      time.Duration
	requestTimeout   time.Duration
	maxBody          int64
	maxPerRegistry   int
	cacheSize        int
	breakerThreshold int
	breakerCooldown  time.Duration
	insecure         []string
	allowedPrivate   []string
	defaultKeychain  authn.Keychain
	rootCAs          *x509.CertPool
	hubMirror        string
	userAgent        string
	now              func() time.Time
}

// Option configures a registry resolver, in go-containerregistry's style.
type Option func(*options)

// WithTagTTL sets how long a tag→digest answer is fresh. After that it is
// still served while a HEAD refreshes it in the background.
func WithTagTTL(d time.Duration) Option { return func(o *options) { o.tagTTL = d } }

// WithNegativeTTL sets how long a failed lookup is remembered.
func WithNegativeTTL(d time.Duration) Option { return func(o *options) { o.negativeTTL = d } }

// WithRequestTimeout bounds one whole lookup (HEAD, GET and config blob).
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// WithMaxBody caps any registry response body.
func WithMaxBody(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithMaxPerRegistry caps concurrent requests to one registry host.
func WithMaxPerRegistry(n int) Option { return func(o *options) { o.maxPerRegistry = n } }

// WithCacheSize bounds each cache (entries).
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// WithCircuitBreaker opens a registry's breaker after threshold consecutive
// failures, for cooldown.
func WithCircuitBreaker(threshold int, cooldown time.Duration) Option {
	return func(o *options) { o.breakerThreshold, o.breakerCooldown = threshold, cooldown }
}

// WithInsecureRegistries lists host:port values reachable over plain HTTP.
// Listing a registry also allows it on a loopback or link-local address.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *options) { o.insecure = append(o.insecure, hosts...) }
}

// WithAllowedPrivateRegistries lists hosts (or host:port) that may resolve to
// loopback or link-local addresses over TLS.
func WithAllowedPrivateRegistries(hosts ...string) Option {
	return func(o *options) { o.allowedPrivate = append(o.allowedPrivate, hosts...) }
}

// WithDockerHubMirror looks up Docker Hub images (nginx, docker.io/x/y) in
// this registry instead, as an air-gapped cluster's containerd mirror does.
// The platforms of a mirrored copy are the original's.
func WithDockerHubMirror(host string) Option { return func(o *options) { o.hubMirror = host } }

// WithDefaultKeychain adds credentials used for every lookup after the
// pod's own (for example a docker config file mounted into the scheduler).
func WithDefaultKeychain(k authn.Keychain) Option { return func(o *options) { o.defaultKeychain = k } }

// WithRootCAs trusts these CAs for registry TLS instead of the system pool,
// for registries behind a private CA.
func WithRootCAs(pool *x509.CertPool) Option { return func(o *options) { o.rootCAs = pool } }

// WithUserAgent sets the User-Agent sent to registries.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithClock replaces time.Now, for tests of TTLs and Retry-After.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func buildOptions(opts []Option) (*options, error) {
	o := &options{
		tagTTL:           DefaultTagTTL,
		negativeTTL:      DefaultNegativeTTL,
		requestTimeout:   DefaultRequestTimeout,
		maxBody:          DefaultMaxBody,
		maxPerRegistry:   DefaultMaxPerRegistry,
		cacheSize:        DefaultCacheSize,
		breakerThreshold: DefaultBreakerThreshold,
		breakerCooldown:  DefaultBreakerCooldown,
		userAgent:        "archfit",
		now:              time.Now,
	}
	for _, opt := range opts {
		opt(o)
	}
	switch {
	case o.tagTTL <= 0:
		return nil, fmt.Errorf("tag TTL must be positive, got %v", o.tagTTL)
	case o.negativeTTL <= 0:
		return nil, fmt.Errorf("negative TTL must be positive, got %v", o.negativeTTL)
	case o.requestTimeout <= 0:
		return nil, fmt.Errorf("request timeout must be positive, got %v", o.requestTimeout)
	case o.maxBody < 1024:
		return nil, fmt.Errorf("max body must be at least 1024 bytes, got %d", o.maxBody)
	case o.maxPerRegistry < 1:
		return nil, fmt.Errorf("max concurrent requests per registry must be at least 1, got %d", o.maxPerRegistry)
	case o.cacheSize < 1:
		return nil, fmt.Errorf("cache size must be at least 1, got %d", o.cacheSize)
	case o.breakerThreshold < 1 || o.breakerCooldown <= 0:
		return nil, fmt.Errorf("circuit breaker needs threshold ≥ 1 and a positive cooldown, got %d and %v", o.breakerThreshold, o.breakerCooldown)
	}
	if o.hubMirror != "" {
		if err := ValidateHostPort(o.hubMirror); err != nil {
			return nil, fmt.Errorf("docker hub mirror: %w", err)
		}
	}
	for _, h := range o.insecure {
		if err := ValidateHostPort(h); err != nil {
			return nil, fmt.Errorf("insecure registry: %w", err)
		}
	}
	return o, nil
}

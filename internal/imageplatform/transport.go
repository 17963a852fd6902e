package imageplatform

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// guard is the RoundTripper every registry request goes through. It is where
// the rules that protect both the registries and the scheduler live:
// plain-HTTP allow-list, SSRF refusal, per-registry concurrency cap,
// Retry-After, a circuit breaker and a body-size cap. Keeping them in the
// transport means ggcr's own requests (ping, token, HEAD, GET, redirects)
// are all covered, not only the ones we issue by name.
type guard struct {
	base      http.RoundTripper
	insecure  map[string]bool // host:port allowed over plain HTTP
	allowed   map[string]bool // host or host:port allowed on private addresses
	maxBody   int64
	maxConc   int
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	sem        chan struct{}
	failures   int
	openUntil  time.Time
	retryAfter time.Time
}

func newGuard(o *options) *guard {
	g := &guard{
		insecure:  map[string]bool{},
		allowed:   map[string]bool{},
		maxBody:   o.maxBody,
		maxConc:   o.maxPerRegistry,
		threshold: o.breakerThreshold,
		cooldown:  o.breakerCooldown,
		now:       o.now,
		hosts:     map[string]*hostState{},
	}
	for _, h := range o.insecure {
		g.insecure[h] = true
		g.allowed[h] = true
	}
	for _, h := range o.allowedPrivate {
		g.allowed[h] = true
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	g.base = &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if g.isAllowed(addr) {
				return dialer.DialContext(ctx, network, addr)
			}
			// Checking at dial time, on the resolved IP, also defeats DNS
			// rebinding and redirects to a metadata endpoint.
			d := *dialer
			d.Control = func(_, address string, _ syscall.RawConn) error {
				host, _, err := net.SplitHostPort(address)
				if err != nil {
					return err
				}
				if ip := net.ParseIP(host); ip != nil && forbiddenIP(ip) {
					return fmt.Errorf("%s (%s): %w", addr, ip, ErrForbiddenAddress)
				}
				return nil
			}
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.requestTimeout,
		ExpectContinueTimeout: time.Second,
	}
	if o.rootCAs != nil {
		g.base.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: o.rootCAs, MinVersion: tls.VersionTLS12}
	}
	return g
}

func (g *guard) isAllowed(hostport string) bool {
	if g.allowed[hostport] {
		return true
	}
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && g.allowed[host]
}

// forbiddenIP reports addresses a pod author must not be able to make the
// scheduler fetch: loopback, link-local (which holds 169.254.169.254),
// unspecified, and the metadata addresses that live outside link-local.
func forbiddenIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
		return true
	}
	switch ip.String() {
	case "100.100.100.200", // Alibaba Cloud metadata
		"fd00:ec2::254": // AWS IMDS over IPv6
		return true
	}
	return false
}

func (g *guard) state(host string) *hostState {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.hosts[host]
	if !ok {
		s = &hostState{sem: make(chan struct{}, g.maxConc)}
		g.hosts[host] = s
	}
	return s
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !g.insecure[host] {
		return nil, fmt.Errorf("http://%s: %w", host, ErrInsecureNotAllowed)
	}
	s := g.state(host)
	now := g.now()
	g.mu.Lock()
	retryAfter, openUntil := s.retryAfter, s.openUntil
	g.mu.Unlock()
	if now.Before(retryAfter) {
		return nil, &RateLimitedError{Registry: host, Until: retryAfter}
	}
	if now.Before(openUntil) {
		return nil, fmt.Errorf("%s: %w (until %s)", host, ErrCircuitOpen, openUntil.UTC().Format(time.RFC3339))
	}
	select {
	case s.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	release := sync.OnceFunc(func() { <-s.sem })

	resp, err := g.base.RoundTrip(req)
	if err != nil {
		release()
		// Neither our caller giving up nor ggcr's expected HTTPS probe of a
		// plain-HTTP registry is the registry's fault.
		if req.Context().Err() == nil && !(req.URL.Scheme == "https" && g.insecure[host]) {
			g.recordFailure(s)
		}
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		g.mu.Lock()
		s.retryAfter = g.now().Add(parseRetryAfter(resp.Header.Get("Retry-After"), g.now()))
		g.mu.Unlock()
		g.recordFailure(s)
	case resp.StatusCode >= 500:
		g.recordFailure(s)
	case resp.StatusCode < 400 && req.URL.Path != "/v2/":
		// Only a served manifest or blob proves the registry healthy; its
		// ping endpoint often answers while everything behind it fails.
		g.mu.Lock()
		s.failures = 0
		g.mu.Unlock()
	}
	if resp.ContentLength > g.maxBody {
		resp.Body.Close()
		release()
		return nil, fmt.Errorf("%s %s: %d bytes: %w", req.Method, req.URL.Redacted(), resp.ContentLength, ErrTooLarge)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: g.maxBody, release: release}
	return resp, nil
}

func (g *guard) recordFailure(s *hostState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s.failures++
	if s.failures >= g.threshold {
		// Half-open after the cooldown: the next failure re-opens at once
		// because the counter is still at the threshold.
		s.openUntil = g.now().Add(g.cooldown)
	}
}

// parseRetryAfter accepts delta-seconds or an HTTP date. A missing or
// unparseable value gets a conservative default rather than zero, because a
// registry that says 429 wants us to back off either way.
func parseRetryAfter(v string, now time.Time) time.Duration {
	const def, ceiling = 10 * time.Second, 10 * time.Minute
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	if secs, err := strconv.Atoi(v); err == nil {
		d := time.Duration(secs) * time.Second
		if d < 0 {
			return def
		}
		return min(d, ceiling)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), time.Second), ceiling)
	}
	return def
}

// cappedBody fails a read that would pass the cap, so a registry cannot make
// the scheduler buffer an unbounded body, and frees the registry slot on
// Close (or at EOF, for callers that forget to close).
type cappedBody struct {
	rc      io.ReadCloser
	left    int64
	release func()
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe one byte: a body exactly at the cap is fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		if err == io.EOF {
			b.release()
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *cappedBody) Close() error {
	b.release()
	return b.rc.Close()
}

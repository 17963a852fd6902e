// Package tlsfiles serves a certificate from files and picks up rotated
// files without a restart (cert-manager and Secret volume updates replace
// them in place, through a symlink swap).
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// Reloader holds the current key pair and re-reads the files when they
// change. A rotation that fails to load keeps the previous pair, so a
// half-written file never takes the server down.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration
	onReload          func(error)

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	lastCheck time.Time
}

// New loads the pair once; a failure here is an error (the server must not
// start without a certificate). onReload, if not nil, is told of every
// reload attempt after the first.
func New(certFile, keyFile string, interval time.Duration, onReload func(error)) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: interval, onReload: onReload}
	stamp, err := r.stampFiles()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	r.cert, r.stamp, r.lastCheck = &cert, stamp, time.Now()
	return r, nil
}

func (r *Reloader) stampFiles() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

// GetCertificate is a tls.Config hook: it checks the files at most once per
// interval, on handshakes only, so an idle server does no work.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) < r.interval {
		return r.cert, nil
	}
	r.lastCheck = time.Now()
	stamp, err := r.stampFiles()
	if err != nil || stamp == r.stamp {
		if err != nil && r.onReload != nil {
			r.onReload(err)
		}
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if r.onReload != nil {
		r.onReload(err)
	}
	if err == nil {
		r.cert, r.stamp = &cert, stamp
	}
	return r.cert, nil
}

// ServerConfig returns a TLS config using the reloader; with a client CA
// file it requires and verifies client certificates (mTLS).
func (r *Reloader) ServerConfig(clientCAFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if clientCAFile != "" {
		b, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificates", clientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

package tlsfiles_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/archfit/archfit/internal/tlsfiles"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// serve accepts TLS connections with cfg until the test ends, completing
// each handshake so the client sees the certificate.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return l.Addr().String()
}

// dial returns the served certificate's issuer and serial number and the
// negotiated protocol, or an error when ca does not verify it.
func dial(addr string, ca *testcerts.CA, protos ...string) (issuer, serial, proto string, err error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", NextProtos: protos})
	if err != nil {
		return "", "", "", err
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0].Issuer.CommonName, st.PeerCertificates[0].SerialNumber.String(), st.NegotiatedProtocol, nil
}

func writePair(t *testing.T, dir string, ca *testcerts.CA) {
	t.Helper()
	cert, key, err := ca.Issue("server", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// Write aside and rename, as a Secret volume update does.
	for name, b := range map[string][]byte{"tls.crt": cert, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name+".new"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, name+".new"), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRotationAndABadPair(t *testing.T) {
	dir := t.TempDir()
	ca1, _ := testcerts.NewCA("first")
	writePair(t, dir, ca1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := tlsfiles.ServerConfig(ctx, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), "", "h2")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)

	issuer, first, proto, err := dial(addr, ca1, "h2")
	if err != nil || issuer != "first" || proto != "h2" {
		t.Fatalf("before rotation: issuer %q, ALPN %q, err %v; want first, h2", issuer, proto, err)
	}

	// Half a rotation (the new certificate beside the old key, as between
	// two file writes) keeps the previous pair served.
	half, _, _ := ca1.Issue("server", "127.0.0.1")
	os.WriteFile(filepath.Join(dir, "tls.crt"), half, 0o600)
	time.Sleep(300 * time.Millisecond) // let the watch fire and the load fail
	if _, serial, _, err := dial(addr, ca1); err != nil || serial != first {
		t.Fatalf("after a mismatched pair: serial %s, err %v; want the previous pair (%s)", serial, err, first)
	}

	ca2, _ := testcerts.NewCA("second")
	writePair(t, dir, ca2)
	eventually(t, "the rotated pair", func() bool {
		issuer, _, _, err := dial(addr, ca2)
		return err == nil && issuer == "second"
	})
}

func TestMissingOrInvalidFilesAreRefused(t *testing.T) {
	dir := t.TempDir()
	ca, _ := testcerts.NewCA("ca")
	writePair(t, dir, ca)
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	notPEM := filepath.Join(dir, "junk")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for name, files := range map[string][3]string{
		"missing cert":   {filepath.Join(dir, "nope"), key, ""},
		"key as cert":    {key, key, ""},
		"junk client CA": {crt, key, notPEM},
		"missing CA":     {crt, key, filepath.Join(dir, "nope")},
	} {
		if _, err := tlsfiles.ServerConfig(context.Background(), files[0], files[1], files[2]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestClientCARequiresAndFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	serverCA, _ := testcerts.NewCA("server-ca")
	writePair(t, dir, serverCA)
	clients1, _ := testcerts.NewCA("clients-1")
	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, clients1.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := tlsfiles.ServerConfig(ctx, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), caFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	handshake := func(client *testcerts.CA) error {
		cc := &tls.Config{RootCAs: serverCA.Pool(), ServerName: "127.0.0.1"}
		if client != nil {
			cert, key, err := client.Issue("client")
			if err != nil {
				return err
			}
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return err
			}
			cc.Certificates = []tls.Certificate{pair}
		}
		c, err := tls.Dial("tcp", addr, cc)
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); (ok && ne.Timeout()) || errors.Is(err, io.EOF) {
			return nil // the server completed the handshake and closed
		}
		return err
	}
	if err := handshake(nil); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	if err := handshake(clients1); err != nil {
		t.Fatalf("a client of the configured CA was refused: %v", err)
	}
	clients2, _ := testcerts.NewCA("clients-2")
	os.WriteFile(caFile+".new", clients2.CertPEM, 0o600)
	os.Rename(caFile+".new", caFile)
	eventually(t, "the rotated client CA", func() bool { return handshake(clients2) == nil && handshake(clients1) != nil })
}

package chart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
)

// set is a shorthand for Options{Set: ...} at the default Kubernetes version.
func set(kv ...string) Options { return Options{Set: kv} }

func render(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Render(context.Background(), o)
	if err != nil {
		t.Fatalf("render %+v: %v", o.Set, err)
	}
	return res
}

// rendered is a render's objects by kind/namespace/name.
type rendered map[string]Object

func renderObjects(t *testing.T, o Options) rendered {
	t.Helper()
	objs, err := Objects(render(t, o).Manifest)
	if err != nil {
		t.Fatal(err)
	}
	out := rendered{}
	for _, obj := range objs {
		if _, dup := out[obj.Key()]; dup {
			t.Fatalf("%s rendered twice", obj.Key())
		}
		out[obj.Key()] = obj
	}
	return out
}

func (r rendered) keys() []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (r rendered) get(t *testing.T, kind, ns, name string) map[string]any {
	t.Helper()
	o, ok := r[kind+"/"+ns+"/"+name]
	if !ok {
		t.Fatalf("no %s %s/%s; rendered:\n%s", kind, ns, name, strings.Join(r.keys(), "\n"))
	}
	return o.Obj
}

func (r rendered) has(kind, ns, name string) bool {
	_, ok := r[kind+"/"+ns+"/"+name]
	return ok
}

// at follows a path of map keys and list indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// container is a Deployment's first container.
func container(d map[string]any) map[string]any {
	c, _ := at(d, "spec", "template", "spec", "containers", 0).(map[string]any)
	return c
}

func args(d map[string]any) []string { return strs(container(d)["args"]) }

func image(d map[string]any) string { s, _ := container(d)["image"].(string); return s }

// flag is the value of --name=value in args, and whether it is there.
func flag(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name {
			return "", true
		}
	}
	return "", false
}

func secretData(t *testing.T, s map[string]any, key string) []byte {
	t.Helper()
	v, _ := at(s, "data", key).(string)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) == 0 {
		t.Fatalf("Secret %v: data[%s] %q: %v", at(s, "metadata", "name"), key, v, err)
	}
	return b
}

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkServing checks that a TLS Secret holds an ECDSA P-256 key pair for
// dnsName, signed by caPEM, and carries caPEM as ca.crt.
func checkServing(t *testing.T, s map[string]any, caPEM []byte, dnsName string) {
	t.Helper()
	crt, key := secretData(t, s, "tls.crt"), secretData(t, s, "tls.key")
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatalf("%s: key pair: %v", dnsName, err)
	}
	if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("%s: key %T, want ECDSA P-256", dnsName, pair.PrivateKey)
	}
	if got := secretData(t, s, "ca.crt"); string(got) != string(caPEM) {
		t.Errorf("%s: ca.crt is not the CA", dnsName)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parseCert(t, caPEM))
	if _, err := parseCert(t, crt).Verify(x509.VerifyOptions{DNSName: dnsName, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("%s: %v", dnsName, err)
	}
}

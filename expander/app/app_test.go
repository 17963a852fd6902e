package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/klog/v2/ktesting"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/plugins/apis/config"
	"github.com/archfit/archfit/test/harness/carequest"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

const captured = "../../test/testdata/ca-grpc"

type fixture struct {
	reg         *registrytest.Registry
	grpcAddr    string
	metricsAddr string
	dir         string
	ca          *testcerts.CA
	caFile      string
	certFile    string
	keyFile     string
	policyFile  string
	client      protos.ExpanderClient
	conn        *grpc.ClientConn

	multi, amd, arm string
}

func startExpander(t testing.TB, mutate func(*Options)) *fixture {
	t.Helper()
	f := &fixture{reg: registrytest.New(), dir: t.TempDir()}
	t.Cleanup(f.reg.Close)
	f.multi, f.amd, f.arm = f.reg.Host+"/app/multi:1", f.reg.Host+"/app/amd:1", f.reg.Host+"/app/arm:1"
	for _, err := range []error{
		second(f.reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(f.reg.PushImage("app/amd:1", "linux/amd64", false)),
		second(f.reg.PushImage("app/arm:1", "linux/arm64", false)),
		// What the captured CA request asks about, served by the mirror.
		second(f.reg.PushIndex("library/nginx:1.27", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, false, true)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if f.ca, err = testcerts.NewCA("archfit-test-ca"); err != nil {
		t.Fatal(err)
	}
	if f.caFile, f.certFile, f.keyFile, err = f.ca.WriteFiles(f.dir, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	f.policyFile = filepath.Join(f.dir, "policy.yaml")
	f.writePolicy(t, "resolutionBudget: 1s\n")

	o := &Options{
		GRPCAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		TLSCertFile: f.certFile, TLSKeyFile: f.keyFile,
		PolicyFile: f.policyFile, PolicyReloadInterval: 50 * time.Millisecond,
		Flags:         f.reg.ResolverFlags(5 * time.Second),
		ShutdownGrace: 5 * time.Second,
	}
	if mutate != nil {
		mutate(o)
	}
	ready := make(chan [2]string, 1)
	o.Ready = func(g, m string) { ready <- [2]string{g, m} }
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	select {
	case a := <-ready:
		f.grpcAddr, f.metricsAddr = a[0], a[1]
	case err := <-done:
		cancel()
		t.Fatalf("expander did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("expander did not start in time")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("expander stopped with %v", err)
		}
	})
	f.conn, f.client = f.dial(t)
	return f
}

func second(_ string, err error) error { return err }

func (f *fixture) writePolicy(t testing.TB, body string) {
	t.Helper()
	if err := os.WriteFile(f.policyFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dial connects as cluster-autoscaler does: the --grpc-expander-cert file is
// the only trusted root, the server name comes from the URL, and there is
// no client certificate.
func (f *fixture) dial(t testing.TB) (*grpc.ClientConn, protos.ExpanderClient) {
	t.Helper()
	creds, err := credentials.NewClientTLSFromFile(f.caFile, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(128<<20), grpc.MaxCallSendMsgSize(128<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, protos.NewExpanderClient(conn)
}

// ---- requests built as CA builds them ----

type opt struct {
	group, arch, instanceType string
	count                     int32
	pods                      [][]byte
}

func request(opts ...opt) *protos.BestOptionsRequest {
	req := &protos.BestOptionsRequest{NodeBytesMap: map[string][]byte{}}
	for _, o := range opts {
		req.NodeBytesMap[o.group] = carequest.TemplateNode(o.group, o.arch, o.instanceType)
		count := o.count
		if count == 0 {
			count = 1
		}
		req.Options = append(req.Options, &protos.Option{NodeGroupId: o.group, NodeCount: count, PodBytes: o.pods})
	}
	return req
}

func ids(resp *protos.BestOptionsResponse) []string {
	out := []string{}
	for _, o := range resp.GetOptions() {
		out = append(out, o.NodeGroupId)
	}
	sort.Strings(out)
	return out
}

func call(t testing.TB, c protos.ExpanderClient, req *protos.BestOptionsRequest) *protos.BestOptionsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // CA's deadline
	defer cancel()
	resp, err := c.BestOptions(ctx, req)
	if err != nil {
		t.Fatalf("BestOptions: %v", err)
	}
	return resp
}

func TestScenarios(t *testing.T) {
	f := startExpander(t, nil)
	web := func(image string) [][]byte { return [][]byte{carequest.PendingPod("default", "web-0", image, "500m")} }
	tests := []struct {
		name string
		req  *protos.BestOptionsRequest
		want []string
	}{
		{"multi-arch pods grow arm64", request(
			opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: web(f.multi)},
			opt{group: "ng-arm64", arch: "arm64", instanceType: "m7g.large", pods: web(f.multi)}), []string{"ng-arm64"}},
		{"amd64-only pods grow amd64 only", request(
			opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: web(f.amd)},
			opt{group: "ng-arm64", arch: "arm64", instanceType: "m7g.large", pods: web(f.amd)}), []string{"ng-amd64"}},
		{"one amd64-only pod in an option vetoes its arm64 group", request(
			opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: [][]byte{carequest.PendingPod("default", "a", f.multi, "1"), carequest.PendingPod("default", "b", f.amd, "1")}},
			opt{group: "ng-arm64", arch: "arm64", instanceType: "m7g.large", pods: [][]byte{carequest.PendingPod("default", "a", f.multi, "1"), carequest.PendingPod("default", "b", f.amd, "1")}}), []string{"ng-amd64"}},
		{"the cheaper of two arm64 groups", request(
			opt{group: "ng-m7g", arch: "arm64", instanceType: "m7g.large", pods: web(f.multi)},
			opt{group: "ng-m6g", arch: "arm64", instanceType: "m6g.large", pods: web(f.multi)},
			opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: web(f.multi)}), []string{"ng-m6g"}},
		{"truly tied groups are all returned", request(
			opt{group: "ng-arm-a", arch: "arm64", instanceType: "m7g.large", pods: web(f.multi)},
			opt{group: "ng-arm-b", arch: "arm64", instanceType: "m7g.large", pods: web(f.multi)}), []string{"ng-arm-a", "ng-arm-b"}},
		{"cost is per requested vCPU: a group packing more pods wins", request(
			opt{group: "ng-arm-2", arch: "arm64", instanceType: "m7g.large", count: 2, pods: web(f.multi)},
			opt{group: "ng-arm-1", arch: "arm64", instanceType: "m7g.large", count: 1, pods: web(f.multi)}), []string{"ng-arm-1"}},
		{"an unknown image falls back to amd64", request(
			opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: web(f.reg.Host + "/app/missing:1")},
			opt{group: "ng-arm64", arch: "arm64", instanceType: "m7g.large", pods: web(f.reg.Host + "/app/missing:1")}), []string{"ng-amd64"}},
		{"all incompatible: an empty answer vetoes the scale-up", request(
			opt{group: "ng-amd-a", arch: "amd64", pods: web(f.arm)},
			opt{group: "ng-amd-b", arch: "amd64", pods: web(f.arm)}), []string{}},
		{"no options, no answer", &protos.BestOptionsRequest{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := call(t, f.client, tt.req)
			if got := ids(resp); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("chose %v, want %v", got, tt.want)
			}
			sent := map[string]bool{}
			for _, o := range tt.req.Options {
				sent[o.NodeGroupId] = true
			}
			for _, o := range resp.Options {
				if !sent[o.NodeGroupId] {
					t.Fatalf("returned an ID that was not in the request: %s", o.NodeGroupId)
				}
			}
		})
	}
	t.Run("metrics show calls, vetoes and decisions", func(t *testing.T) {
		body := get(t, "http://"+f.metricsAddr+"/metrics")
		lines := map[string]bool{}
		for _, l := range strings.Split(body, "\n") {
			lines[l] = true
		}
		// Exactly what the table above sent and got: nine calls, one veto,
		// the chosen groups by arch (ng-arm-a and ng-arm-b both count), and
		// the options offered and returned.
		for _, want := range []string{
			`archfit_expander_calls_total{code="OK"} 9`,
			`archfit_expander_vetoes_total 1`,
			`archfit_expander_decisions_total{arch="arm64"} 5`,
			`archfit_expander_decisions_total{arch="amd64"} 3`,
			`archfit_expander_options_total{direction="in"} 17`,
			`archfit_expander_options_total{direction="out"} 8`,
		} {
			if !lines[want] {
				t.Errorf("/metrics lacks the line %s", want)
			}
		}
		if !strings.Contains(body, `archfit_resolver_lookups_total{`) {
			t.Error("/metrics lacks the resolver's lookups")
		}
	})
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// The captured requests of every CA version, sent as CA sends them.
func TestCapturedRequestsOverTLS(t *testing.T) {
	f := startExpander(t, nil)
	for _, name := range []string{"request-ca1.35plus.bin", "request-ca1.36.1-captured.bin", "request-legacy-ca1.24-1.34.1.bin", "request-dual-ca1.34.2-1.34.5.bin"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(captured, name))
			if err != nil {
				t.Fatal(err)
			}
			resp := rawCall(t, f, raw)
			if fmt.Sprint(resp) != "[ng-arm64]" {
				t.Fatalf("answer %v, want [ng-arm64] (nginx:1.27 is multi-arch)", resp)
			}
		})
	}
}

// rawCodec passes bytes through untouched: a client that shares no code
// with the server, not even the generated types.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// rawCall sends request bytes and decodes the response by hand with
// protowire: field 1 (options) → field 1 (nodeGroupId).
func rawCall(t testing.TB, f *fixture, req []byte) []string {
	t.Helper()
	resp, err := rawInvoke(f, req)
	if err != nil {
		t.Fatalf("raw BestOptions: %v", err)
	}
	var out []string
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 || typ != protowire.BytesType {
			t.Fatalf("bad response bytes %x", resp)
		}
		resp = resp[n:]
		opt, n := protowire.ConsumeBytes(resp)
		resp = resp[n:]
		if num != 1 {
			continue
		}
		for len(opt) > 0 {
			fnum, ftyp, m := protowire.ConsumeTag(opt)
			opt = opt[m:]
			m = protowire.ConsumeFieldValue(fnum, ftyp, opt)
			if fnum == 1 {
				s, _ := protowire.ConsumeString(opt)
				out = append(out, s)
			}
			opt = opt[m:]
		}
	}
	sort.Strings(out)
	return out
}

func rawInvoke(f *fixture, req []byte) ([]byte, error) {
	creds := credentials.NewTLS(&tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var resp []byte
	err = conn.Invoke(ctx, "/grpcplugin.Expander/BestOptions", &req, &resp)
	return resp, err
}

func TestMalformedRequestsThenAGoodOne(t *testing.T) {
	f := startExpander(t, nil)
	bad := map[string][]byte{
		"garbage bytes":       []byte("\xff\xff\xff\xffnot a protobuf"),
		"truncated field":     {0x0a, 0x10, 0x0a},
		"undecodable pod":     mustMarshal(t, &protos.BestOptionsRequest{Options: []*protos.Option{{NodeGroupId: "ng", PodBytes: [][]byte{{0xff, 0x01}}}}, NodeBytesMap: map[string][]byte{"ng": carequest.TemplateNode("ng", "arm64", "")}}),
		"no template node":    mustMarshal(t, &protos.BestOptionsRequest{Options: []*protos.Option{{NodeGroupId: "ng-missing"}}}),
		"empty node group ID": mustMarshal(t, &protos.BestOptionsRequest{Options: []*protos.Option{{}}}),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := rawInvoke(f, b)
			if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
				t.Fatalf("err = %v, want InvalidArgument with a message", err)
			}
		})
	}
	// The server stays up and serves the next call.
	resp := call(t, f.client, request(opt{group: "ng-arm64", arch: "arm64", pods: [][]byte{carequest.PendingPod("default", "p", f.arm, "1")}}))
	if fmt.Sprint(ids(resp)) != "[ng-arm64]" {
		t.Fatalf("good call after bad ones: %v", ids(resp))
	}
	if body := get(t, "http://"+f.metricsAddr+"/metrics"); !strings.Contains(body, `archfit_expander_calls_total{code="InvalidArgument"} 5`) {
		t.Errorf("InvalidArgument calls not counted:\n%s", grep(body, "archfit_expander_calls_total"))
	}
}

func mustMarshal(t testing.TB, req *protos.BestOptionsRequest) []byte {
	t.Helper()
	b, err := protoMarshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTwoThousandOptionsAndConcurrentCalls(t *testing.T) {
	f := startExpander(t, nil)
	pods := [][]byte{}
	for i := 0; i < 50; i++ {
		img := f.multi
		if i%10 == 0 {
			img = f.amd
		}
		pods = append(pods, carequest.PendingPod("default", fmt.Sprintf("p-%d", i), img, "250m"))
	}
	var opts []opt
	for i := 0; i < 2000; i++ {
		arch, it := "arm64", "m7g.large"
		if i%2 == 0 {
			arch, it = "amd64", "m6i.large"
		}
		if i == 1234 {
			it = "c6i.large" // the cheapest amd64 group
		}
		opts = append(opts, opt{group: fmt.Sprintf("ng-%04d", i), arch: arch, instanceType: it, pods: pods})
	}
	req := request(opts...)
	resp := call(t, f.client, req)
	if fmt.Sprint(ids(resp)) != "[ng-1234]" {
		t.Fatalf("2000 options: chose %v, want [ng-1234] (amd64-only pods rule out arm64; c6i.large is cheapest)", ids(resp))
	}

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				img := f.multi
				want := "[ng-arm64]"
				if (g+i)%2 == 0 {
					img, want = f.amd, "[ng-amd64]"
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := f.client.BestOptions(ctx, request(
					opt{group: "ng-amd64", arch: "amd64", instanceType: "m6i.large", pods: [][]byte{carequest.PendingPod("default", fmt.Sprintf("c-%d-%d", g, i), img, "1")}},
					opt{group: "ng-arm64", arch: "arm64", instanceType: "m7g.large", pods: [][]byte{carequest.PendingPod("default", fmt.Sprintf("c-%d-%d", g, i), img, "1")}}))
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if got := fmt.Sprint(ids(resp)); got != want {
					errs <- fmt.Errorf("goroutine %d call %d: %s, want %s", g, i, got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPriorityTiersAndPolicyHotReload(t *testing.T) {
	f := startExpander(t, nil)
	req := request(
		opt{group: "spot-amd64", arch: "amd64", instanceType: "m6i.large", pods: [][]byte{carequest.PendingPod("default", "p", f.multi, "1")}},
		opt{group: "ondemand-arm64", arch: "arm64", instanceType: "m7g.large", pods: [][]byte{carequest.PendingPod("default", "p", f.multi, "1")}})
	if got := fmt.Sprint(ids(call(t, f.client, req))); got != "[ondemand-arm64]" {
		t.Fatalf("without tiers: %s", got)
	}
	// CA's priority-expander format: the highest matching priority wins,
	// even over the architecture preference.
	f.writePolicy(t, "resolutionBudget: 1s\npriorities:\n  \"50\": [\"^spot-.*\"]\n  \"10\": [\".*\"]\n")
	waitFor(t, func() bool { return fmt.Sprint(ids(call(t, f.client, req))) == "[spot-amd64]" }, "the reloaded priorities")

	// A bad policy is rejected and the last good one stays.
	f.writePolicy(t, "priorities:\n  \"high\": [\"(\"]\n")
	waitFor(t, func() bool {
		return strings.Contains(get(t, "http://"+f.metricsAddr+"/metrics"), `archfit_expander_policy_reloads_total{result="error",source="file"} 1`)
	}, "the rejection to be counted")
	if got := fmt.Sprint(ids(call(t, f.client, req))); got != "[spot-amd64]" {
		t.Fatalf("after a bad policy the last good one must stay: %s", got)
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHealthReadyAndTLS(t *testing.T) {
	f := startExpander(t, nil)
	hc := healthpb.NewHealthClient(f.conn)
	for _, svc := range []string{"", "grpcplugin.Expander"} {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, resp, err)
		}
	}
	if get(t, "http://"+f.metricsAddr+"/healthz") == "" || get(t, "http://"+f.metricsAddr+"/readyz") == "" {
		t.Fatal("healthz/readyz empty")
	}

	// A client that does not trust the server's CA is refused.
	other, _ := testcerts.NewCA("someone-else")
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: other.Pool(), ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := protos.NewExpanderClient(conn).BestOptions(context.Background(), &protos.BestOptionsRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("untrusted CA: err = %v, want Unavailable (handshake failure)", err)
	}

	// Rotation without restart: new files, new certificate on new handshakes.
	before := peerSerial(t, f)
	ca2, _ := testcerts.NewCA("rotated-ca")
	cert, key, err := ca2.Issue("archfit-expander", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.certFile+".new", cert, 0o600)
	os.WriteFile(f.keyFile+".new", key, 0o600)
	os.Rename(f.keyFile+".new", f.keyFile)
	os.Rename(f.certFile+".new", f.certFile)
	waitFor(t, func() bool { return peerSerialWith(t, f, ca2) != "" && peerSerialWith(t, f, ca2) != before }, "the rotated certificate")
}

func peerSerial(t testing.TB, f *fixture) string { return peerSerialWith(t, f, f.ca) }

func peerSerialWith(t testing.TB, f *fixture, ca *testcerts.CA) string {
	t.Helper()
	c, err := tls.Dial("tcp", f.grpcAddr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestMutualTLS(t *testing.T) {
	var clientCA *testcerts.CA
	f := startExpander(t, func(o *Options) {
		var err error
		clientCA, err = testcerts.NewCA("callers")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "client-ca.crt")
		os.WriteFile(p, clientCA.CertPEM, 0o600)
		o.ClientCAFile = p
	})
	// CA-style client without a certificate: refused.
	if _, err := f.client.BestOptions(context.Background(), &protos.BestOptionsRequest{}); err == nil {
		t.Fatal("a client without a certificate was served under --client-ca-file")
	}
	cert, key, _ := clientCA.Issue("caller")
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := protos.NewExpanderClient(conn).BestOptions(context.Background(), &protos.BestOptionsRequest{}); err != nil {
		t.Fatalf("client with a certificate from the client CA: %v", err)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	with := func(set func(*config.ResolverConfig)) resolverflags.Flags { return resolverflags.Defaults().With(set) }
	for name, tc := range map[string]struct {
		o    *Options
		want string
	}{
		"no TLS": {&Options{Flags: resolverflags.Defaults(), PolicyReloadInterval: time.Second}, "--tls-cert-file"},
		"bad policy": {&Options{TLSCertFile: "c", TLSKeyFile: "k", PolicyReloadInterval: time.Second,
			Flags: with(func(c *config.ResolverConfig) { c.UnknownImagePolicy = "Maybe" })}, "--unknown-image-policy: Unsupported value: \"Maybe\""},
		"pull secrets": {&Options{TLSCertFile: "c", TLSKeyFile: "k", UsePullSecrets: true, PolicyReloadInterval: time.Second,
			Flags: resolverflags.Defaults()}, "--use-pull-secrets"},
		"bad registry": {&Options{TLSCertFile: "c", TLSKeyFile: "k", PolicyReloadInterval: time.Second,
			Flags: with(func(c *config.ResolverConfig) { c.InsecureRegistries = []string{"http://x/"} })}, "--insecure-registry: Invalid value: \"http://x/\""},
		"empty fallback": {&Options{TLSCertFile: "c", TLSKeyFile: "k", PolicyReloadInterval: time.Second,
			Flags: with(func(c *config.ResolverConfig) { c.FallbackArchitectures = nil })}, "--fallback-architectures: Required value"},
		"zero cache": {&Options{TLSCertFile: "c", TLSKeyFile: "k", PolicyReloadInterval: time.Second,
			Flags: with(func(c *config.ResolverConfig) { c.CacheSize = 0 })}, "--cache-size: Invalid value: 0: must be at least 1"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	expanderapp "github.com/archfit/archfit/expander/app"
	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/carequest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// expanderServer is the real archfit-expander, started the way the demo and
// the benchmarks embed it, with TLS from a throwaway CA and a policy file
// this harness rewrites.
type expanderServer struct {
	grpcAddr, metricsAddr string
	caFile, policyFile    string
	stop                  func() error
}

// policyVariants are the policies the writer cycles through. The last is
// invalid on purpose: the expander must reject it and keep the last good
// policy, every few seconds, for the whole run.
func policyVariants() []string {
	return []string{
		"resolutionBudget: 1s\n",
		"resolutionBudget: 800ms\narchitecturePreference: [amd64, arm64]\n",
		"resolutionBudget: 1s\npriorities:\n  \"50\": [\"-arm64-\"]\n  \"10\": [\".*\"]\n",
		"resolutionBudget: 1s\ncostTieTolerance: 0.2\narchitectureWeights: {arm64: 0.7, amd64: 1.0}\n",
		"resolutionBudget: [not a duration\n",
	}
}

func startExpander(ctx context.Context, dir string, p *pool, requestTimeout time.Duration) (*expanderServer, error) {
	ca, err := testcerts.NewCA("archfit-soak")
	if err != nil {
		return nil, err
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(dir, "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	s := &expanderServer{caFile: caFile, policyFile: filepath.Join(dir, "policy.yaml")}
	if err := writeAtomically(s.policyFile, policyVariants()[0]); err != nil {
		return nil, err
	}
	s.grpcAddr, s.metricsAddr, s.stop, err = expanderapp.Start(ctx, &expanderapp.Options{
		GRPCAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile,
		PolicyFile: s.policyFile, PolicyReloadInterval: 500 * time.Millisecond,
		Flags:         p.reg.ResolverFlags(requestTimeout),
		ShutdownGrace: 5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// writeAtomically replaces the file by rename, as a ConfigMap volume update
// does, so the expander never reads half a policy.
func writeAtomically(path, body string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rewritePolicies writes the next variant every period until ctx ends and
// returns how many it wrote and how many of those were invalid.
func rewritePolicies(ctx context.Context, path string, period time.Duration) (written, invalid int) {
	variants := policyVariants()
	t := time.NewTicker(period)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return written, invalid
		case <-t.C:
		}
		v := i % len(variants)
		if err := writeAtomically(path, variants[v]); err != nil {
			fmt.Fprintf(os.Stderr, "soak: rewriting the policy: %v\n", err)
			continue
		}
		written++
		if v == len(variants)-1 {
			invalid++
		}
	}
}

// expanderMetrics is what the harness reads back from the expander's own
// /metrics at the end.
type expanderMetrics struct {
	reloadsOK, reloadsError uint64
	callsByCode             map[string]uint64
	cacheHit, cacheMiss     uint64
}

func scrapeExpander(addr string) (expanderMetrics, error) {
	m := expanderMetrics{callsByCode: map[string]uint64{}}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		n := uint64(v)
		series := line[:sp]
		switch {
		case strings.HasPrefix(series, "archfit_expander_policy_reloads_total{") && strings.Contains(series, `source="file"`):
			if strings.Contains(series, `result="ok"`) {
				m.reloadsOK += n
			} else {
				m.reloadsError += n
			}
		case strings.HasPrefix(series, "archfit_expander_calls_total{"):
			if _, code, ok := strings.Cut(series, `code="`); ok {
				m.callsByCode[strings.TrimSuffix(code, `"}`)] += n
			}
		case series == `archfit_resolver_cache_requests_total{outcome="hit"}`:
			m.cacheHit = n
		case series == `archfit_resolver_cache_requests_total{outcome="miss"}`:
			m.cacheMiss = n
		}
	}
	return m, sc.Err()
}

// violations are answers that must never happen. They fail the run however
// few there are.
type violations struct {
	foreignGroup   atomic.Uint64 // an answer names a group the request did not offer
	changedCount   atomic.Uint64 // an answer changes an offered group's node count
	malformedOK    atomic.Uint64 // a malformed request was answered
	mu             sync.Mutex
	examples       []string
	examplesCapped bool
}

func (v *violations) note(counter *atomic.Uint64, format string, args ...any) {
	counter.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.examples) < 5 {
		v.examples = append(v.examples, fmt.Sprintf(format, args...))
	} else {
		v.examplesCapped = true
	}
}

// load is cluster-autoscaler's side: clients, each with its own TLS
// connection, sending BestOptions at a steady rate.
type load struct {
	srv       *expanderServer
	pool      *pool
	sweep     *sweep // the expander's own pass over the pool
	clients   int
	rate      float64
	malformed int // per mille of requests
	good, bad *series
	viol      *violations
	gate      *gate
}

func (l *load) run(ctx context.Context, seed uint64) error {
	creds, err := credentials.NewClientTLSFromFile(l.srv.caFile, "")
	if err != nil {
		return err
	}
	conns := make([]*grpc.ClientConn, l.clients)
	for i := range conns {
		// As cluster-autoscaler dials: the CA file is the only trusted root,
		// no client certificate.
		if conns[i], err = grpc.NewClient(l.srv.grpcAddr, grpc.WithTransportCredentials(creds)); err != nil {
			return err
		}
		defer conns[i].Close()
	}
	every := time.Duration(float64(time.Second) * float64(l.clients) / l.rate)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := &client{load: l, id: c, conn: conns[c], api: protos.NewExpanderClient(conns[c]), rng: rand.New(rand.NewPCG(seed, uint64(100+c)))}
			paced(ctx, every, func(seq int) { l.gate.do(func() { cl.once(ctx, seq) }) })
		}(c)
	}
	wg.Wait()
	return nil
}

type client struct {
	*load
	id   int
	conn *grpc.ClientConn
	api  protos.ExpanderClient
	rng  *rand.Rand
}

// callTimeout is cluster-autoscaler's deadline for one expander call.
const callTimeout = 5 * time.Second

func (c *client) once(ctx context.Context, seq int) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if c.rng.IntN(1000) < c.malformed {
		outcome := c.sendMalformed(cctx, seq)
		if ctx.Err() == nil {
			c.bad.record(0, outcome, false)
		}
		return
	}
	req, offered := c.wellFormed(seq)
	start := time.Now()
	resp, err := c.api.BestOptions(cctx, req)
	d := time.Since(start)
	if ctx.Err() != nil {
		return // the run ended under this call
	}
	if err != nil {
		c.good.record(d, "err:"+status.Code(err).String(), true)
		return
	}
	outcome := "vetoed"
	for _, o := range resp.GetOptions() {
		want, ok := offered[o.NodeGroupId]
		switch {
		case !ok:
			c.viol.note(&c.viol.foreignGroup, "client %d request %d: answer names %q, offered %v", c.id, seq, o.NodeGroupId, keys(offered))
		case o.NodeCount != want:
			c.viol.note(&c.viol.changedCount, "client %d request %d: answer gives %q %d nodes, offered %d", c.id, seq, o.NodeGroupId, o.NodeCount, want)
		}
		outcome = archOf(o.NodeGroupId)
	}
	c.good.record(d, outcome, true)
}

func keys(m map[string]int32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func archOf(group string) string {
	for _, a := range []string{"arm64", "amd64"} {
		if strings.Contains(group, "-"+a+"-") {
			return a
		}
	}
	return "other"
}

// instanceTypes are the template nodes' instance types by arch. "" leaves
// the label off, so the policy's architecture weights price the node.
func instanceTypes(arch string) []string {
	if arch == "arm64" {
		return []string{"m7g.large", "m6g.large", ""}
	}
	return []string{"m6i.large", "c6i.large", ""}
}

// wellFormed builds a request as cluster-autoscaler does: 2 to 5 options
// on arm64 and amd64 templates, each with the same pending pods. Group IDs
// are unique to the request, so an answer taken from another request or a
// stale cache shows as a group that was not offered.
func (c *client) wellFormed(seq int) (*protos.BestOptionsRequest, map[string]int32) {
	var pods [][]byte
	for p := 0; p < 1+c.rng.IntN(4); p++ {
		pods = append(pods, c.pod(fmt.Sprintf("c%d-%d-%d", c.id, seq, p)))
	}
	// One call in ten is shaped as CA 1.24–1.34 sends it (nodeMap, pod).
	legacy := c.rng.IntN(10) == 0
	req := &protos.BestOptionsRequest{}
	offered := map[string]int32{}
	for k := 0; k < 2+c.rng.IntN(4); k++ {
		arch := []string{"arm64", "amd64"}[c.rng.IntN(2)]
		its := instanceTypes(arch)
		id := fmt.Sprintf("c%d-%d-%s-%d", c.id, seq, arch, k)
		count := int32(1 + c.rng.IntN(3))
		offered[id] = count
		node := carequest.TemplateNode(id, arch, its[c.rng.IntN(len(its))])
		o := &protos.Option{NodeGroupId: id, NodeCount: count}
		if legacy {
			if req.NodeMap == nil {
				req.NodeMap = map[string][]byte{}
			}
			req.NodeMap[id], o.Pod = node, pods
		} else {
			if req.NodeBytesMap == nil {
				req.NodeBytesMap = map[string][]byte{}
			}
			req.NodeBytesMap[id], o.PodBytes = node, pods
		}
		req.Options = append(req.Options, o)
	}
	return req, offered
}

// pod is a pending pod with 1 to 3 containers. Most images are the next
// ones of the expander's pass over the pool (so its resolver's caches churn
// as the soak resolver's do), some are always-healthy images, some are on a
// registry the expander may not contact (loopback, not allowed), and one
// pod in ten names its platforms in the annotation and needs no lookup.
func (c *client) pod(name string) []byte {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "soak", Name: name, UID: types.UID("uid-" + name)}}
	override := c.rng.IntN(10) == 0
	if override {
		p.Annotations = map[string]string{imageplatform.PlatformsAnnotation: []string{"linux/amd64", "linux/arm64", "linux/amd64,linux/arm64"}[c.rng.IntN(3)]}
	}
	for i := 0; i < 1+c.rng.IntN(3); i++ {
		var image string
		switch x := c.rng.IntN(100); {
		case override || (x >= 80 && x < 92):
			image = c.pool.hot[c.rng.IntN(len(c.pool.hot))]
		case x < 80:
			idx, _ := c.sweep.take()
			image = c.pool.refs[idx]
		default:
			image = fmt.Sprintf("127.0.0.1:1/elsewhere/app-%d:1", c.rng.IntN(1000))
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}})
	}
	b, err := p.Marshal()
	if err != nil {
		panic(err) // a Pod the harness built always marshals
	}
	return b
}

// malformedKinds are the requests expander/decide.go's decode and the
// server's own method handler refuse.
func malformedKinds() []string {
	return []string{"empty group ID", "no template node", "undecodable node", "undecodable pod", "not a protobuf", "truncated message"}
}

// sendMalformed sends one malformed request and returns its outcome.
func (c *client) sendMalformed(ctx context.Context, seq int) string {
	kinds := malformedKinds()
	kind := kinds[c.rng.IntN(len(kinds))]
	req, _ := c.wellFormed(seq)
	garbage := []byte{0xff, 0x01}
	var raw []byte
	switch kind {
	case "empty group ID":
		req.Options[c.rng.IntN(len(req.Options))].NodeGroupId = ""
	case "no template node":
		req.Options = append(req.Options, &protos.Option{NodeGroupId: fmt.Sprintf("c%d-%d-missing", c.id, seq), NodeCount: 1, PodBytes: req.Options[0].PodBytes, Pod: req.Options[0].Pod})
	case "undecodable node":
		id := req.Options[0].NodeGroupId
		if req.NodeMap != nil {
			req.NodeMap[id] = garbage
		} else {
			req.NodeBytesMap[id] = garbage
		}
	case "undecodable pod":
		o := req.Options[0]
		if o.Pod != nil {
			o.Pod = append([][]byte{garbage}, o.Pod...)
		} else {
			o.PodBytes = append([][]byte{garbage}, o.PodBytes...)
		}
	case "not a protobuf":
		raw = []byte("\xff\xff\xff\xffnot a protobuf")
	case "truncated message":
		// Every top-level field is length-delimited, so dropping the last
		// byte always leaves the last field shorter than it says.
		b, err := proto.Marshal(req)
		if err != nil {
			panic(err)
		}
		raw = b[:len(b)-1]
	}
	var err error
	if raw != nil {
		var resp []byte
		err = c.conn.Invoke(ctx, "/grpcplugin.Expander/BestOptions", &raw, &resp, grpc.ForceCodecV2(rawCodec{}))
	} else {
		_, err = c.api.BestOptions(ctx, req)
	}
	switch code := status.Code(err); {
	case err == nil:
		c.viol.note(&c.viol.malformedOK, "client %d request %d (%s) was answered instead of refused", c.id, seq, kind)
		return "answered"
	case code == codes.InvalidArgument:
		return "rejected"
	default:
		return "err:" + code.String()
	}
}

// rawCodec sends bytes as they are, for requests that are not a valid
// BestOptionsRequest and so cannot be built from the generated types.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*(v.(*[]byte)))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

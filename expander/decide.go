package expander

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

// ErrInvalidRequest marks a request that cannot be decoded; the server maps
// it to codes.InvalidArgument.
var ErrInvalidRequest = errors.New("invalid BestOptions request")

// Decider chooses among CA's options. The metrics decorator and the gRPC
// adapter both wrap this interface.
type Decider interface {
	Decide(ctx context.Context, req *protos.BestOptionsRequest) (*Decision, error)
}

// Decision is the answer and why.
type Decision struct {
	// Options is the response: the chosen options as CA sent them (without
	// pods, which CA ignores in responses).
	Options []*protos.Option
	Chosen  []Verdict
	Dropped []Verdict
	// Vetoed is true when there were options and none could run the pods.
	Vetoed bool
	// Pods are the decoded pending pods, for Events.
	Pods []*corev1.Pod
	In   int
}

// Verdict explains one option.
type Verdict struct {
	ID          string
	OS, Arch    string
	Priority    int
	Matched     bool
	CostPerVCPU float64
	Reason      string
}

// EventSink records Events on pods; nil when the expander has no
// Kubernetes access.
type EventSink interface {
	Eventf(pod *corev1.Pod, eventType, reason, format string, args ...any)
}

// Engine is the Decider: decode, filter by the shared whole-pod rule, rank.
type Engine struct {
	Resolver  imageplatform.Resolver
	PodPolicy imageplatform.PodPolicy
	// Policy returns the current policy (hot-reloaded by the caller).
	Policy func() *Policy
	// Tiers, when it returns ok, overrides the policy's priorities (the
	// watched priority ConfigMap).
	Tiers func() (Tiers, bool)
	// Credentials for a pod's lookups; nil means anonymous.
	Credentials func(ctx context.Context, pod *corev1.Pod) imageplatform.Credentials
	Events      EventSink
}

var _ Decider = (*Engine)(nil)

type option struct {
	src   *protos.Option
	node  *corev1.Node
	pods  []*podEntry
	os    string
	arch  string
	cpu   float64
	nodeK string
}

type podEntry struct {
	pod *corev1.Pod
	cpu float64 // requested vCPU, computed once per distinct pod
	pp  imageplatform.PodPlatforms
}

// decode turns CA's bytes into objects. Every distinct pod and template node
// is decoded once, however many options repeat it: CA sends the same pending
// pods in many options.
func decode(req *protos.BestOptionsRequest) ([]*option, []*podEntry, error) {
	nodes := map[string]*corev1.Node{}
	pods := map[string]*podEntry{}
	var order []*podEntry
	var out []*option
	for i, o := range req.GetOptions() {
		if o == nil || o.NodeGroupId == "" {
			return nil, nil, fmt.Errorf("%w: options[%d]: empty nodeGroupId", ErrInvalidRequest, i)
		}
		raw, ok := req.NodeBytesMap[o.NodeGroupId]
		if !ok {
			raw, ok = req.NodeMap[o.NodeGroupId]
		}
		if !ok {
			return nil, nil, fmt.Errorf("%w: options[%d] (%s): no template node in nodeBytesMap or nodeMap", ErrInvalidRequest, i, o.NodeGroupId)
		}
		node, ok := nodes[o.NodeGroupId]
		if !ok {
			node = &corev1.Node{}
			if err := node.Unmarshal(raw); err != nil {
				return nil, nil, fmt.Errorf("%w: template node of %s: %v", ErrInvalidRequest, o.NodeGroupId, err)
			}
			nodes[o.NodeGroupId] = node
		}
		opt := &option{src: o, node: node}
		opt.os, opt.arch, _ = imageplatform.NodePlatform(node)
		podBytes := o.PodBytes
		if len(podBytes) == 0 {
			podBytes = o.Pod
		}
		for j, b := range podBytes {
			e, ok := pods[string(b)]
			if !ok {
				p := &corev1.Pod{}
				if err := p.Unmarshal(b); err != nil {
					return nil, nil, fmt.Errorf("%w: options[%d] (%s) pod %d: %v", ErrInvalidRequest, i, o.NodeGroupId, j, err)
				}
				e = &podEntry{pod: p, cpu: cost.PodVCPU(&p.Spec)}
				pods[string(b)] = e
				order = append(order, e)
			}
			opt.pods = append(opt.pods, e)
			opt.cpu += e.cpu
		}
		out = append(out, opt)
	}
	return out, order, nil
}

// Decide implements Decider.
func (e *Engine) Decide(ctx context.Context, req *protos.BestOptionsRequest) (*Decision, error) {
	opts, pods, err := decode(req)
	if err != nil {
		return nil, err
	}
	policy := e.Policy()
	d := &Decision{In: len(opts)}
	for _, p := range pods {
		d.Pods = append(d.Pods, p.pod)
	}
	if len(opts) == 0 {
		return d, nil
	}
	e.evaluate(ctx, policy, pods)

	tiers := policy.tiers
	if e.Tiers != nil {
		if t, ok := e.Tiers(); ok {
			tiers = t
		}
	}
	cands := make([]*candidate, len(opts))
	for i, o := range opts {
		cands[i] = &candidate{opt: o, v: Verdict{ID: o.src.NodeGroupId, OS: o.os, Arch: o.arch}}
	}
	kept, dropped := chain(cands,
		compatible{},
		priorityTier{tiers},
		archPreference{policy},
		costBand{policy.prices, policy.CostTieTolerance},
	)
	for _, c := range dropped {
		d.Dropped = append(d.Dropped, c.v)
	}
	if len(kept) == 0 {
		d.Vetoed = true
		e.explainVeto(ctx, d)
		return d, nil
	}
	for _, c := range kept {
		d.Chosen = append(d.Chosen, c.v)
		d.Options = append(d.Options, &protos.Option{
			NodeGroupId: c.opt.src.NodeGroupId,
			NodeCount:   c.opt.src.NodeCount,
			Debug:       fmt.Sprintf("archfit: %s/%s, priority %d, %.4f per requested vCPU-hour", c.v.OS, c.v.Arch, c.v.Priority, c.v.CostPerVCPU),
		})
	}
	return d, nil
}

// evaluate runs the whole-pod rule for each distinct pod, in parallel and
// within the policy's budget. Lookups still running at the deadline count
// as unknown images and follow the unknown-image policy.
func (e *Engine) evaluate(ctx context.Context, policy *Policy, pods []*podEntry) {
	ctx, cancel := context.WithTimeout(ctx, policy.ResolutionBudget.Duration)
	defer cancel()
	work := make(chan *podEntry)
	var wg sync.WaitGroup
	for i := 0; i < min(16, len(pods)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				creds := imageplatform.Credentials{}
				if e.Credentials != nil {
					creds = e.Credentials(ctx, p.pod)
				}
				p.pp = imageplatform.EvaluatePod(ctx, p.pod, e.PodPolicy, func(ctx context.Context, image string) imageplatform.Result {
					return e.Resolver.Resolve(ctx, imageplatform.Request{Image: image, Credentials: creds})
				})
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
}

// incompatible returns why the option's template cannot run one of its
// pods, or "".
func incompatible(o *option) string {
	for _, p := range o.pods {
		if p.pp.Allows(o.os, o.arch) {
			continue
		}
		what := "its images or affinity allow " + p.pp.Describe()
		if b := p.pp.BlockingImages(o.os, o.arch); len(b) > 0 {
			what = "image(s) " + strings.Join(b, ", ") + " lack " + o.os + "/" + o.arch
		} else if len(p.pp.Unknown)+len(p.pp.Pending) > 0 {
			what = "its image platforms are unknown and the unknown-image policy allows " + p.pp.Describe()
		}
		return fmt.Sprintf("pod %s/%s cannot run on %s/%s: %s", p.pod.Namespace, p.pod.Name, o.os, o.arch, what)
	}
	return ""
}

func (e *Engine) explainVeto(ctx context.Context, d *Decision) {
	var reasons []string
	for _, v := range d.Dropped {
		reasons = append(reasons, v.ID+": "+v.Reason)
	}
	msg := strings.Join(reasons, "; ")
	klog.FromContext(ctx).Info("vetoed scale-up: no offered node group can run the pending pods' images", "options", d.In, "reasons", msg)
	if e.Events != nil && len(d.Pods) > 0 {
		e.Events.Eventf(d.Pods[0], corev1.EventTypeWarning, "ArchFitScaleUpVetoed",
			"archfit-expander refused every node group cluster-autoscaler offered, to avoid nodes these images cannot run on: %s", msg)
	}
}

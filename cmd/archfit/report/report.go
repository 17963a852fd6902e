// Package report is `archfit report`: for each workload in a cluster, is it
// arm64-ready, which image blocks it, what it requests, and what it would
// cost per month on the cheapest architecture its images support.
package report

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

// HoursPerMonth is the usual cloud-billing month.
const HoursPerMonth = 730

// Options configure a scan.
type Options struct {
	Client    kubernetes.Interface
	Resolver  imageplatform.Resolver
	Prices    *cost.Model
	Namespace string // empty: all namespaces
	// UsePullSecrets reads the pods' pull secrets (and their service
	// accounts') to authenticate, as the kubelet would.
	UsePullSecrets bool
	Progress       io.Writer
}

// Row is one workload.
type Row struct {
	Namespace      string   `json:"namespace"`
	Kind           string   `json:"kind"`
	Name           string   `json:"name"`
	Replicas       int      `json:"replicas"`
	CPU            float64  `json:"cpu"`
	MemoryGiB      float64  `json:"memoryGiB"`
	Arm64Ready     string   `json:"arm64Ready"` // yes, no or unknown
	BlockingImages []string `json:"blockingImages,omitempty"`
	ImageErrors    []string `json:"imageErrors,omitempty"`
	CheapestArch   string   `json:"cheapestArch"`
	// ProjectedMonthly is the CPU requested × the cheapest compatible
	// arch's price per vCPU-hour × 730 h.
	ProjectedMonthly float64 `json:"projectedMonthly"`
	// AMD64Monthly is the same on amd64, the usual starting point.
	AMD64Monthly float64 `json:"amd64Monthly"`
}

// Rollup sums a namespace.
type Rollup struct {
	Namespace        string  `json:"namespace"`
	Workloads        int     `json:"workloads"`
	Arm64Ready       int     `json:"arm64Ready"`
	CPU              float64 `json:"cpu"`
	MemoryGiB        float64 `json:"memoryGiB"`
	ProjectedMonthly float64 `json:"projectedMonthly"`
	AMD64Monthly     float64 `json:"amd64Monthly"`
}

// Report is a scan's result.
type Report struct {
	Rows         []Row              `json:"workloads"`
	Namespaces   []Rollup           `json:"namespaces"`
	PricePerVCPU map[string]float64 `json:"pricePerVCPUHour"`
	PriceSource  map[string]string  `json:"priceSource"`
	Currency     string             `json:"currency"`
}

type workload struct {
	kind, namespace, name string
	replicas              int
	spec                  corev1.PodSpec
}

// Run scans the cluster. Registry failures are reported per image and never
// abort the scan.
func Run(ctx context.Context, o Options) (*Report, error) {
	ws, err := list(ctx, o.Client, o.Namespace)
	if err != nil {
		return nil, err
	}
	rep := &Report{PricePerVCPU: map[string]float64{}, PriceSource: map[string]string{}, Currency: o.Prices.Table().Currency}
	if err := rep.prices(ctx, o); err != nil {
		return nil, err
	}
	cache := newAPICache(ctx, o.Client)
	for i, w := range ws {
		if o.Progress != nil && (i%10 == 0 || i == len(ws)-1) {
			fmt.Fprintf(o.Progress, "resolving images: workload %d of %d (%s/%s)\n", i+1, len(ws), w.namespace, w.name)
		}
		rep.Rows = append(rep.Rows, rep.row(ctx, o, cache, w))
	}
	rep.rollup()
	return rep, nil
}

// prices takes each arch's cheapest price per vCPU among the cluster's
// nodes; for an arch the cluster has no node of yet (often arm64), the
// cheapest instance type of that arch in the price table.
func (rep *Report) prices(ctx context.Context, o Options) error {
	nodes, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		_, arch, ok := imageplatform.NodePlatform(n)
		if !ok {
			continue
		}
		p := o.Prices.NodePrice(n, arch, n.Status.Allocatable.Cpu().MilliValue()).PerVCPU
		if cur, ok := rep.PricePerVCPU[arch]; !ok || p < cur {
			rep.PricePerVCPU[arch] = p
			rep.PriceSource[arch] = "node " + n.Name
		}
	}
	for name, it := range o.Prices.Table().InstanceTypes {
		if _, fromNodes := rep.PriceSource[it.Arch]; fromNodes && !strings.HasPrefix(rep.PriceSource[it.Arch], "table ") {
			continue
		}
		p := it.HourlyPrice / float64(it.VCPU)
		if cur, ok := rep.PricePerVCPU[it.Arch]; !ok || p < cur {
			rep.PricePerVCPU[it.Arch] = p
			rep.PriceSource[it.Arch] = "table " + name
		}
	}
	return nil
}

// apiCache reads each Secret and ServiceAccount once per scan: workloads
// in a namespace mostly share the same ones.
type apiCache struct {
	ctx      context.Context
	client   kubernetes.Interface
	secrets  map[string]*corev1.Secret
	accounts map[string]*corev1.ServiceAccount
	errs     map[string]error
}

func newAPICache(ctx context.Context, client kubernetes.Interface) *apiCache {
	return &apiCache{ctx: ctx, client: client, secrets: map[string]*corev1.Secret{},
		accounts: map[string]*corev1.ServiceAccount{}, errs: map[string]error{}}
}

func (c *apiCache) secret(ns, name string) (*corev1.Secret, error) {
	k := "secret/" + ns + "/" + name
	if s, ok := c.secrets[k]; ok {
		return s, c.errs[k]
	}
	s, err := c.client.CoreV1().Secrets(ns).Get(c.ctx, name, metav1.GetOptions{})
	c.secrets[k], c.errs[k] = s, err
	return s, err
}

func (c *apiCache) account(ns, name string) (*corev1.ServiceAccount, error) {
	k := "sa/" + ns + "/" + name
	if a, ok := c.accounts[k]; ok {
		return a, c.errs[k]
	}
	a, err := c.client.CoreV1().ServiceAccounts(ns).Get(c.ctx, name, metav1.GetOptions{})
	c.accounts[k], c.errs[k] = a, err
	return a, err
}

func (rep *Report) row(ctx context.Context, o Options, api *apiCache, w workload) Row {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: w.name}, Spec: w.spec}
	creds := imageplatform.Credentials{}
	if o.UsePullSecrets {
		c, err := imageplatform.CredentialsForPod(ctx, pod, api.secret, api.account)
		if err == nil {
			creds = c
		}
	}
	pp := imageplatform.EvaluatePod(ctx, pod, imageplatform.PodPolicy{Unknown: imageplatform.PolicyAllowAll}, func(ctx context.Context, img string) imageplatform.Result {
		return o.Resolver.Resolve(ctx, imageplatform.Request{Image: img, Credentials: creds})
	})
	milliCPU, mem := cost.PodRequests(&w.spec)
	r := Row{Namespace: w.namespace, Kind: w.kind, Name: w.name, Replicas: w.replicas,
		CPU: round(float64(milliCPU) / 1000 * float64(w.replicas)), MemoryGiB: round(float64(mem) * float64(w.replicas) / (1 << 30))}
	for _, u := range pp.Unknown {
		r.ImageErrors = append(r.ImageErrors, fmt.Sprintf("%s: %s", u.Result.Image, imageplatform.ErrorReason(u.Result.Err)))
	}
	r.BlockingImages = pp.BlockingImages("linux", "arm64")
	switch {
	case len(r.BlockingImages) > 0 || (!pp.Unconstrained && !pp.Allows("linux", "arm64") && len(pp.Unknown) == 0):
		r.Arm64Ready = "no"
	case len(pp.Unknown) > 0:
		r.Arm64Ready = "unknown"
	default:
		r.Arm64Ready = "yes"
	}
	best := math.Inf(1)
	for arch, p := range rep.PricePerVCPU {
		if (r.Arm64Ready == "unknown" && arch != "amd64") || !pp.Allows("linux", arch) {
			continue // an unknown image is priced where it runs today: amd64
		}
		if p < best || (p == best && arch < r.CheapestArch) {
			best, r.CheapestArch = p, arch
		}
	}
	if r.CheapestArch != "" {
		r.ProjectedMonthly = round(r.CPU * best * HoursPerMonth)
	}
	r.AMD64Monthly = round(r.CPU * rep.PricePerVCPU["amd64"] * HoursPerMonth)
	return r
}

func (rep *Report) rollup() {
	by := map[string]*Rollup{}
	for _, r := range rep.Rows {
		ru := by[r.Namespace]
		if ru == nil {
			ru = &Rollup{Namespace: r.Namespace}
			by[r.Namespace] = ru
		}
		ru.Workloads++
		if r.Arm64Ready == "yes" {
			ru.Arm64Ready++
		}
		ru.CPU = round(ru.CPU + r.CPU)
		ru.MemoryGiB = round(ru.MemoryGiB + r.MemoryGiB)
		ru.ProjectedMonthly = round(ru.ProjectedMonthly + r.ProjectedMonthly)
		ru.AMD64Monthly = round(ru.AMD64Monthly + r.AMD64Monthly)
	}
	for _, ru := range by {
		rep.Namespaces = append(rep.Namespaces, *ru)
	}
	sort.Slice(rep.Namespaces, func(i, j int) bool { return rep.Namespaces[i].Namespace < rep.Namespaces[j].Namespace })
}

func round(f float64) float64 { return math.Round(f*100) / 100 }

func list(ctx context.Context, cs kubernetes.Interface, ns string) ([]workload, error) {
	var out []workload
	opts := metav1.ListOptions{}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing Deployments: %w", err)
	}
	for _, d := range deps.Items {
		out = append(out, workload{"Deployment", d.Namespace, d.Name, int(ptrOr(d.Spec.Replicas, 1)), d.Spec.Template.Spec})
	}
	sts, err := cs.AppsV1().StatefulSets(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing StatefulSets: %w", err)
	}
	for _, s := range sts.Items {
		out = append(out, workload{"StatefulSet", s.Namespace, s.Name, int(ptrOr(s.Spec.Replicas, 1)), s.Spec.Template.Spec})
	}
	dss, err := cs.AppsV1().DaemonSets(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing DaemonSets: %w", err)
	}
	for _, d := range dss.Items {
		out = append(out, workload{"DaemonSet", d.Namespace, d.Name, max(int(d.Status.DesiredNumberScheduled), 1), d.Spec.Template.Spec})
	}
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing Jobs: %w", err)
	}
	for _, j := range jobs.Items {
		if owned(j.OwnerReferences, "CronJob") {
			continue // reported through its CronJob
		}
		out = append(out, workload{"Job", j.Namespace, j.Name, int(ptrOr(j.Spec.Parallelism, 1)), j.Spec.Template.Spec})
	}
	cjs, err := cs.BatchV1().CronJobs(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing CronJobs: %w", err)
	}
	for _, c := range cjs.Items {
		out = append(out, workload{"CronJob", c.Namespace, c.Name, int(ptrOr(c.Spec.JobTemplate.Spec.Parallelism, 1)), c.Spec.JobTemplate.Spec.Template.Spec})
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing Pods: %w", err)
	}
	for _, p := range pods.Items {
		if len(p.OwnerReferences) == 0 && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, workload{"Pod", p.Namespace, p.Name, 1, p.Spec})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].namespace != out[j].namespace {
			return out[i].namespace < out[j].namespace
		}
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

func owned(refs []metav1.OwnerReference, kind string) bool {
	for _, r := range refs {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

func ptrOr(p *int32, d int32) int32 {
	if p == nil {
		return d
	}
	return *p
}

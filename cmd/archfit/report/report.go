// Package report is `archfit report`: for each workload in a cluster, is it
// arm64-ready, which image blocks it, what it requests, and what it would
// cost per month on the cheapest architecture its images support; and for
// each Deployment and StatefulSet, how far its migration to arm64 has gone.
package report

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/planner"
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
	// RollbackRecords is the ConfigMap (namespace/name) of migration's
	// rollback records; empty reads none. The command line defaults it to
	// DefaultRollbackRecords, where the migration controller writes them.
	RollbackRecords string
}

// DefaultRollbackRecords is the ConfigMap the migration controller and the
// scheduler use unless configured otherwise.
const DefaultRollbackRecords = "archfit/archfit-rollbacks"

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
	// Migration is set for Deployments and StatefulSets, the workloads
	// migration moves.
	Migration *Migration `json:"migration,omitempty"`
}

// Migration is how far a workload's move to arm64 has gone.
type Migration struct {
	// Target is the TargetAnnotation text: the workload's own, else its
	// namespace's (TargetFromNamespace).
	Target              string `json:"target,omitempty"`
	TargetFromNamespace bool   `json:"targetFromNamespace,omitempty"`
	TargetError         string `json:"targetError,omitempty"`
	// TargetPercent is the arm64 share of the ramp step in force.
	TargetPercent int    `json:"targetPercent"`
	Paused        string `json:"paused,omitempty"`
	// ARM64Pods of its Pods run on arm64 nodes. Pods counts the pods that
	// are bound, not terminating, not finished and on a node of known arch,
	// as the scheduler and the controller count replicas.
	ARM64Pods int `json:"arm64Pods"`
	Pods      int `json:"pods"`
	// SavedMonthly is what the pods on arm64 save: their vCPU requests ×
	// (the cheapest amd64 price per vCPU − the cheapest arm64 one) × 730 h.
	SavedMonthly float64 `json:"savedMonthly"`
	// ToGainMonthly is the same for the pods on other arches, when the
	// workload is arm64-ready and a pod's running image has no arm64
	// rollback record.
	ToGainMonthly float64    `json:"toGainMonthly"`
	Rollbacks     []Rollback `json:"rollbacks,omitempty"`
}

// Rollback is one rollback record and the image digest it is kept under.
type Rollback struct {
	Digest string `json:"digest"`
	migration.Record
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
	// RollbackRecords is the ConfigMap Rollbacks were read from.
	RollbackRecords string     `json:"rollbackRecords,omitempty"`
	Rollbacks       []Rollback `json:"rollbacks,omitempty"`
	// Warnings are the parts of the migration view the scan could not read.
	Warnings []string `json:"warnings,omitempty"`
	// Plan is what migration's planner makes of the cluster as it is.
	Plan *Plan `json:"plan,omitempty"`
}

// Plan is the planner's view: the nodes' cost per month now, once the
// nodes worth emptying are gone, and at the cheapest safe placement, and
// those nodes.
type Plan struct {
	NowMonthly   float64 `json:"nowMonthly"`
	AfterMonthly float64 `json:"afterMonthly"`
	BoundMonthly float64 `json:"cheapestSafeMonthly"`
	// Margin is the least a node's emptying must save, as a fraction of
	// its price.
	Margin float64    `json:"margin"`
	Nodes  []PlanNode `json:"nodes,omitempty"`
}

// PlanNode is one node the plan would empty by moving its pods to arm64.
type PlanNode struct {
	Node string   `json:"node"`
	Pods []string `json:"pods"`
	// ToOtherNodes are its pods that stay on their arch (their workload is
	// at its arm64 target) and go to other nodes' room.
	ToOtherNodes  []string `json:"toOtherNodes,omitempty"`
	NewARM64Nodes int      `json:"newArm64Nodes"`
	SavingMonthly float64  `json:"savingMonthly"`
}

type workload struct {
	kind, namespace, name string
	replicas              int
	spec                  corev1.PodSpec
}

// Run scans the cluster. Registry failures are reported per image and never
// abort the scan.
func Run(ctx context.Context, o Options) (*Report, error) {
	c := &cluster{}
	ws, err := list(ctx, o.Client, o.Namespace, c)
	if err != nil {
		return nil, err
	}
	rep := &Report{PricePerVCPU: map[string]float64{}, PriceSource: map[string]string{}, Currency: o.Prices.Table().Currency}
	nodes, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	c.nodes = nodes.Items
	rep.prices(o, c.nodes)
	if err := rep.listMigration(ctx, o, c); err != nil {
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
	rep.migrate(c)
	rep.plan(c, o.Prices)
	return rep, nil
}

// prices takes each arch's cheapest price per vCPU among the cluster's
// nodes; for an arch the cluster has no node of yet (often arm64), the
// cheapest instance type of that arch in the price table.
func (rep *Report) prices(o Options, nodes []corev1.Node) {
	for i := range nodes {
		n := &nodes[i]
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

// list lists the workloads, and keeps in c the Deployments, StatefulSets
// and Pods the migration view needs.
func list(ctx context.Context, cs kubernetes.Interface, ns string, c *cluster) ([]workload, error) {
	var out []workload
	opts := metav1.ListOptions{}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing Deployments: %w", err)
	}
	c.deployments = deps.Items
	for _, d := range deps.Items {
		out = append(out, workload{"Deployment", d.Namespace, d.Name, int(ptrOr(d.Spec.Replicas, 1)), d.Spec.Template.Spec})
	}
	sts, err := cs.AppsV1().StatefulSets(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing StatefulSets: %w", err)
	}
	c.statefulSets = sts.Items
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
	c.pods = pods.Items
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

// cluster is what the migration view is computed from, as the API listed
// it.
type cluster struct {
	nodes        []corev1.Node
	pods         []corev1.Pod
	replicaSets  []appsv1.ReplicaSet
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	namespaces   []corev1.Namespace
	records      map[string][]migration.Record
}

// listMigration reads what only the migration view needs. The report served
// users before migration existed, and some of them may not read
// ReplicaSets, Namespaces or archfit's ConfigMap: a Forbidden here is a
// warning, not a failed report.
func (rep *Report) listMigration(ctx context.Context, o Options, c *cluster) error {
	rss, err := o.Client.AppsV1().ReplicaSets(o.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("Deployments' pods not counted: listing ReplicaSets: %v", err))
	case err != nil:
		return fmt.Errorf("listing ReplicaSets: %w", err)
	default:
		c.replicaSets = rss.Items
	}
	// With -n, a Get: a user confined to a namespace may not list them all.
	if o.Namespace != "" {
		var n *corev1.Namespace
		if n, err = o.Client.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{}); err == nil {
			c.namespaces = []corev1.Namespace{*n}
		} else if apierrors.IsNotFound(err) {
			err = nil
		}
	} else {
		var l *corev1.NamespaceList
		if l, err = o.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
			c.namespaces = l.Items
		}
	}
	switch {
	case apierrors.IsForbidden(err):
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("namespaces' targets not read: %v", err))
	case err != nil:
		return fmt.Errorf("reading namespaces: %w", err)
	}
	if o.RollbackRecords == "" {
		return nil
	}
	ns, name, ok := migration.SplitName(o.RollbackRecords)
	if !ok {
		return fmt.Errorf("rollback records %q: want a ConfigMap as namespace/name, or empty for none", o.RollbackRecords)
	}
	rep.RollbackRecords = o.RollbackRecords
	cm, err := o.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	recs, warning, err := rollbackRecords(o.RollbackRecords, cm, err)
	if err != nil {
		return err
	}
	if warning != "" {
		rep.Warnings = append(rep.Warnings, warning)
	}
	c.records = recs
	return nil
}

// rollbackRecords takes the records out of the answer to a Get of their
// ConfigMap. The controller creates it on the first rollback, so a missing
// one means none yet.
func rollbackRecords(nsName string, cm *corev1.ConfigMap, err error) (map[string][]migration.Record, string, error) {
	switch {
	case apierrors.IsNotFound(err):
		return nil, "", nil
	case apierrors.IsForbidden(err):
		return nil, fmt.Sprintf("rollback records not read: %v", err), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading rollback records %s: %w", nsName, err)
	}
	recs, err := migration.ParseRecords(cm)
	if err != nil {
		// The well-formed records still count; the rest is the operator's
		// to fix.
		return recs, err.Error(), nil
	}
	return recs, "", nil
}

// migrate fills in each Deployment's and StatefulSet's Migration and the
// report's Rollbacks from c and the prices; it makes no API call.
func (rep *Report) migrate(c *cluster) {
	// Pods are attributed by migration.Workloads, over listers of the
	// listed objects, so that the report counts a workload's pods exactly
	// as the scheduler and the controller do.
	index := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	rsIdx, depIdx, ssIdx := index(), index(), index()
	objects := map[string]metav1.Object{}
	for i := range c.replicaSets {
		_ = rsIdx.Add(&c.replicaSets[i])
	}
	for i := range c.deployments {
		d := &c.deployments[i]
		_ = depIdx.Add(d)
		objects[migration.Ref{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name}.String()] = d
	}
	for i := range c.statefulSets {
		s := &c.statefulSets[i]
		_ = ssIdx.Add(s)
		objects[migration.Ref{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name}.String()] = s
	}
	ws := migration.Workloads{ReplicaSets: appslisters.NewReplicaSetLister(rsIdx),
		Deployments: appslisters.NewDeploymentLister(depIdx), StatefulSets: appslisters.NewStatefulSetLister(ssIdx)}

	nsTargets := map[string]string{}
	for _, n := range c.namespaces {
		if t, ok := n.Annotations[migration.TargetAnnotation]; ok {
			nsTargets[n.Name] = t
		}
	}
	ready := map[string]bool{}
	for _, r := range rep.Rows {
		ready[migration.Ref{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}.String()] = r.Arm64Ready == "yes"
	}
	deniedOnARM64 := deniedOn(c.records, migration.ARM64)
	byWorkload := map[string][]Rollback{}
	for digest, recs := range c.records {
		for _, rec := range recs {
			rb := Rollback{Digest: digest, Record: rec}
			rep.Rollbacks = append(rep.Rollbacks, rb)
			byWorkload[rec.Workload] = append(byWorkload[rec.Workload], rb)
		}
	}
	sortRollbacks(rep.Rollbacks)

	archOf := map[string]string{}
	for i := range c.nodes {
		if _, arch, ok := imageplatform.NodePlatform(&c.nodes[i]); ok {
			archOf[c.nodes[i].Name] = arch
		}
	}
	type tally struct {
		arm64, total      int
		arm64VCPU, toGain float64
	}
	tallies := map[string]*tally{}
	for i := range c.pods {
		p := &c.pods[i]
		arch := archOf[p.Spec.NodeName]
		if arch == "" || !migration.Live(p) {
			continue
		}
		w, ok := ws.Of(p)
		if !ok {
			continue
		}
		key := w.Ref.String()
		t := tallies[key]
		if t == nil {
			t = &tally{}
			tallies[key] = t
		}
		t.total++
		switch {
		case arch == migration.ARM64:
			t.arm64++
			t.arm64VCPU += cost.PodVCPU(&p.Spec)
		case ready[key] && !runsDigest(p, deniedOnARM64):
			// A pod whose image has already been rolled back from arm64
			// will not move: the controller and the scheduler both deny it.
			t.toGain += cost.PodVCPU(&p.Spec)
		}
	}

	amd, okAMD := rep.PricePerVCPU["amd64"]
	arm, okARM := rep.PricePerVCPU[migration.ARM64]
	perVCPUMonth := (amd - arm) * HoursPerMonth
	if !okAMD || !okARM {
		perVCPUMonth = 0
	}
	unpriced := false
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Kind != "Deployment" && r.Kind != "StatefulSet" {
			continue
		}
		key := migration.Ref{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}.String()
		m := &Migration{Rollbacks: byWorkload[key]}
		sortRollbacks(m.Rollbacks)
		if obj := objects[key]; obj != nil {
			a := obj.GetAnnotations()
			spec, ok := a[migration.TargetAnnotation]
			if !ok {
				spec, ok = nsTargets[r.Namespace]
				m.TargetFromNamespace = ok
			}
			if ok {
				m.Target = spec
				if t, err := migration.ParseTarget(spec); err != nil {
					m.TargetError = err.Error()
				} else {
					m.TargetPercent = t.Percent(t.StepOf(a[migration.StepAnnotation]))
				}
			}
			m.Paused = a[migration.PausedAnnotation]
		}
		if t := tallies[key]; t != nil {
			m.ARM64Pods, m.Pods = t.arm64, t.total
			m.SavedMonthly = round(t.arm64VCPU * perVCPUMonth)
			m.ToGainMonthly = round(t.toGain * perVCPUMonth)
		}
		unpriced = unpriced || (perVCPUMonth == 0 && (m.Target != "" || m.ARM64Pods > 0))
		r.Migration = m
	}
	if unpriced && (!okAMD || !okARM) {
		rep.Warnings = append(rep.Warnings, "no price per vCPU for amd64 or arm64 (no node of that arch, none in the price table): savings shown as 0")
	}
}

// deniedOn is every digest, in each form a record lists, recorded as not
// running on arch.
func deniedOn(records map[string][]migration.Record, arch string) map[string]bool {
	out := map[string]bool{}
	for digest, recs := range records {
		for _, rec := range recs {
			if rec.Arch != arch {
				continue
			}
			out[digest] = true
			for _, d := range rec.Digests {
				out[d] = true
			}
		}
	}
	return out
}

// plan asks migration's planner what the cluster's nodes cost now, after
// emptying the nodes worth it, and at the cheapest safe placement. A pod
// may move when its workload (a Deployment or StatefulSet) is arm64-ready,
// not paused, and its running image has no arm64 rollback record; its
// workload's target share caps how many go to arm64. Nodes that are not
// Ready are left out.
func (rep *Report) plan(c *cluster, prices *cost.Model) {
	index := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	rsIdx, depIdx, ssIdx := index(), index(), index()
	for i := range c.replicaSets {
		_ = rsIdx.Add(&c.replicaSets[i])
	}
	for i := range c.deployments {
		_ = depIdx.Add(&c.deployments[i])
	}
	for i := range c.statefulSets {
		_ = ssIdx.Add(&c.statefulSets[i])
	}
	ws := migration.Workloads{ReplicaSets: appslisters.NewReplicaSetLister(rsIdx),
		Deployments: appslisters.NewDeploymentLister(depIdx), StatefulSets: appslisters.NewStatefulSetLister(ssIdx)}
	rows := map[string]*Row{}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		rows[migration.Ref{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}.String()] = r
	}
	denied := deniedOn(c.records, migration.ARM64)
	view := func(p *corev1.Pod) *migration.PodView {
		w, ok := ws.Of(p)
		if !ok {
			return nil
		}
		key := w.Ref.String()
		r := rows[key]
		v := &migration.PodView{Workload: key}
		if r == nil || r.Migration == nil {
			return v
		}
		m := r.Migration
		v.Movable = m.Paused == ""
		if m.Target != "" && m.TargetError == "" {
			v.HasCap, v.Cap = true, m.TargetPercent*m.Pods/100
		}
		if r.Arm64Ready == "yes" && !runsDigest(p, denied) {
			v.Arches = []string{"amd64", migration.ARM64}
		}
		return v
	}
	nodes := make([]*corev1.Node, len(c.nodes))
	for i := range c.nodes {
		nodes[i] = &c.nodes[i]
	}
	pods := make([]*corev1.Pod, len(c.pods))
	for i := range c.pods {
		pods[i] = &c.pods[i]
	}
	in, err := migration.PlannerInput(nodes, pods, prices, nil, view)
	if err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("no plan: %v", err))
		return
	}
	if len(in.Nodes) == 0 {
		return
	}
	pl, err := planner.MakePlan(in, planner.DefaultMargin)
	if err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("no plan: %v", err))
		return
	}
	out := &Plan{NowMonthly: round(pl.Now * HoursPerMonth), AfterMonthly: round(pl.After * HoursPerMonth),
		BoundMonthly: round(pl.Bound * HoursPerMonth), Margin: planner.DefaultMargin}
	for _, s := range pl.Steps {
		out.Nodes = append(out.Nodes, PlanNode{Node: s.Node, Pods: s.Moves, ToOtherNodes: s.Elsewhere, NewARM64Nodes: s.NewARMNodes,
			SavingMonthly: round(s.Saving * HoursPerMonth)})
	}
	rep.Plan = out
}

// runsDigest reports whether one of the pod's containers runs an image
// digest in set, as the runtime reported it.
func runsDigest(p *corev1.Pod, set map[string]bool) bool {
	for _, sts := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, st := range sts {
			if d := migration.DigestOf(st.ImageID); d != "" && set[d] {
				return true
			}
		}
	}
	return false
}

func sortRollbacks(rbs []Rollback) {
	sort.Slice(rbs, func(i, j int) bool {
		a, b := rbs[i], rbs[j]
		if !a.Time.Equal(&b.Time) {
			return a.Time.Before(&b.Time)
		}
		if a.Digest != b.Digest {
			return a.Digest < b.Digest
		}
		return a.Arch < b.Arch
	})
}

// WriteMigrationTable writes the table output's migration sections: the
// workloads with a target or a rollback record, every rollback record with
// the command that clears it, the plan (when a node is worth emptying, or
// a workload has a target), and the warnings. It writes nothing when there
// is none of these, so a cluster with nothing to migrate gets the report
// it always did.
func (rep *Report) WriteMigrationTable(w io.Writer) error {
	var rows []Row
	for _, r := range rep.Rows {
		if m := r.Migration; m != nil && (m.Target != "" || m.Paused != "" || len(m.Rollbacks) > 0) {
			rows = append(rows, r)
		}
	}
	if len(rows) > 0 {
		fmt.Fprint(w, "\nMigration\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "WORKLOAD\tTARGET\tNOW(%%)\tARM64/TOTAL\tSAVED %s/MO\tTO GAIN %s/MO\tROLLBACKS\n", rep.Currency, rep.Currency)
		for _, r := range rows {
			m := r.Migration
			now := "-"
			if m.Pods > 0 {
				now = strconv.Itoa(int(math.Round(float64(m.ARM64Pods) * 100 / float64(m.Pods))))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%d\n", migration.Ref{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name},
				m.targetText(), now, m.ARM64Pods, m.Pods, money(m.SavedMonthly), money(m.ToGainMonthly), len(m.Rollbacks))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Rollbacks) > 0 {
		fmt.Fprintf(w, "\nRollback records (ConfigMap %s)\n", rep.RollbackRecords)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, "DIGEST\tARCH\tREASON\tWORKLOAD\tTIME\n")
		for _, rb := range rep.Rollbacks {
			at := "-"
			if !rb.Time.IsZero() {
				at = rb.Time.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rb.Digest, rb.Arch, oneLine(rb.Reason), dash(oneLine(rb.Workload)), at)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		ns, name, _ := migration.SplitName(rep.RollbackRecords)
		fmt.Fprintln(w, "To clear a record, remove its digest's key (this clears every arch recorded for that digest):")
		seen := map[string]bool{}
		for _, rb := range rep.Rollbacks {
			if !seen[rb.Digest] {
				seen[rb.Digest] = true
				fmt.Fprintf(w, "  %s\n", clearCommand(ns, name, rb.Digest))
			}
		}
	}
	if p := rep.Plan; p != nil && (len(p.Nodes) > 0 || len(rows) > 0) {
		fmt.Fprintf(w, "\nPlan (the nodes' cost per month, %s: now, once the nodes below are empty and gone, and at the cheapest safe placement)\n", rep.Currency)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, "NOW\tAFTER\tCHEAPEST SAFE\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", money(p.NowMonthly), money(p.AfterMonthly), money(p.BoundMonthly))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(p.Nodes) == 0 {
			fmt.Fprintf(w, "No node is worth emptying: moving any node's pods to arm64 would save less than %.0f%% of its price, or a pod on it cannot move.\n", 100*p.Margin)
		} else {
			fmt.Fprintf(w, "Nodes to empty, each saving at least %.0f%% of its price:\n", 100*p.Margin)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "NODE\tPODS TO ARM64\tTO OTHER NODES\tNEW ARM64 NODES\tSAVES %s/MO\n", rep.Currency)
			for _, n := range p.Nodes {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", n.Node, len(n.Pods), len(n.ToOtherNodes), n.NewARM64Nodes, money(n.SavingMonthly))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warn := range rep.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
	return nil
}

// clearCommand is the kubectl command that removes a digest's records.
func clearCommand(namespace, name, digest string) string {
	return fmt.Sprintf(`kubectl -n %s patch configmap %s --type json -p '[{"op":"remove","path":"/data/%s"}]'`, namespace, name, migration.Key(digest))
}

func (m *Migration) targetText() string {
	text := m.Target
	var notes []string
	switch {
	case m.Target == "":
		text = "none"
	case m.TargetError != "":
		notes = append(notes, "invalid")
	default:
		notes = append(notes, fmt.Sprintf("in force %d%%", m.TargetPercent))
	}
	if m.TargetFromNamespace {
		notes = append(notes, "from namespace")
	}
	if m.Paused != "" {
		notes = append(notes, "paused: "+m.Paused)
	}
	if len(notes) == 0 {
		return oneLine(text)
	}
	return oneLine(text + " (" + strings.Join(notes, "; ") + ")")
}

// oneLine keeps free text (annotations, record fields) from breaking the
// table's rows and columns.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func money(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

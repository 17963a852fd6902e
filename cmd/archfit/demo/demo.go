// Package demo is `archfit demo`: archfit end to end on an embedded
// default. It runs a real control plane, the archfit-scheduler with the
// shipped profile, the archfit-expander over gRPC + TLS and an OCI registry,
// all on loopback in this process, and runs one workload several times side
// by side: under the default scheduler with CA's least-waste expander; under
// the default scheduler with single-arch pods pinned to their arch by hand
// and CA's priority expander; and under archfit. A last run, "migration",
// moves a running workload to arm64 over compressed time with
// archfit-placement's migration controller, rolls back an image that breaks
// there, and lets the simulated cluster-autoscaler scale the emptied amd64
// nodes down.
//
// Cluster-autoscaler itself is not available here, so its loop is
// simulated as CA 1.36.1 runs it (casim.go): pending pods that CA's
// scheduling simulation fits on existing nodes are dropped, each node
// group's option holds the pods its template node can take, with a
// binpacking estimate of the node count; least-waste and priority are
// computed as CA computes them, and nodes are added to the chosen group.
// Reports say so.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	expanderapp "github.com/archfit/archfit/expander/app"
	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme" // ArchFitArgs in the scheduler's scheme
	"github.com/archfit/archfit/plugins/archfit"
	schedulerconfig "github.com/archfit/archfit/scheduler-config"
	"github.com/archfit/archfit/test/harness/controlplane"
	"github.com/archfit/archfit/test/harness/placementtest"
	"github.com/archfit/archfit/test/harness/registrytest"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// Options configure a demo.
type Options struct {
	Size         int    // pods in the workload
	Mix          Mix    // share of multi-arch, amd64-only and arm64-only pods
	PriceTable   string // instance-type price table file; empty: the shipped one
	AMD64Type    string // instance type of the amd64 node group
	ARM64Type    string // instance type of the arm64 node group
	InitialAMD64 int    // nodes of each group before the workload arrives
	InitialARM64 int    // (the migration run sizes its own start)
	Seed         int64  // CA breaks least-waste ties at random; this seeds it
	// Runs to compare, in order, from "default" (default scheduler + CA
	// least-waste), "default-priority" (default scheduler + CA priority,
	// arm64 first), "pinned-priority" (the same, with single-arch pods
	// pinned to their arch by hand) and "archfit". Savings compare archfit
	// with the first. "migration" runs a workload of its own (migration.go),
	// reported in Report.Migration rather than in Runs.
	Runs     []string
	Progress io.Writer
	Logf     func(string, ...any)
}

// Defaults are what `archfit demo` runs without flags.
func Defaults() Options {
	return Options{Size: 30, Mix: Mix{Multi: 70, AMD64: 20, ARM64: 10}, AMD64Type: "m6i.xlarge", ARM64Type: "m7g.xlarge",
		InitialAMD64: 2, InitialARM64: 1, Seed: 1, Runs: []string{"default", "pinned-priority", "archfit-unplaced", "archfit", "migration"}}
}

// Report is the demo's result; its JSON form is a contract.
type Report struct {
	Runs           []RunReport `json:"runs"`
	SavingsPercent float64     `json:"savingsPercent"`
	ScaleUps       []ScaleUp   `json:"scaleUps"`
	Currency       string      `json:"currency"`
	Simulation     string      `json:"simulation"`
	Seed           int64       `json:"seed"`
	DurationSec    float64     `json:"durationSeconds"`
	// Migration is the migration run's outcome; nil without that run.
	Migration *MigrationReport `json:"migration,omitempty"`
}

// RunReport is one run's outcome.
type RunReport struct {
	Name          string         `json:"name"`
	Scheduler     string         `json:"scheduler"`
	Expander      string         `json:"expander"`
	PodsByArch    map[string]int `json:"podsByArch"`
	MisplacedPods int            `json:"misplacedPods"`
	Misplaced     []Misplacement `json:"misplaced,omitempty"`
	PendingPods   int            `json:"pendingPods"`
	// StrandedPods counts the pods a CA loop of the run left pending
	// because its FilterOutSchedulable fit them on an existing node that
	// their scheduler refused them: CA does not scale up for such a pod.
	// Those still pending at the end are counted in PendingPods too.
	StrandedPods int           `json:"strandedPods"`
	Stranded     []StrandedPod `json:"stranded,omitempty"`
	// MisSizedOptions counts the expansion options of the run's CA loops
	// that held a pod whose images lack the option's arch.
	MisSizedOptions int            `json:"misSizedOptions"`
	NodesByGroup    map[string]int `json:"nodesByGroup"`
	NodeHours       float64        `json:"nodeHoursPerDay"`
	CostPerHour     float64        `json:"costPerHour"`
}

// StrandedPod is a pending pod CA's simulation placed on an existing node
// that the pod's scheduler refused it.
type StrandedPod struct {
	Pod            string   `json:"pod"`
	Node           string   `json:"node"` // where CA's simulation first put it
	NodePlatform   string   `json:"nodePlatform"`
	ImagePlatforms []string `json:"imagePlatforms"`
	// PendingAtEnd is false when a later scale-up made room its scheduler
	// accepts, most often one that other pods triggered.
	PendingAtEnd bool `json:"pendingAtEnd"`
}

// Misplacement is a pod bound to a node whose platform its images lack:
// a would-be exec format error.
type Misplacement struct {
	Pod            string   `json:"pod"`
	Node           string   `json:"node"`
	NodePlatform   string   `json:"nodePlatform"`
	ImagePlatforms []string `json:"imagePlatforms"`
}

// ScaleUp is one simulated CA loop with pending pods; Chosen is empty when
// it grew nothing.
type ScaleUp struct {
	Run string `json:"run"`
	// Pods are the pending pods CA saw as unschedulable.
	Pods []string `json:"pods"`
	// FitsExisting are those CA's FilterOutSchedulable placed on existing
	// nodes; the loop does nothing for them.
	FitsExisting []PodOnNode `json:"fitsExisting,omitempty"`
	// Options are the offered node groups, in ExpansionOptions' order.
	Options          []string          `json:"options"`
	ExpansionOptions []ExpansionOption `json:"expansionOptions,omitempty"`
	Chosen           string            `json:"chosen"`
	NodeCount        int               `json:"nodeCount"`
	LeastWaste       string            `json:"leastWaste"`
	Priority         string            `json:"priority"`
	Expander         []string          `json:"expander,omitempty"`
	Why              string            `json:"why"`
	// AMD64OnlyPods lists pending pods whose images are amd64-only; the
	// expander must never send them to an arm64 group.
	AMD64OnlyPods []string `json:"amd64OnlyPods,omitempty"`
	ChosenArch    string   `json:"chosenArch"`
}

// PodOnNode is a pending pod and the node CA's simulation put it on.
type PodOnNode struct {
	Pod          string `json:"pod"`
	Node         string `json:"node"`
	NodePlatform string `json:"nodePlatform"`
}

// ExpansionOption is one option as the expander receives it: the group,
// the node count CA estimated and the pods that count is for.
type ExpansionOption struct {
	NodeGroup string   `json:"nodeGroup"`
	Arch      string   `json:"arch"`
	NodeCount int      `json:"nodeCount"`
	Pods      []string `json:"pods"`
	// WrongArchPods are pods in Pods whose images lack Arch: an option
	// sized for pods that cannot run there.
	WrongArchPods []string `json:"wrongArchPods,omitempty"`
}

type env struct {
	o        Options
	start    time.Time
	reg      *registrytest.Registry
	cp       *controlplane.ControlPlane
	expander protos.ExpanderClient
	truth    imageplatform.Resolver
	prices   *cost.Model
	table    *cost.Table
	refs     map[string]string // image key → reference used in pod specs
	digests  map[string]string // image key → digest of what was pushed
	seq      int
	// placement is archfit-placement, which the migration run restarts
	// with other options.
	placement *placementtest.Server
}

func (e *env) progress(format string, args ...any) {
	if e.o.Progress != nil {
		fmt.Fprintf(e.o.Progress, "[%5.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// Run runs the demo and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Runs) == 0 {
		o.Runs = Defaults().Runs
	}
	if o.Size < 3 {
		return nil, fmt.Errorf("--size %d: want at least 3 pods", o.Size)
	}
	e := &env{o: o, start: time.Now(), refs: map[string]string{}, digests: map[string]string{}}
	dir, err := os.MkdirTemp("", "archfit-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	e.table = cost.DefaultTable()
	if o.PriceTable != "" {
		if e.table, err = cost.LoadTable(o.PriceTable); err != nil {
			return nil, fmt.Errorf("--price-table: %w", err)
		}
	}
	for _, it := range []string{o.AMD64Type, o.ARM64Type} {
		if _, ok := e.table.InstanceTypes[it]; !ok {
			return nil, fmt.Errorf("instance type %q is not in the price table", it)
		}
	}
	e.prices = cost.New(e.table, nil, "")

	e.progress("starting an OCI registry on loopback and pushing %d images (multi-arch, Docker manifest list, amd64-only, arm64-only, attestations, one whose arm64 entry holds amd64 binaries)", len(images))
	e.reg = registrytest.New()
	defer e.reg.Close()
	if err := e.pushImages(); err != nil {
		return nil, err
	}
	if e.truth, err = imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(e.reg.Host), imageplatform.WithDockerHubMirror(e.reg.Host)); err != nil {
		return nil, err
	}

	e.progress("starting embedded etcd and kube-apiserver")
	if e.cp, err = controlplane.Start(ctx, controlplane.Options{Dir: dir, Logf: o.Logf}); err != nil {
		return nil, err
	}
	defer e.cp.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.progress("starting the Deployment, ReplicaSet and Job controllers")
	if err := e.cp.StartControllers(ctx); err != nil {
		return nil, err
	}

	e.progress("starting kube-scheduler with the shipped %s profile and a default-scheduler profile", schedulerconfig.SecondaryProfile)
	cfg, err := e.schedulerConfig()
	if err != nil {
		return nil, err
	}
	stopScheduler, err := e.cp.StartScheduler(ctx, cfg, app.WithPlugin(archfit.Name, archfit.New))
	if err != nil {
		return nil, err
	}
	defer stopScheduler()

	e.progress("starting archfit-expander: gRPC over TLS on loopback")
	conn, stopExpander, err := e.startExpander(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer stopExpander()
	defer conn.Close()
	e.expander = protos.NewExpanderClient(conn)

	e.progress("starting archfit-placement: its webhook over TLS behind the shipped MutatingWebhookConfiguration, and its controller")
	stopPlacement, err := e.startPlacement(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer stopPlacement()

	rep := &Report{Currency: e.table.Currency, Seed: o.Seed,
		Simulation: "cluster-autoscaler is simulated as 1.36.1 runs it: pending pods that fit existing nodes under the in-tree filters are dropped, each group's option holds the pods its template takes, binpacking estimate, least-waste and priority as CA computes them; it is not CA"}
	for _, name := range o.Runs {
		if _, ok := runSpecs[name]; !ok {
			return nil, fmt.Errorf("unknown run %q: want one of %s", name, strings.Join(runNames(), ", "))
		}
	}
	for i, name := range o.Runs {
		run := runSpecs[name]
		if run.migration {
			mr, ups, err := e.migrate(ctx, run, i == len(o.Runs)-1)
			if err != nil {
				return nil, fmt.Errorf("%s run: %w", run.name, err)
			}
			rep.Migration = mr
			rep.ScaleUps = append(rep.ScaleUps, ups...)
			rep.Simulation += "; " + scaleDownSimulation()
			continue
		}
		rr, ups, err := e.run(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("%s run: %w", run.name, err)
		}
		rep.Runs = append(rep.Runs, *rr)
		rep.ScaleUps = append(rep.ScaleUps, ups...)
	}
	for _, r := range rep.Runs {
		if d := rep.Runs[0].CostPerHour; r.Name == "archfit" && d > 0 {
			rep.SavingsPercent = round2(100 * (d - r.CostPerHour) / d)
		}
	}
	rep.DurationSec = round2(time.Since(e.start).Seconds())
	e.progress("done")
	return rep, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func (e *env) pushImages() error {
	keys := make([]string, 0, len(images))
	for k := range images {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		im := images[k]
		var err error
		if len(im.platforms) == 1 {
			e.digests[k], err = e.reg.PushImage(im.repoTag, im.platforms[0], im.docker)
		} else {
			e.digests[k], err = e.reg.PushIndex(im.repoTag, im.platforms, im.docker, im.attest)
		}
		if err != nil {
			return fmt.Errorf("push %s: %w", im.repoTag, err)
		}
		e.refs[k] = e.reg.Host + "/" + im.repoTag
		if im.hub {
			e.refs[k] = im.repoTag[len("library/"):] // "nginx:1.27", resolved through the mirror
		}
	}
	return nil
}

func (e *env) schedulerConfig() ([]byte, error) {
	return schedulerconfig.ForLoopbackRegistry(e.reg.Host)
}

// startPlacement runs archfit-placement in process and installs the
// shipped webhook configuration, pointed at it; kube-apiserver then calls
// it over TLS for archfit-scheduler's pods.
func (e *env) startPlacement(ctx context.Context, dir string) (func(), error) {
	const probeNS = "archfit-demo-probe"
	if _, err := e.cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNS}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	pdir := filepath.Join(dir, "placement")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return nil, err
	}
	srv, err := placementtest.NewServer(e.cp.Config, pdir)
	if err != nil {
		return nil, err
	}
	e.placement = srv
	if err := srv.Up(ctx, e.placementOptions(nil)); err != nil {
		return nil, err
	}
	if err := srv.Install(ctx, e.cp.Client, probeNS, e.refs["api"]); err != nil {
		_ = srv.Down()
		return nil, err
	}
	return func() { _ = srv.Down() }, nil
}

// placementOptions are placement's shipped options with the demo's
// registry, changed further by change when it is not nil.
func (e *env) placementOptions(change func(*placementapp.Options)) func(*placementapp.Options) {
	return func(o *placementapp.Options) {
		o.InsecureRegistries = []string{e.reg.Host}
		o.DockerHubMirror = e.reg.Host
		o.LeaderElect = false
		// Migration prices nodes as the demo does.
		o.PriceTable = e.o.PriceTable
		if change != nil {
			change(o)
		}
	}
}

// restartPlacement stops archfit-placement and starts it again on the same
// address, which the webhook configuration names, with change applied.
func (e *env) restartPlacement(ctx context.Context, change func(*placementapp.Options)) error {
	if err := e.placement.Down(); err != nil {
		return fmt.Errorf("stopping archfit-placement: %w", err)
	}
	return e.placement.Up(ctx, e.placementOptions(change))
}

func (e *env) startExpander(ctx context.Context, dir string) (*grpc.ClientConn, func(), error) {
	ca, err := testcerts.NewCA("archfit-demo")
	if err != nil {
		return nil, nil, err
	}
	caFile, certFile, keyFile, err := ca.WriteFiles(dir, "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	addr, _, stop, err := expanderapp.Start(ctx, &expanderapp.Options{
		GRPCAddress: "127.0.0.1:0", MetricsAddress: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile, PolicyReloadInterval: time.Minute,
		Flags:         e.reg.ResolverFlags(5 * time.Second),
		ShutdownGrace: 5 * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	cancel := func() { _ = stop() }
	creds, err := credentials.NewClientTLSFromFile(caFile, "") // as CA's --grpc-expander-cert
	if err != nil {
		cancel()
		return nil, nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(128<<20)))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return conn, cancel, nil
}

// Package app is the archfit-placement server: flags, the webhook over
// TLS, the leader-elected controller, HTTP metrics and health.
// cmd/archfit-placement, the tests and the demo all run it through Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/component-base/logs"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/metricsutil"
	"github.com/archfit/archfit/internal/migration"
	migrationctl "github.com/archfit/archfit/internal/migration/controller"
	"github.com/archfit/archfit/internal/placement"
	"github.com/archfit/archfit/internal/placement/controller"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/internal/tlsfiles"
)

// WebhookPath is where the webhook serves; the MutatingWebhookConfiguration
// names it.
const WebhookPath = "/mutate-pods"

// Options are the command-line options. Flag names are a contract: the
// manifests and scripts outside the repository use them.
type Options struct {
	Kubeconfig        string
	KubeAPIQPS        float32
	KubeAPIBurst      int
	WebhookAddress    string
	TLSCertFile       string
	TLSKeyFile        string
	MetricsAddress    string
	SchedulerNames    []string
	NamespaceSelector string
	SkipNamespaces    []string
	AdmissionBudget   time.Duration
	MaxGate           time.Duration
	LookupBudget      time.Duration
	Retry             time.Duration
	Workers           int
	UsePullSecrets    bool
	// Migration: the controller that ramps workloads to arm64, moves
	// running pods and rolls back images that fail on an arch.
	MigrationMode               string
	MigrationInterval           time.Duration
	MigrationEvictionsPerMinute float64
	MigrationCrashLoopRestarts  int32
	MigrationExpectScaleUp      bool
	MigrationRollback           bool
	MigrationSoak               time.Duration
	MigrationReadyTimeout       time.Duration
	MigrationMaxEvictions       int
	MigrationFollowPlan         bool
	MigrationMargin             float64
	MigrationNodeTimeout        time.Duration
	MigrationNodeBackoff        time.Duration
	MigrationGrowTypes          []string
	// PriceTable prices nodes for migration's savings (empty: the shipped
	// table; a node's price annotation wins, as in the scheduler).
	PriceTable string
	// The resolver's settings, named as archfit-expander names them.
	resolverflags.Flags

	LeaderElect          bool
	LeaderElectNamespace string
	LeaderElectName      string
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration
	ShutdownGrace        time.Duration

	// Ready, if set, receives the bound addresses once serving (tests and
	// the demo listen on port 0).
	Ready func(webhookAddr, metricsAddr string)
	// Config, if set, is used instead of Kubeconfig or in-cluster access.
	Config *rest.Config
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		WebhookAddress: ":9443", MetricsAddress: ":8080", KubeAPIQPS: 50, KubeAPIBurst: 100,
		SchedulerNames:    []string{"archfit-scheduler"},
		NamespaceSelector: "archfit.dev/placement=enabled",
		SkipNamespaces:    []string{"kube-system"},
		AdmissionBudget:   100 * time.Millisecond, MaxGate: 30 * time.Second,
		LookupBudget: 2 * time.Second, Retry: 500 * time.Millisecond, Workers: 4,
		Flags:         resolverflags.Defaults(),
		MigrationMode: string(migrationctl.ModeDryRun), MigrationInterval: 10 * time.Second,
		MigrationEvictionsPerMinute: 6, MigrationCrashLoopRestarts: 3,
		MigrationExpectScaleUp: true, MigrationRollback: true,
		MigrationSoak: migrationctl.DefaultSoak, MigrationReadyTimeout: migrationctl.DefaultReadyTimeout,
		MigrationMaxEvictions: migrationctl.DefaultMaxEvictionsPerWorkload,
		MigrationMargin:       migrationctl.DefaultMargin, MigrationNodeTimeout: migrationctl.DefaultNodeTimeout,
		MigrationNodeBackoff: migrationctl.DefaultNodeBackoff,
		LeaderElect:          true, LeaderElectNamespace: "archfit", LeaderElectName: "archfit-placement",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ShutdownGrace: 20 * time.Second,
	}
}

// NewCommand builds the archfit-placement command.
func NewCommand() *cobra.Command { return newCommand(NewOptions()) }

// ParseAndValidate parses args as the binary does (with the logging
// flags component-base's cli.Run adds) and validates them, so tests can
// check that the shipped manifests start it.
func ParseAndValidate(args []string) error {
	o := NewOptions()
	cmd := newCommand(o)
	logs.AddFlags(cmd.PersistentFlags())
	if err := cmd.ParseFlags(args); err != nil {
		return err
	}
	return o.Validate()
}

func newCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "archfit-placement",
		Short: "writes each pod's image platforms onto the pod as required node affinity, so cluster-autoscaler and every scheduler honour them",
		Long: `archfit-placement is a mutating admission webhook on pod CREATE plus a
leader-elected controller. For each pod in scope (schedulerName
archfit-scheduler, or a namespace matching --namespace-selector) it resolves
the platforms of every image and adds required node affinity
kubernetes.io/os In [...], kubernetes.io/arch In [...] to each
nodeSelectorTerm. cluster-autoscaler simulates scheduling with the in-tree
plugins only and never runs ArchFit; a constraint on the pod is the one it
sees.

Admission never waits on a registry beyond --admission-budget: a pod whose
images are not known by then gets the scheduling gate archfit.dev/image-platforms,
and the controller writes the constraint and removes the gate when the
lookup ends, at the latest --max-gate-duration after the pod's creation
(then with --unknown-image-policy's answer).`,
		Example: `  archfit-placement --kubeconfig ~/.kube/config --tls-cert-file tls.crt --tls-private-key-file tls.key
  archfit-placement --tls-cert-file /etc/archfit-placement/tls.crt --tls-private-key-file /etc/archfit-placement/tls.key --use-pull-secrets`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig; empty: the in-cluster service account")
	f.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "requests per second to kube-apiserver (client-go's default of 5 would bound releasing gated pods and migration's moves)")
	f.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "burst of requests to kube-apiserver")
	f.StringVar(&o.WebhookAddress, "webhook-address", o.WebhookAddress, "address of the webhook's HTTPS server (path "+WebhookPath+")")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", "", "webhook serving certificate (PEM); reloaded when the file changes (required)")
	f.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "webhook serving key (PEM); reloaded when the file changes (required)")
	f.StringVar(&o.MetricsAddress, "metrics-address", o.MetricsAddress, "address of the HTTP server for /metrics, /healthz and /readyz")
	f.StringSliceVar(&o.SchedulerNames, "scheduler-name", o.SchedulerNames, "pods with this schedulerName are in scope (repeatable)")
	f.StringVar(&o.NamespaceSelector, "namespace-selector", o.NamespaceSelector, "every pod of a namespace whose labels match this selector is in scope, whatever its scheduler; empty: none")
	f.StringSliceVar(&o.SkipNamespaces, "skip-namespaces", o.SkipNamespaces, "namespaces never touched; the component's own namespace (POD_NAMESPACE) is always added")
	f.DurationVar(&o.AdmissionBudget, "admission-budget", o.AdmissionBudget, "how long admission may wait for image lookups before gating the pod (max 2s)")
	f.DurationVar(&o.MaxGate, "max-gate-duration", o.MaxGate, "a gated pod is released at the latest this long after its creation, with --unknown-image-policy's answer for images still unknown")
	f.DurationVar(&o.LookupBudget, "lookup-budget", o.LookupBudget, "how long the controller waits for one pod's lookups before looking again")
	f.DurationVar(&o.Retry, "retry-interval", o.Retry, "how soon a gated pod whose images are still being looked up is looked at again")
	f.IntVar(&o.Workers, "workers", o.Workers, "controller workers")
	o.Flags.AddFlags(f, "Fallback (write --fallback-architectures), AllowAll (write nothing) or Deny (write an arch no node has)")
	f.StringVar(&o.MigrationMode, "migration-mode", o.MigrationMode, "DryRun: report the pods migration would move to arm64, and the saving, without moving any; Enabled: move them; Disabled: no migration, ramp or rollback")
	f.DurationVar(&o.MigrationInterval, "migration-interval", o.MigrationInterval, "time between the migration controller's passes over the cluster's pods")
	f.Float64Var(&o.MigrationEvictionsPerMinute, "migration-evictions-per-minute", o.MigrationEvictionsPerMinute, "cluster-wide limit on evictions that move pods to arm64 (rollback evictions are not limited)")
	f.Int32Var(&o.MigrationCrashLoopRestarts, "migration-crashloop-restarts", o.MigrationCrashLoopRestarts, "restarts in CrashLoopBackOff that count toward rolling an arch back, when the workload's pods on another arch are healthy")
	f.BoolVar(&o.MigrationExpectScaleUp, "migration-expect-scale-up", o.MigrationExpectScaleUp, "move a pod even when no arm64 node has room now, trusting the autoscaler to grow arm64 for its arm64-only replacement; false on clusters without one")
	f.BoolVar(&o.MigrationRollback, "migration-rollback", o.MigrationRollback, "record images that fail on an arch (exec format error, or a crash loop there only), keep new pods off it, evict the failing pods and pause the ramp")
	f.DurationVar(&o.MigrationSoak, "migration-soak", o.MigrationSoak, "how long a pod moved to arm64 must have been Ready before the move counts as done; nothing more of its workload moves until then (the first is the canary). Longer than a pull, a start and three crash-loop restarts")
	f.DurationVar(&o.MigrationReadyTimeout, "migration-ready-timeout", o.MigrationReadyTimeout, "a pod moved to arm64 that is not Ready this long after its creation pauses its workload's ramp (archfit.dev/arm64-paused)")
	f.BoolVar(&o.MigrationFollowPlan, "migration-follow-plan", o.MigrationFollowPlan, "experimental: move pods only to empty the nodes the planner picks (a node whose going lowers the bill by --migration-margin), a node at a time, tainting it meanwhile and checking that it went; off, a pod moves when its node costs more per vCPU than arm64, which can raise the bill (docs/operator-guide.md §2b)")
	f.Float64Var(&o.MigrationMargin, "migration-margin", o.MigrationMargin, "the least a move must save, as a fraction of the price of the node it empties: the planner empties a node only when the cluster's cost after is that much lower")
	f.DurationVar(&o.MigrationNodeTimeout, "migration-node-timeout", o.MigrationNodeTimeout, "how long a node whose movable pods have all moved may stay before the step counts as failed (a Warning, and no node is emptied for an hour)")
	f.DurationVar(&o.MigrationNodeBackoff, "migration-node-backoff", o.MigrationNodeBackoff, "how long no node is emptied after a step that did not pay, or whose node stayed")
	f.StringSliceVar(&o.MigrationGrowTypes, "migration-grow-instance-types", o.MigrationGrowTypes, "instance types (price table names) the autoscaler can add that no node shows yet, for node groups at zero; the planner packs moved pods onto them")
	f.IntVar(&o.MigrationMaxEvictions, "migration-max-evictions-per-workload", o.MigrationMaxEvictions, "evictions of one workload, moves and rollbacks together, in any hour; a backstop against loops")
	f.StringVar(&o.PriceTable, "price-table", "", "instance-type price table (YAML or JSON, as ArchFitArgs priceTable) migration prices nodes with; empty: the shipped table")
	f.BoolVar(&o.UsePullSecrets, "use-pull-secrets", false, "read pods' pull secrets (needs RBAC on Secrets)")
	f.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "run the controller only in the replica holding the Lease (the webhook serves on every replica)")
	f.StringVar(&o.LeaderElectNamespace, "leader-elect-resource-namespace", o.LeaderElectNamespace, "namespace of the leader election Lease")
	f.StringVar(&o.LeaderElectName, "leader-elect-resource-name", o.LeaderElectName, "name of the leader election Lease")
	f.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "leader election lease duration")
	f.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "leader election renew deadline")
	f.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "leader election retry period")
	f.DurationVar(&o.ShutdownGrace, "shutdown-grace-period", o.ShutdownGrace, "time to finish in-flight reviews on SIGTERM")
	return cmd
}

// Validate checks the options, naming the flag at fault.
func (o *Options) Validate() error {
	var errs []error
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file are required: kube-apiserver calls webhooks over TLS only"))
	}
	if err := o.Flags.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := labels.Parse(o.NamespaceSelector); err != nil {
		errs = append(errs, fmt.Errorf("--namespace-selector: %w", err))
	}
	if len(o.SchedulerNames) == 0 && o.NamespaceSelector == "" {
		errs = append(errs, errors.New("--scheduler-name and --namespace-selector are both empty: no pod would be in scope"))
	}
	if o.AdmissionBudget <= 0 || o.AdmissionBudget > 2*time.Second {
		errs = append(errs, fmt.Errorf("--admission-budget: %v is outside (0, 2s]: admission must not wait on a registry", o.AdmissionBudget))
	}
	if o.MaxGate < time.Second {
		errs = append(errs, fmt.Errorf("--max-gate-duration: %v is under 1s", o.MaxGate))
	}
	if o.LookupBudget <= 0 {
		errs = append(errs, errors.New("--lookup-budget must be positive"))
	}
	if o.Retry <= 0 {
		errs = append(errs, errors.New("--retry-interval must be positive"))
	}
	if o.Workers < 1 {
		errs = append(errs, errors.New("--workers must be at least 1"))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, errors.New("--kube-api-qps must be positive and --kube-api-burst at least 1"))
	}
	if _, err := migrationctl.ParseMode(o.MigrationMode); err != nil {
		errs = append(errs, fmt.Errorf("--migration-mode: %w", err))
	}
	if o.MigrationInterval < time.Second {
		errs = append(errs, fmt.Errorf("--migration-interval: %v is under 1s", o.MigrationInterval))
	}
	if !(o.MigrationEvictionsPerMinute > 0) {
		errs = append(errs, fmt.Errorf("--migration-evictions-per-minute: %v must be positive", o.MigrationEvictionsPerMinute))
	}
	if o.MigrationSoak < time.Second {
		errs = append(errs, fmt.Errorf("--migration-soak: %v is under 1s", o.MigrationSoak))
	}
	if o.MigrationReadyTimeout <= o.MigrationSoak {
		errs = append(errs, fmt.Errorf("--migration-ready-timeout: %v must exceed --migration-soak (%v)", o.MigrationReadyTimeout, o.MigrationSoak))
	}
	if !(o.MigrationMargin >= 0 && o.MigrationMargin < 1) {
		errs = append(errs, fmt.Errorf("--migration-margin: %v, want a fraction in [0, 1)", o.MigrationMargin))
	}
	if o.MigrationNodeTimeout < time.Minute {
		errs = append(errs, fmt.Errorf("--migration-node-timeout: %v is under 1m", o.MigrationNodeTimeout))
	}
	if o.MigrationNodeBackoff < time.Second {
		errs = append(errs, fmt.Errorf("--migration-node-backoff: %v is under 1s", o.MigrationNodeBackoff))
	}
	if o.MigrationMaxEvictions < 1 {
		errs = append(errs, errors.New("--migration-max-evictions-per-workload must be at least 1"))
	}
	if o.MigrationCrashLoopRestarts < 1 {
		errs = append(errs, errors.New("--migration-crashloop-restarts must be at least 1"))
	}
	if o.MigrationRollback && o.Flags.RollbackRecords == "" && o.MigrationMode != string(migrationctl.ModeDisabled) {
		errs = append(errs, errors.New("--migration-rollback needs --rollback-records, where its records live"))
	}
	if o.LeaderElect && (o.LeaseDuration <= o.RenewDeadline || o.RenewDeadline <= o.RetryPeriod) {
		errs = append(errs, errors.New("--leader-elect-lease-duration must exceed --leader-elect-renew-deadline, which must exceed --leader-elect-retry-period"))
	}
	return errors.Join(errs...)
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o *Options) error {
	logger := klog.FromContext(ctx)
	if err := o.Validate(); err != nil {
		return err
	}
	cfg := o.Config
	if cfg == nil {
		var err error
		if o.Kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		} else {
			cfg, err = rest.InClusterConfig()
		}
		if err != nil {
			return fmt.Errorf("kubernetes access (--kubeconfig or in-cluster): %w", err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	raw, err := o.Flags.Resolver("archfit-placement")
	if err != nil {
		return err
	}
	resolver := imageplatform.Instrument(raw, imageplatform.NewMetrics(reg, "archfit_resolver"))
	records := &migration.Records{}
	var recordsFactory informers.SharedInformerFactory
	var recordsSynced cache.InformerSynced
	if ns, name, ok := migration.SplitName(o.Flags.RollbackRecords); ok {
		recordsFactory, recordsSynced, err = migration.WatchRecords(client, ns, name, records, func(err error) {
			logger.Error(err, "rollback records: entries skipped")
		})
		if err != nil {
			return err
		}
		resolver = imageplatform.WithDenials(resolver, records)
	}
	ev := &placement.Evaluator{Resolver: resolver, Policy: o.Flags.PodPolicy()}

	// Informers: namespaces (for the namespace opt-in and namespace-wide
	// migration targets), gated pods (the controller), the workloads
	// migration reads its targets from, and, with pull secrets, Secrets
	// and ServiceAccounts.
	shared := informers.NewSharedInformerFactory(client, 0)
	nsLister := shared.Core().V1().Namespaces().Lister()
	mode, _ := migrationctl.ParseMode(o.MigrationMode)
	workloads := &migration.Workloads{
		ReplicaSets:  shared.Apps().V1().ReplicaSets().Lister(),
		Deployments:  shared.Apps().V1().Deployments().Lister(),
		StatefulSets: shared.Apps().V1().StatefulSets().Lister(),
		Namespaces:   nsLister,
	}
	if mode != migrationctl.ModeDisabled {
		ev.Narrow = func(p *corev1.Pod) string {
			if w, ok := workloads.Of(p); ok && w.Next && w.Paused == "" {
				return migration.ARM64
			}
			return ""
		}
	}
	if o.UsePullSecrets {
		ev.Credentials = resolverflags.PodCredentials(shared.Core().V1().Secrets().Lister(), shared.Core().V1().ServiceAccounts().Lister())
	}
	gatedFactory := controller.NewGatedPodInformer(client)

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, "archfit-placement")

	var ctrl *controller.Controller
	m := placement.NewMetrics(reg, func() float64 { return ctrl.GatedCount() })
	ctrl, err = controller.New(client, gatedFactory, ev, recorder, m, controller.Options{
		MaxGate: o.MaxGate, Retry: o.Retry, LookupBudget: o.LookupBudget, Workers: o.Workers,
	})
	if err != nil {
		return err
	}

	skip := append([]string(nil), o.SkipNamespaces...)
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		skip = append(skip, ns)
	}
	scope := placement.Scope{SchedulerNames: o.SchedulerNames, SkipNamespaces: skip}
	if o.NamespaceSelector != "" {
		sel, _ := labels.Parse(o.NamespaceSelector)
		scope.NamespaceSelector = sel
		scope.NamespaceLabels = func(name string) (map[string]string, error) {
			ns, err := nsLister.Get(name)
			if err != nil {
				return nil, err
			}
			return ns.Labels, nil
		}
	}
	hook := &placement.Webhook{Scope: scope, Evaluate: ev.Evaluate, Budget: o.AdmissionBudget, Metrics: m}

	recNS, recName, _ := migration.SplitName(o.Flags.RollbackRecords)
	table := cost.DefaultTable()
	if o.PriceTable != "" {
		if table, err = cost.LoadTable(o.PriceTable); err != nil {
			return fmt.Errorf("--price-table: %w", err)
		}
	}
	var growTypes []migration.GrowType
	for _, name := range o.MigrationGrowTypes {
		row, ok := table.InstanceTypes[name]
		if !ok || row.Arch == "" || row.VCPU <= 0 || row.HourlyPrice <= 0 {
			return fmt.Errorf("--migration-grow-instance-types: %q is not in the price table with an arch, vCPUs and a price", name)
		}
		growTypes = append(growTypes, migration.GrowType{Name: name})
	}
	mig := migrationctl.New(client, workloads, records, scope.Running, ev.Evaluate,
		cost.New(table, cost.DefaultArchitectureWeights(), cost.DefaultPriceAnnotation), recorder, migrationctl.NewMetrics(reg),
		migrationctl.Options{Mode: mode, Interval: o.MigrationInterval, EvictionsPerMinute: o.MigrationEvictionsPerMinute,
			CrashLoopRestarts: o.MigrationCrashLoopRestarts, ExpectScaleUp: o.MigrationExpectScaleUp, Rollback: o.MigrationRollback,
			RecordsNamespace: recNS, RecordsName: recName,
			Soak: o.MigrationSoak, ReadyTimeout: o.MigrationReadyTimeout, MaxEvictionsPerWorkload: o.MigrationMaxEvictions,
			FollowPlan: o.MigrationFollowPlan, Margin: o.MigrationMargin, NodeTimeout: o.MigrationNodeTimeout, NodeBackoff: o.MigrationNodeBackoff, GrowTypes: growTypes,
			Digests: func(ctx context.Context, pod *corev1.Pod, image string) (imageplatform.ImageDigests, error) {
				var creds imageplatform.Credentials
				if pod != nil && ev.Credentials != nil {
					creds = ev.Credentials(ctx, pod)
				}
				return raw.Digests(ctx, imageplatform.Request{Image: image, Credentials: creds})
			}})

	shared.Start(ctx.Done())
	gatedFactory.Start(ctx.Done())
	for typ, ok := range shared.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", typ)
		}
	}
	if recordsFactory != nil {
		recordsFactory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), recordsSynced) {
			return fmt.Errorf("rollback records ConfigMap %s did not sync", o.Flags.RollbackRecords)
		}
	}

	// HTTP/2 first: kube-apiserver keeps one multiplexed connection to the
	// webhook. net/http would offer it on a static config, but the config a
	// handshake uses comes from the reloading controller.
	tlsCfg, err := tlsfiles.ServerConfig(ctx, o.TLSCertFile, o.TLSKeyFile, "", "h2", "http/1.1")
	if err != nil {
		return fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	wl, err := net.Listen("tcp", o.WebhookAddress)
	if err != nil {
		return fmt.Errorf("--webhook-address: %w", err)
	}
	ml, err := net.Listen("tcp", o.MetricsAddress)
	if err != nil {
		wl.Close()
		return fmt.Errorf("--metrics-address: %w", err)
	}
	wmux := http.NewServeMux()
	wmux.Handle(WebhookPath, hook)
	ws := &http.Server{Handler: wmux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}

	var ready atomic.Bool
	ms := &http.Server{Handler: metricsutil.OpsHandler(reg, ready.Load), ReadHeaderTimeout: 10 * time.Second}

	errCh := make(chan error, 3)
	go func() {
		if err := ws.ServeTLS(wl, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errCh <- err
		}
	}()
	go func() {
		if err := ms.Serve(ml); !errors.Is(err, http.ErrServerClosed) {
			errCh <- err
		}
	}()

	cctx, stopController := context.WithCancel(ctx)
	ctrlDone := make(chan struct{})
	go func() {
		defer close(ctrlDone)
		if err := runController(cctx, o, client, ctrl, mig); err != nil {
			errCh <- err
		}
	}()

	ready.Store(true)
	logger.Info("archfit-placement serving", "webhook", wl.Addr().String(), "metrics", ml.Addr().String(), "leaderElect", o.LeaderElect)
	if o.Ready != nil {
		o.Ready(wl.Addr().String(), ml.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errCh:
	}
	// Graceful: stop advertising readiness so the Service stops sending
	// reviews here, finish the reviews in flight, release the Lease so
	// another replica takes over the controller at once.
	logger.Info("shutting down", "grace", o.ShutdownGrace)
	ready.Store(false)
	stopController()
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownGrace)
	defer cancel()
	_ = ws.Shutdown(sctx)
	_ = ms.Shutdown(sctx)
	select {
	case <-ctrlDone:
	case <-sctx.Done():
	}
	return runErr
}

// runController runs the controller, under leader election when asked.
// Losing the Lease stops the controller and campaigns again; the webhook
// keeps serving throughout.
func runController(ctx context.Context, o *Options, client kubernetes.Interface, ctrl *controller.Controller, mig *migrationctl.Controller) error {
	both := func(ctx context.Context) error {
		errs := make(chan error, 1)
		go func() { errs <- mig.Run(ctx) }()
		err := ctrl.Run(ctx)
		return errors.Join(err, <-errs)
	}
	if !o.LeaderElect {
		return both(ctx)
	}
	host, _ := os.Hostname()
	id := host + "_" + uuid.NewString()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaderElectNamespace, Name: o.LeaderElectName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	logger := klog.FromContext(ctx)
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
			ReleaseOnCancel: true, Name: o.LeaderElectName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					logger.Info("leading: running the placement and migration controllers", "identity", id)
					if err := both(lctx); err != nil {
						logger.Error(err, "placement controller stopped")
					}
				},
				OnStoppedLeading: func() { logger.Info("stopped leading", "identity", id) },
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
	}
	return nil
}

func recordsNamespace(nsName string) string { ns, _, _ := migration.SplitName(nsName); return ns }
func recordsName(nsName string) string      { _, n, _ := migration.SplitName(nsName); return n }

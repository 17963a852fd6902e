// Package app is the archfit-expander server: flags, TLS, gRPC, HTTP
// metrics and health, policy hot-reload and optional Kubernetes access.
// cmd/archfit-expander, the tests and the demo all run it through Run.
package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/expander"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/metricsutil"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/internal/tlsfiles"
)

// Options are the command-line options. Flag names are a contract: scripts
// outside the repository use them.
type Options struct {
	GRPCAddress          string
	TLSCertFile          string
	TLSKeyFile           string
	ClientCAFile         string
	MetricsAddress       string
	PolicyFile           string
	PolicyReloadInterval time.Duration
	Kubeconfig           string
	InCluster            bool
	UsePullSecrets       bool
	PriorityNamespace    string
	PriorityName         string
	PriorityKey          string
	ShutdownGrace        time.Duration
	// The resolver's settings, named as archfit-placement names them.
	resolverflags.Flags

	// Ready, if set, receives the bound addresses once serving (tests and
	// the demo listen on port 0).
	Ready func(grpcAddr, metricsAddr string)
}

// NewCommand builds the archfit-expander command.
func NewCommand() *cobra.Command {
	o := &Options{Flags: resolverflags.Defaults()}
	cmd := &cobra.Command{
		Use:   "archfit-expander",
		Short: "cluster-autoscaler gRPC expander that grows only node groups whose architecture the pending pods' images support",
		Long: `archfit-expander answers cluster-autoscaler's gRPC expander calls
(--expander=grpc,priority). Of the node groups CA offers, it drops those whose
CPU architecture or OS the pending pods' images are not built for, then ranks
the rest by priority tier, architecture preference (arm64 first by default)
and estimated cost, and returns the best (several when truly tied, for CA's
next expander). If none can run the pods it returns none, which vetoes the
scale-up for this loop.

TLS is required. Kubernetes access (--kubeconfig or --in-cluster) is optional;
it adds pull secrets, the priority ConfigMap and Events.`,
		Example: `  archfit-expander --grpc-address=127.0.0.1:8443 --tls-cert-file=tls.crt --tls-private-key-file=tls.key
  archfit-expander --in-cluster --policy-file=/etc/archfit/policy.yaml --use-pull-secrets`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.GRPCAddress, "grpc-address", ":8443", "address of the gRPC (TLS) server")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", "", "server certificate (PEM); reloaded when the file changes (required)")
	f.StringVar(&o.TLSKeyFile, "tls-private-key-file", "", "server private key (PEM); reloaded when the file changes (required)")
	f.StringVar(&o.ClientCAFile, "client-ca-file", "", "if set, require client certificates signed by this CA (mTLS); leave unset for cluster-autoscaler, which sends none")
	f.StringVar(&o.MetricsAddress, "metrics-address", ":8080", "address of the HTTP server for /metrics, /healthz and /readyz")
	f.StringVar(&o.PolicyFile, "policy-file", "", "ranking policy (YAML); watched and hot-reloaded. Empty: defaults")
	f.DurationVar(&o.PolicyReloadInterval, "policy-reload-interval", 10*time.Second, "how often to check the policy file for changes")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for Kubernetes access (optional)")
	f.BoolVar(&o.InCluster, "in-cluster", false, "use the in-cluster service account for Kubernetes access")
	o.Flags.AddFlags(f, "Fallback, AllowAll or Deny")
	f.BoolVar(&o.UsePullSecrets, "use-pull-secrets", false, "read pods' pull secrets (needs Kubernetes access and RBAC on Secrets)")
	f.StringVar(&o.PriorityNamespace, "priority-configmap-namespace", "kube-system", "namespace of CA's priority expander ConfigMap")
	f.StringVar(&o.PriorityName, "priority-configmap-name", "cluster-autoscaler-priority-expander", "name of the priority ConfigMap (same format as CA's priority expander)")
	f.StringVar(&o.PriorityKey, "priority-configmap-key", "priorities", "key of the priorities in that ConfigMap")
	f.DurationVar(&o.ShutdownGrace, "shutdown-grace-period", 20*time.Second, "time to finish in-flight calls on SIGTERM")
	return cmd
}

// Validate checks the options, naming the flag at fault.
func (o *Options) Validate() error {
	var errs []error
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file are required: cluster-autoscaler only speaks TLS to an expander"))
	}
	if err := o.Flags.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Kubeconfig != "" && o.InCluster {
		errs = append(errs, errors.New("--kubeconfig and --in-cluster are exclusive"))
	}
	if o.UsePullSecrets && o.Kubeconfig == "" && !o.InCluster {
		errs = append(errs, errors.New("--use-pull-secrets needs --kubeconfig or --in-cluster"))
	}
	if o.PolicyReloadInterval <= 0 {
		errs = append(errs, errors.New("--policy-reload-interval must be positive"))
	}
	return errors.Join(errs...)
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o *Options) error {
	logger := klog.FromContext(ctx)
	if err := o.Validate(); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := expander.NewMetrics(reg)

	policyBytes, policy, err := readPolicy(o.PolicyFile)
	if err != nil {
		return fmt.Errorf("--policy-file: %w", err)
	}
	m.PolicyReloads.WithLabelValues("file", "ok").Inc()
	var current atomic.Pointer[expander.Policy]
	current.Store(policy)

	raw, err := o.Flags.Resolver("archfit-expander")
	if err != nil {
		return err
	}
	engine := &expander.Engine{
		Resolver:  imageplatform.Instrument(raw, imageplatform.NewMetrics(reg, "archfit_resolver")),
		PodPolicy: o.Flags.PodPolicy(),
		Policy:    current.Load,
	}

	kube, err := startKube(ctx, o, engine, m)
	if err != nil {
		return err
	}

	// gRPC requires ALPN "h2"; grpc-go would add it to a static config, but
	// the config a handshake uses comes from the reloading controller.
	tlsCfg, err := tlsfiles.ServerConfig(ctx, o.TLSCertFile, o.TLSKeyFile, o.ClientCAFile, "h2")
	if err != nil {
		return fmt.Errorf("--tls-cert-file/--tls-key-file/--client-ca-file: %w", err)
	}
	srv := grpc.NewServer(append(expander.ServerOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)))...)
	health := expander.Register(srv, expander.Instrument(engine, m), m)

	gl, err := net.Listen("tcp", o.GRPCAddress)
	if err != nil {
		return fmt.Errorf("--grpc-address: %w", err)
	}
	ml, err := net.Listen("tcp", o.MetricsAddress)
	if err != nil {
		gl.Close()
		return fmt.Errorf("--metrics-address: %w", err)
	}
	var ready atomic.Bool
	hs := &http.Server{Handler: metricsutil.OpsHandler(reg, ready.Load), ReadHeaderTimeout: 10 * time.Second}

	errCh := make(chan error, 2)
	go func() { errCh <- srv.Serve(gl) }()
	go func() {
		if err := hs.Serve(ml); !errors.Is(err, http.ErrServerClosed) {
			errCh <- err
		}
	}()
	go reloadPolicy(ctx, o, policyBytes, &current, m, kube)
	ready.Store(true)
	logger.Info("archfit-expander serving", "grpc", gl.Addr().String(), "metrics", ml.Addr().String(), "kubernetes", kube != nil)
	if o.Ready != nil {
		o.Ready(gl.Addr().String(), ml.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-errCh:
		srv.Stop()
		hs.Close()
		return err
	}
	// Graceful: stop advertising readiness, let in-flight calls finish (CA
	// retries nothing, so dropping one would waste its loop), then stop.
	logger.Info("shutting down", "grace", o.ShutdownGrace)
	ready.Store(false)
	health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.ShutdownGrace):
		srv.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if kube != nil {
		kube.broadcaster.Shutdown()
	}
	return nil
}

func readPolicy(path string) ([]byte, *expander.Policy, error) {
	if path == "" {
		p, err := expander.ParsePolicy(nil)
		return nil, p, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := expander.ParsePolicy(b)
	return b, p, err
}

// reloadPolicy polls the policy file. Polling, not inotify, because a
// ConfigMap volume updates through a symlink swap that some watchers miss.
// A bad new policy keeps the last good one.
func reloadPolicy(ctx context.Context, o *Options, last []byte, current *atomic.Pointer[expander.Policy], m *expander.Metrics, kube *kubeAccess) {
	if o.PolicyFile == "" {
		return
	}
	logger := klog.FromContext(ctx)
	t := time.NewTicker(o.PolicyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(o.PolicyFile)
		if err == nil && bytes.Equal(b, last) {
			continue
		}
		var p *expander.Policy
		if err == nil {
			p, err = expander.ParsePolicy(b)
		}
		if err != nil {
			m.PolicyReloads.WithLabelValues("file", "error").Inc()
			logger.Error(err, "new policy rejected; keeping the last good policy", "file", o.PolicyFile)
			kube.selfEvent(corev1.EventTypeWarning, "ArchFitPolicyRejected", "policy %s rejected, keeping the last good one: %v", o.PolicyFile, err)
			last = b // report a bad file once, not every tick
			continue
		}
		last = b
		current.Store(p)
		m.PolicyReloads.WithLabelValues("file", "ok").Inc()
		logger.Info("policy reloaded", "file", o.PolicyFile)
	}
}

// kubeAccess is the optional Kubernetes side: pull secrets, the priority
// ConfigMap, Events.
type kubeAccess struct {
	client      kubernetes.Interface
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder
	tiers       atomic.Pointer[expander.Tiers]
	self        *corev1.ObjectReference
}

func (k *kubeAccess) Eventf(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	k.recorder.Eventf(pod, nil, eventType, reason, "ScaleUp", format, args...)
}

// selfEvent records an Event on the expander's own Pod, when it knows it
// (POD_NAMESPACE and POD_NAME from the downward API).
func (k *kubeAccess) selfEvent(eventType, reason, format string, args ...any) {
	if k == nil || k.self == nil {
		return
	}
	k.recorder.Eventf(k.self, nil, eventType, reason, "Reload", format, args...)
}

func startKube(ctx context.Context, o *Options, engine *expander.Engine, m *expander.Metrics) (*kubeAccess, error) {
	var cfg *rest.Config
	var err error
	switch {
	case o.Kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	case o.InCluster:
		cfg, err = rest.InClusterConfig()
	default:
		klog.FromContext(ctx).Info("no Kubernetes access: anonymous registry access, no priority ConfigMap, no rollback records, no Events")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes access: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &kubeAccess{client: client}
	k.broadcaster = events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	k.broadcaster.StartRecordingToSink(ctx.Done())
	k.recorder = k.broadcaster.NewRecorder(scheme.Scheme, "archfit-expander")
	if ns, name := os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME"); ns != "" && name != "" {
		k.self = &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: name}
	}
	engine.Events = k

	// The priority ConfigMap: one object, watched by name.
	cmFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.PriorityNamespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.PriorityName).String()
		}))
	cmInformer := cmFactory.Core().V1().ConfigMaps().Informer()
	apply := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return
		}
		tiers, err := expander.ParsePriorityConfigMapValue(cm.Data[o.PriorityKey])
		if err != nil {
			m.PolicyReloads.WithLabelValues("priority-configmap", "error").Inc()
			klog.FromContext(ctx).Error(err, "priority ConfigMap rejected; keeping the last good priorities", "configmap", klog.KObj(cm))
			k.recorder.Eventf(cm, nil, corev1.EventTypeWarning, "ArchFitPrioritiesRejected", "Reload", "key %s rejected, keeping the last good priorities: %v", o.PriorityKey, err)
			return
		}
		k.tiers.Store(&tiers)
		m.PolicyReloads.WithLabelValues("priority-configmap", "ok").Inc()
	}
	if _, err := cmInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
		DeleteFunc: func(any) { k.tiers.Store(nil) },
	}); err != nil {
		return nil, err
	}
	engine.Tiers = func() (expander.Tiers, bool) {
		if t := k.tiers.Load(); t != nil {
			return *t, true
		}
		return nil, false
	}
	cmFactory.Start(ctx.Done())

	// Migration's rollback records: a digest found not to run on an arch
	// is treated as lacking it, so no group of that arch is chosen for it.
	if ns, name, ok := migration.SplitName(o.Flags.RollbackRecords); ok {
		records := &migration.Records{}
		rf, synced, err := migration.WatchRecords(client, ns, name, records, func(err error) {
			klog.FromContext(ctx).Error(err, "rollback records: entries skipped")
		})
		if err != nil {
			return nil, err
		}
		rf.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), synced) {
			return nil, fmt.Errorf("rollback records ConfigMap %s did not sync", o.Flags.RollbackRecords)
		}
		engine.Resolver = imageplatform.WithDenials(engine.Resolver, records)
	}

	if o.UsePullSecrets {
		f := informers.NewSharedInformerFactory(client, 0)
		secrets := f.Core().V1().Secrets().Lister()
		accounts := f.Core().V1().ServiceAccounts().Lister()
		f.Start(ctx.Done())
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return nil, fmt.Errorf("cache of %v did not sync", typ)
			}
		}
		engine.Credentials = resolverflags.PodCredentials(secrets, accounts)
	}
	cmFactory.WaitForCacheSync(ctx.Done())
	return k, nil
}

// Package archfit is the ArchFit scheduler plugin: it keeps pods off nodes
// whose CPU architecture or OS their images lack, and prefers the cheapest
// architecture among the nodes that fit.
package archfit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/internal/resolverflags"
	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
	"github.com/archfit/archfit/plugins/apis/config/validation"
)

// Name is the plugin's name in a KubeSchedulerConfiguration.
const Name = "ArchFit"

// Reasons, exported so tests and operators can match them.
const (
	// ErrReasonImageArchitecture rejects a node whose os/arch the pod's
	// images (or its own affinity, or the unknown-image policy) exclude.
	ErrReasonImageArchitecture = "node(s) didn't match the pod's image architectures"
	// ErrReasonNodeArchUnknown rejects a node that reports no architecture
	// in kubernetes.io/arch or status.nodeInfo: fail closed, because
	// guessing is how exec format errors happen.
	ErrReasonNodeArchUnknown = "node(s) report no architecture (no kubernetes.io/arch label or status.nodeInfo.architecture)"
	// ErrReasonLookupPending sends a pod back to the queue while its image
	// lookups run; it is re-activated when they finish.
	ErrReasonLookupPending = "waiting for image platform lookup"
)

var (
	_ fwk.PreFilterPlugin   = (*ArchFit)(nil)
	_ fwk.FilterPlugin      = (*ArchFit)(nil)
	_ fwk.PreScorePlugin    = (*ArchFit)(nil)
	_ fwk.ScorePlugin       = (*ArchFit)(nil)
	_ fwk.ScoreExtensions   = (*ArchFit)(nil)
	_ fwk.PostBindPlugin    = (*ArchFit)(nil)
	_ fwk.EnqueueExtensions = (*ArchFit)(nil)
	_ fwk.SignPlugin        = (*ArchFit)(nil)
	_ fwk.ReservePlugin     = (*ArchFit)(nil)
	_ fwk.PostFilterPlugin  = (*ArchFit)(nil)
)

// ArchFit is one profile's instance of the plugin. Everything it needs lives
// here, never in package variables, so two profiles never share state by
// accident.
type ArchFit struct {
	handle   fwk.Handle
	args     *config.ArchFitArgs
	ctx      context.Context
	resolver imageplatform.Resolver
	prices   *cost.Model
	policy   imageplatform.PodPolicy
	// cheapArch is the arch with the lowest weight: the one Events talk
	// about when an image keeps a pod off it.
	cheapArch string

	secrets    corelisters.SecretLister
	accounts   corelisters.ServiceAccountLister
	namespaces corelisters.NamespaceLister
	nodes      corelisters.NodeLister
	nsSelector labels.Selector
	skipNS     map[string]bool
	defaultKC  imageplatform.Credentials

	// workloads and counter give a pod's migration target and its
	// workload's replicas per arch; nil without an informer factory, and
	// then no pod has a target. records are the rollback records the
	// resolver applies; nil when none are read.
	workloads *migration.Workloads
	counter   *migration.Counter
	records   *migration.Records

	metrics *pluginMetrics
	// events keeps each Event to once per pod and reason; workloadEvents
	// keeps the informational ones to once an hour per controller.
	events         *eventOnce
	workloadEvents *eventOnce
	facts          *factsCache
	index          *platformIndex
	// points says whether ArchFit's Reserve and PostFilter run in this
	// profile, checked once the framework has listed its plugins: the
	// index-based shortcuts in PreFilter depend on them.
	pointsOnce sync.Once
	points     enabledPoints

	// reasons are Filter's one-element reason lists, built once: a Status
	// keeps the slice it is given, and nothing appends in place (cap 1).
	reasons struct{ imageArch, archUnknown []string }

	waiting sync.Map // pod UID → struct{}: an activation goroutine exists
	warmQ   chan *corev1.Pod
}

// New builds the plugin from its args. Bad args are an error that names the
// field, which stops the scheduler at start-up.
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, err := argsFrom(obj)
	if err != nil {
		return nil, err
	}
	if err := validation.ValidateArchFitArgs(nil, args); err != nil {
		return nil, fmt.Errorf("%s args: %w", Name, err)
	}
	if err := checkAPIServerVersion(ctx, h.ClientSet()); err != nil {
		return nil, err
	}
	pl := &ArchFit{
		handle: h,
		args:   args,
		ctx:    ctx,
		policy: resolverflags.PodPolicy(&args.ResolverConfig),
		skipNS: map[string]bool{},
		events: newEventOnce(20000, 0),
		// An hour, because that is how long kube-apiserver keeps an Event
		// (--event-ttl): the workload always has one to read.
		workloadEvents: newEventOnce(20000, time.Hour),
		metrics:        newPluginMetrics(legacyregistry.Registerer()),
		warmQ:          make(chan *corev1.Pod, 1024),
	}
	pl.reasons.imageArch = []string{ErrReasonImageArchitecture}
	pl.reasons.archUnknown = []string{ErrReasonNodeArchUnknown}
	for _, ns := range args.SkipNamespaces {
		pl.skipNS[ns] = true
	}
	table := cost.DefaultTable()
	if args.PriceTable != "" {
		if table, err = cost.LoadTable(args.PriceTable); err != nil {
			return nil, fmt.Errorf("%s args: %s: %w", Name, field.NewPath("priceTable"), err)
		}
	}
	pl.prices = cost.New(table, args.ArchitectureWeights, args.PriceAnnotation)
	pl.facts = newFactsCache(pl.prices, 200000)
	pl.index = newPlatformIndex()
	pl.cheapArch = cheapestArch(args.ArchitectureWeights)

	opts := resolverflags.Options(&args.ResolverConfig, "archfit-scheduler")
	if args.DockerConfigFile != "" {
		creds, err := credentialsFromDockerConfig(ctx, args.DockerConfigFile)
		if err != nil {
			return nil, fmt.Errorf("%s args: %s: %w", Name, field.NewPath("dockerConfigFile"), err)
		}
		opts = append(opts, imageplatform.WithDefaultKeychain(creds.Keychain))
		pl.defaultKC = creds
	}
	raw, err := imageplatform.NewRegistryResolver(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s args: %w", Name, err)
	}
	pl.resolver = imageplatform.Instrument(raw, imageplatform.NewMetrics(legacyregistry.Registerer(), "archfit_resolver"))
	if err := pl.watchRollbacks(ctx, h); err != nil {
		return nil, err
	}

	if args.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(args.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("%s args: %s: %w", Name, field.NewPath("namespaceSelector"), err)
		}
		pl.nsSelector = sel
	}
	if f := h.SharedInformerFactory(); f != nil {
		pl.nodes = f.Core().V1().Nodes().Lister()
		if pl.nsSelector != nil {
			pl.namespaces = f.Core().V1().Namespaces().Lister()
		}
		if args.UsePullSecrets {
			pl.secrets = f.Core().V1().Secrets().Lister()
			pl.accounts = f.Core().V1().ServiceAccounts().Lister()
		}
		if _, err := f.Core().V1().Nodes().Informer().AddEventHandler(pl.index.handler()); err != nil {
			return nil, fmt.Errorf("%s: watching nodes: %w", Name, err)
		}
		pl.watchMigration(ctx, f)
		pl.startWarming(ctx, f.Core().V1().Pods().Informer())
	}
	return pl, nil
}

// argsFrom accepts the internal type (what the scheduler passes after
// decoding), or nil for a profile that enables ArchFit without config.
func argsFrom(obj runtime.Object) (*config.ArchFitArgs, error) {
	if obj == nil {
		return v1.DefaultArchFitArgs(), nil
	}
	args, ok := obj.(*config.ArchFitArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type ArchFitArgs, got %T", Name, obj)
	}
	return args, nil
}

func cheapestArch(weights map[string]float64) string {
	best, bestW := "arm64", 0.0
	for a, w := range weights {
		if bestW == 0 || w < bestW || (w == bestW && a < best) {
			best, bestW = a, w
		}
	}
	return best
}

func credentialsFromDockerConfig(ctx context.Context, path string) (imageplatform.Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return imageplatform.Credentials{}, err
	}
	s := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "docker-config-file"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: b},
	}
	c, err := imageplatform.CredentialsFromSecrets(ctx, []corev1.Secret{s})
	if err != nil {
		return c, err
	}
	c.ID = "file:" + c.ID
	return c, nil
}

// Name implements fwk.Plugin.
func (pl *ArchFit) Name() string { return Name }

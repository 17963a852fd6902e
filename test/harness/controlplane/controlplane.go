// Package controlplane runs a real Kubernetes control plane inside one
// process: embedded etcd, kube-apiserver, kube-scheduler (through
// app.Setup, as the archfit-scheduler binary does) and, on request, the
// Deployment, ReplicaSet and Job controllers. The demo and the benchmarks
// use it; nothing here is a fake.
package controlplane

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/discovery"
	cacheddiscovery "k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/component-base/compatibility"
	"k8s.io/component-base/configz"
	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/disruption"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	"sigs.k8s.io/yaml"
)

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	Config     *restclient.Config
	Client     kubernetes.Interface
	Kubeconfig string
	dir        string
	tb         *processTB
	etcd       *embed.Etcd
}

// Options configure Start.
type Options struct {
	// Dir holds etcd's data, certificates and the kubeconfig.
	Dir string
	// Logf receives the helpers' log lines; nil discards them.
	Logf func(format string, args ...any)
}

// Start runs etcd and kube-apiserver on free loopback ports.
func Start(ctx context.Context, o Options) (cp *ControlPlane, err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	tb := &processTB{name: "archfit-controlplane", dir: o.Dir, logf: o.Logf}
	cp = &ControlPlane{dir: o.Dir, tb: tb}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(failNow); !ok {
				panic(r)
			}
			err = fmt.Errorf("control plane: %s", tb.errors())
		}
		if err != nil {
			cp.Stop()
			cp = nil
		}
	}()
	if cp.etcd, err = startEtcd(filepath.Join(o.Dir, "etcd")); err != nil {
		return nil, err
	}
	storage := storagebackend.NewDefaultConfig("/archfit/registry", nil)
	storage.Transport.ServerList = []string{cp.etcd.Clients[0].Addr().String()}
	storage.Transport.ServerList[0] = "http://" + storage.Transport.ServerList[0]
	server, err := apiservertesting.StartTestServer(tb,
		testServerOptions(),
		[]string{
			// No kubelet and no node lifecycle controller run here: nothing
			// would remove the not-ready taint or create service accounts.
			"--disable-admission-plugins=TaintNodesByCondition,ServiceAccount",
		}, storage)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(server.TearDownFn)
	cfg := restclient.CopyConfig(server.ClientConfig)
	cfg.QPS, cfg.Burst = 1000, 2000
	if cp.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	cp.Config = cfg
	if cp.Kubeconfig, err = writeKubeconfig(cfg, filepath.Join(o.Dir, "kubeconfig")); err != nil {
		return nil, err
	}
	return cp, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(dir string) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	var urls []url.URL
	for i := 0; i < 2; i++ {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		urls = append(urls, url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = urls[:1], urls[:1]
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = urls[1:], urls[1:]
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready in 60s")
	}
}

// Stop tears everything down.
func (cp *ControlPlane) Stop() {
	if cp == nil {
		return
	}
	cp.tb.stop()
	if cp.etcd != nil {
		cp.etcd.Close()
	}
}

func writeKubeconfig(cfg *restclient.Config, path string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["archfit"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData, TLSServerName: cfg.ServerName, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos["archfit"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["archfit"] = &clientcmdapi.Context{Cluster: "archfit", AuthInfo: "archfit"}
	kc.CurrentContext = "archfit"
	return path, clientcmd.WriteToFile(*kc, path)
}

// StartControllers runs the Deployment, ReplicaSet, Job and disruption
// controllers until ctx ends, so that workloads become pods, and
// PodDisruptionBudgets get the status the Eviction API checks, as in a
// real cluster.
func (cp *ControlPlane) StartControllers(ctx context.Context) error {
	f := informers.NewSharedInformerFactory(cp.Client, 0)
	disc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cacheddiscovery.NewMemCacheClient(disc))
	scales, err := scale.NewForConfig(cp.Config, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disc))
	if err != nil {
		return err
	}
	pdb := disruption.NewDisruptionController(ctx, f.Core().V1().Pods(), f.Policy().V1().PodDisruptionBudgets(),
		f.Core().V1().ReplicationControllers(), f.Apps().V1().ReplicaSets(), f.Apps().V1().Deployments(),
		f.Apps().V1().StatefulSets(), cp.Client, mapper, scales, disc)
	rs := replicaset.NewReplicaSetController(ctx, f.Apps().V1().ReplicaSets(), f.Core().V1().Pods(), cp.Client, 500)
	dc, err := deployment.NewDeploymentController(ctx, f.Apps().V1().Deployments(), f.Apps().V1().ReplicaSets(), f.Core().V1().Pods(), cp.Client)
	if err != nil {
		return err
	}
	jc, err := newJobController(ctx, cp.Client, f)
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	go rs.Run(ctx, 4)
	go dc.Run(ctx, 4)
	go jc.Run(ctx, 4)
	go runDisruption(ctx, pdb)
	return nil
}

// StartScheduler runs kube-scheduler with the given configuration file
// content and out-of-tree plugins, until the returned stop function is
// called. Two things are changed in the config: clientConnection points at
// this control plane, and leader election is off, because kube-scheduler
// exits the whole process when it stops leading. Only one scheduler may run
// in a process at a time: kube-scheduler registers process-wide state
// (configz).
func (cp *ControlPlane) StartScheduler(ctx context.Context, config []byte, plugins ...app.Option) (stop func(), err error) {
	var doc map[string]any
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	doc["clientConnection"] = map[string]any{"kubeconfig": cp.Kubeconfig, "qps": 500, "burst": 1000}
	doc["leaderElection"] = map[string]any{"leaderElect": false}
	if config, err = yaml.Marshal(doc); err != nil {
		return nil, err
	}
	path := filepath.Join(cp.dir, fmt.Sprintf("scheduler-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, config, 0o600); err != nil {
		return nil, err
	}
	opts := options.NewOptions()
	fg := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	ev := utilcompatibility.DefaultKubeEffectiveVersionForTest()
	ev.SetEmulationVersion(fg.EmulationVersion())
	ev.SetMinCompatibilityVersion(fg.MinCompatibilityVersion())
	reg := compatibility.NewComponentGlobalsRegistry()
	if err := reg.Register(compatibility.DefaultKubeComponent, ev, fg); err != nil {
		return nil, err
	}
	opts.ComponentGlobalsRegistry = reg
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	opts.ConfigFile = path
	opts.SecureServing.BindPort = 0
	ctx, cancel := context.WithCancel(ctx)
	cc, sched, err := app.Setup(ctx, opts, plugins...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cc, sched) }()
	select {
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("scheduler exited at start: %w", err)
	case <-time.After(200 * time.Millisecond):
	}
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		configz.Delete("componentconfig")
	}, nil
}

package archfit

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// images is a registry with the image kinds the scenarios need.
type images struct {
	reg                      *registrytest.Registry
	multi, amd, arm, winOnly string
}

func newImages(t testing.TB) *images {
	t.Helper()
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	im := &images{reg: reg, multi: reg.Host + "/app/multi:1", amd: reg.Host + "/app/amd:1", arm: reg.Host + "/app/arm:1", winOnly: reg.Host + "/app/win:1"}
	for _, err := range []error{
		second(reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(reg.PushImage("app/amd:1", "linux/amd64", false)),
		second(reg.PushImage("app/arm:1", "linux/arm64", false)),
		second(reg.PushImage("app/win:1", "windows/amd64", false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return im
}

func second(_ string, err error) error { return err }

func defaultArgs(mutate func(*config.ArchFitArgs)) *config.ArchFitArgs {
	out := v1.DefaultArchFitArgs()
	if mutate != nil {
		mutate(out)
	}
	return out
}

// activations records pods the plugin re-activates.
type activations chan string

func (a activations) Activate(_ klog.Logger, pods map[string]*corev1.Pod) {
	for k := range pods {
		select {
		case a <- k:
		default:
		}
	}
}

func newPlugin(t testing.TB, args *config.ArchFitArgs, objs ...runtime.Object) *ArchFit {
	t.Helper()
	return newPluginWithActivator(t, args, make(activations, 16), objs...)
}

func newPluginWithActivator(t testing.TB, args *config.ArchFitArgs, act activations, objs ...runtime.Object) *ArchFit {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cs := clientsetfake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: "archfit-scheduler"},
		frameworkruntime.WithClientSet(cs), frameworkruntime.WithInformerFactory(inf), frameworkruntime.WithPodActivator(act))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, args, fh)
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	return p.(*ArchFit)
}

func nodeInfo(n *corev1.Node) fwk.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(n)
	return ni
}

func archNode(name, arch, instanceType string) *corev1.Node {
	n := st.MakeNode().Name(name).Label(imageplatform.LabelArch, arch).Label(imageplatform.LabelOS, "linux").Capacity(map[corev1.ResourceName]string{"cpu": "2", "memory": "8Gi", "pods": "110"}).Obj()
	if instanceType != "" {
		n.Labels[cost.LabelInstanceType] = instanceType
	}
	return n
}

func TestNewRejectsBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.ArchFitArgs)
		field  string
	}{
		{"policy", func(a *config.ArchFitArgs) { a.UnknownImagePolicy = "Sometimes" }, "unknownImagePolicy"},
		{"fallback arch", func(a *config.ArchFitArgs) { a.FallbackArchitectures = []string{"ARM 64"} }, "fallbackArchitectures[0]"},
		{"weight", func(a *config.ArchFitArgs) { a.ArchitectureWeights = map[string]float64{"arm64": -1} }, "architectureWeights[arm64]"},
		{"insecure registry", func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{"ok:5000", "http://x/y"} }, "insecureRegistries[1]"},
		{"budget too long", func(a *config.ArchFitArgs) { a.LookupBudget = metav1.Duration{Duration: 5 * time.Second} }, "lookupBudget"},
		{"docker hub mirror", func(a *config.ArchFitArgs) { a.DockerHubMirror = "https://mirror/" }, "dockerHubMirror"},
		{"tag TTL", func(a *config.ArchFitArgs) { a.TagTTL = metav1.Duration{} }, "tagTTL"},
		{"concurrency", func(a *config.ArchFitArgs) { a.MaxConcurrentRequestsPerRegistry = 0 }, "maxConcurrentRequestsPerRegistry"},
		{"price table", func(a *config.ArchFitArgs) { a.PriceTable = "/does/not/exist.yaml" }, "priceTable"},
		{"placement events", func(a *config.ArchFitArgs) { a.PlacementEvents = "Sometimes" }, "placementEvents"},
		{"namespace selector", func(a *config.ArchFitArgs) {
			a.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Maybe"}}}
		}, "namespaceSelector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fh, _ := frameworkruntime.NewFramework(context.Background(), nil, nil)
			_, err := New(context.Background(), defaultArgs(tt.mutate), fh)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want it to name %s", err, tt.field)
			}
		})
	}
	fh, _ := frameworkruntime.NewFramework(context.Background(), nil, nil)
	if _, err := New(context.Background(), &corev1.Pod{}, fh); err == nil {
		t.Fatal("args of the wrong type accepted")
	}
}

func TestPreFilterAndFilter(t *testing.T) {
	im := newImages(t)
	noLabel := st.MakeNode().Name("status-arm").Obj()
	noLabel.Status.NodeInfo.Architecture, noLabel.Status.NodeInfo.OperatingSystem = "arm64", "linux"
	nodes := []*corev1.Node{archNode("arm", "arm64", ""), archNode("amd", "amd64", ""), noLabel, st.MakeNode().Name("mystery").Obj()}
	nodeInfos := make([]fwk.NodeInfo, len(nodes))
	for i, n := range nodes {
		nodeInfos[i] = nodeInfo(n)
	}
	const pass = ""
	tests := []struct {
		name   string
		pod    *corev1.Pod
		policy string
		skip   bool
		want   map[string]string // node → reason ("" = passes)
	}{
		{name: "multi-arch image", pod: st.MakePod().Name("p").UID("p1").Container(im.multi).Obj(),
			want: map[string]string{"arm": pass, "amd": pass, "status-arm": pass, "mystery": ErrReasonNodeArchUnknown}},
		{name: "amd64-only image", pod: st.MakePod().Name("p").UID("p2").Container(im.amd).Obj(),
			want: map[string]string{"arm": ErrReasonImageArchitecture, "amd": pass, "status-arm": ErrReasonImageArchitecture, "mystery": ErrReasonNodeArchUnknown}},
		{name: "arm64-only image", pod: st.MakePod().Name("p").UID("p3").Container(im.arm).Obj(),
			want: map[string]string{"arm": pass, "amd": ErrReasonImageArchitecture, "status-arm": pass}},
		{name: "amd64-only init container", pod: func() *corev1.Pod {
			p := st.MakePod().Name("p").UID("p4").Container(im.multi).Obj()
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: im.amd}}
			return p
		}(), want: map[string]string{"arm": ErrReasonImageArchitecture, "amd": pass}},
		{name: "windows image on linux nodes", pod: st.MakePod().Name("p").UID("p5").Container(im.winOnly).Obj(),
			want: map[string]string{"arm": ErrReasonImageArchitecture, "amd": ErrReasonImageArchitecture}},
		{name: "unknown image, Fallback", pod: st.MakePod().Name("p").UID("p6").Container(im.reg.Host + "/app/missing:1").Obj(),
			want: map[string]string{"arm": ErrReasonImageArchitecture, "amd": pass}},
		{name: "unknown image, Deny", policy: "Deny", pod: st.MakePod().Name("p").UID("p7").Container(im.reg.Host + "/app/missing:1").Obj(),
			want: map[string]string{"arm": ErrReasonImageArchitecture, "amd": ErrReasonImageArchitecture}},
		{name: "unknown image, AllowAll", policy: "AllowAll", pod: st.MakePod().Name("p").UID("p8").Container(im.reg.Host + "/app/missing:1").Obj(), skip: true},
		{name: "skipped namespace", pod: st.MakePod().Namespace("kube-system").Name("p").UID("p9").Container(im.amd).Obj(), skip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) {
				a.InsecureRegistries = []string{im.reg.Host}
				a.SkipNamespaces = []string{"kube-system"}
				if tt.policy != "" {
					a.UnknownImagePolicy = tt.policy
				}
			}))
			state := framework.NewCycleState()
			_, status := pl.PreFilter(context.Background(), state, tt.pod, nodeInfos)
			if tt.skip {
				if !status.IsSkip() {
					t.Fatalf("PreFilter = %v, want Skip", status)
				}
				return
			}
			if !status.IsSuccess() {
				t.Fatalf("PreFilter = %v", status)
			}
			for i, n := range nodes {
				want, ok := tt.want[n.Name]
				if !ok {
					continue
				}
				got := pl.Filter(context.Background(), state, tt.pod, nodeInfos[i])
				if want == pass {
					if !got.IsSuccess() {
						t.Errorf("node %s: %v, want pass", n.Name, got)
					}
					continue
				}
				if got.Code() != fwk.UnschedulableAndUnresolvable || got.Message() != want {
					t.Errorf("node %s: %v, want UnschedulableAndUnresolvable %q", n.Name, got, want)
				}
			}
		})
	}
}

func TestPreFilterSkipsUnconstrainedPods(t *testing.T) {
	im := newImages(t)
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) {
		a.InsecureRegistries = []string{im.reg.Host}
		a.UnknownImagePolicy = "AllowAll"
	}))
	nodes := []fwk.NodeInfo{nodeInfo(archNode("a", "arm64", "")), nodeInfo(archNode("b", "amd64", ""))}
	// Unknown image under AllowAll, no affinity: nothing to filter.
	_, status := pl.PreFilter(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Container(im.reg.Host+"/app/none:1").Obj(), nodes)
	if !status.IsSkip() {
		t.Fatalf("unconstrained pod: PreFilter = %v, want Skip", status)
	}
	// A multi-arch image still constrains (to linux/amd64 and linux/arm64):
	// Filter must run, so a node of a third arch would be rejected.
	state := framework.NewCycleState()
	_, status = pl.PreFilter(context.Background(), state, st.MakePod().Name("q").Container(im.multi).Obj(), nodes)
	if !status.IsSuccess() {
		t.Fatalf("multi-arch pod: PreFilter = %v, want Success", status)
	}
	if s := pl.Filter(context.Background(), state, nil, nodeInfo(archNode("z", "s390x", ""))); s.IsSuccess() {
		t.Fatal("an s390x node passed for an amd64+arm64 image")
	}
}

func TestPreFilterBudget(t *testing.T) {
	im := newImages(t)
	im.reg.SetFault("/manifests/", registrytest.Fault{Delay: 400 * time.Millisecond})
	act := make(activations, 16)
	pl := newPluginWithActivator(t, defaultArgs(func(a *config.ArchFitArgs) {
		a.InsecureRegistries = []string{im.reg.Host}
		a.LookupBudget = metav1.Duration{Duration: 20 * time.Millisecond}
	}), act)
	pod := st.MakePod().Namespace("default").Name("slow").UID("slow").Container(im.reg.Host + "/app/arm:1").Obj()
	_, status := pl.PreFilter(context.Background(), framework.NewCycleState(), pod, []fwk.NodeInfo{nodeInfo(archNode("a", "arm64", ""))})
	if status.Code() != fwk.UnschedulableAndUnresolvable || !strings.Contains(status.Message(), ErrReasonLookupPending) {
		t.Fatalf("PreFilter = %v, want pending", status)
	}
	// The pod is re-activated as soon as its lookup completes.
	select {
	case key := <-act:
		if key != "default/slow" {
			t.Fatalf("activated %q, want default/slow", key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pod was never re-activated after its lookup finished")
	}
	// The lookup finishes in the background; the next cycle finds it cached.
	deadline := time.Now().Add(10 * time.Second)
	for {
		state := framework.NewCycleState()
		_, status = pl.PreFilter(context.Background(), state, pod, []fwk.NodeInfo{nodeInfo(archNode("a", "arm64", "")), nodeInfo(archNode("b", "amd64", ""))})
		if status.IsSuccess() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookup never completed: %v", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestScoreAndNormalize(t *testing.T) {
	pl := newPlugin(t, defaultArgs(nil))
	arm := nodeInfo(archNode("arm", "arm64", "m7g.large"))
	amd := nodeInfo(archNode("amd", "amd64", "m6i.large"))
	weighted := nodeInfo(archNode("weighted", "arm64", ""))
	ctx := context.Background()
	var scores fwk.NodeScoreList
	for _, ni := range []fwk.NodeInfo{arm, amd, weighted} {
		s, status := pl.Score(ctx, nil, nil, ni)
		if !status.IsSuccess() {
			t.Fatal(status)
		}
		scores = append(scores, fwk.NodeScore{Name: ni.Node().Name, Score: s})
	}
	byName := func() map[string]int64 {
		got := map[string]int64{}
		for _, s := range scores {
			got[s.Name] = s.Score
		}
		return got
	}
	// Raw scores are micro-dollars per vCPU-hour: m7g.large 0.0816/2,
	// m6i.large 0.096/2, and an unknown arm64 type at arm64's weight, 0.8 of
	// the 0.048 reference.
	if got, want := byName(), map[string]int64{"arm": 40800, "amd": 48000, "weighted": 38400}; !maps.Equal(got, want) {
		t.Fatalf("raw scores = %v, want %v", got, want)
	}
	if status := pl.NormalizeScore(ctx, nil, nil, scores); !status.IsSuccess() {
		t.Fatal(status)
	}
	// Linear between the cheapest (100) and the dearest (0):
	// 100 × (48000 − 40800) ÷ (48000 − 38400) = 75.
	if got, want := byName(), map[string]int64{"arm": 75, "amd": 0, "weighted": 100}; !maps.Equal(got, want) {
		t.Fatalf("normalized scores = %v, want %v", got, want)
	}
	equal := fwk.NodeScoreList{{Name: "a", Score: 5}, {Name: "b", Score: 5}}
	pl.NormalizeScore(ctx, nil, nil, equal)
	if equal[0].Score != fwk.MaxNodeScore || equal[1].Score != fwk.MaxNodeScore {
		t.Fatalf("equal prices: %v", equal)
	}
}

func TestPreScoreSkipsWhenEveryNodeCostsTheSame(t *testing.T) {
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.SkipNamespaces = []string{"kube-system"} }))
	amd1 := nodeInfo(archNode("amd-1", "amd64", "m6i.large"))
	amd2 := nodeInfo(archNode("amd-2", "amd64", "m6i.large"))
	big := archNode("amd-big", "amd64", "m6i.2xlarge") // the same price per vCPU as m6i.large
	big.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("8")
	amdBig := nodeInfo(big)
	amdC := nodeInfo(archNode("amd-c", "amd64", "c6i.large"))
	arm := nodeInfo(archNode("arm", "arm64", "m7g.large"))
	pod := st.MakePod().Name("p").Namespace("default").Obj()
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		nodes []fwk.NodeInfo
		skip  bool
	}{
		{"one arch, one instance type", pod, []fwk.NodeInfo{amd1, amd2}, true},
		{"one instance family in two sizes", pod, []fwk.NodeInfo{amd1, amdBig, amd2}, true},
		{"one node", pod, []fwk.NodeInfo{arm}, true},
		{"two arches", pod, []fwk.NodeInfo{amd1, amd2, arm}, false},
		{"the different price comes last", pod, []fwk.NodeInfo{amd1, amd2, amdBig, amdC}, false},
		{"a skipped namespace", st.MakePod().Name("p").Namespace("kube-system").Obj(), []fwk.NodeInfo{amd1, arm}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pl.PreScore(context.Background(), framework.NewCycleState(), tc.pod, tc.nodes)
			if s.IsSkip() != tc.skip || (!tc.skip && !s.IsSuccess()) {
				t.Fatalf("PreScore = %v, want skip %v", s, tc.skip)
			}
		})
	}
}

func TestPreScoreSkipsFromThePublishedPricesWithoutWalking(t *testing.T) {
	pl := newPlugin(t, defaultArgs(nil))
	amd1, amd2 := nodeInfo(archNode("amd-1", "amd64", "m6i.large")), nodeInfo(archNode("amd-2", "amd64", "m6i.large"))
	arm1, arm2 := nodeInfo(archNode("arm-1", "arm64", "m7g.large")), nodeInfo(archNode("arm-2", "arm64", "c7g.large"))
	pl.facts.missed.Store(true)
	pl.facts.publish([]fwk.NodeInfo{amd1, amd2, arm1, arm2}, time.Now())
	amd64, arm64 := imageplatform.OSArch{OS: "linux", Arch: "amd64"}, imageplatform.OSArch{OS: "linux", Arch: "arm64"}
	if !pl.facts.uniformPrice(amd64) || pl.facts.uniformPrice(arm64) {
		t.Fatalf("uniform: amd64 %v (want true), arm64 %v (want false)", pl.facts.uniformPrice(amd64), pl.facts.uniformPrice(arm64))
	}
	pod := st.MakePod().Name("p").Namespace("default").Obj()
	for _, tc := range []struct {
		name  string
		st    *preFilterState
		nodes []fwk.NodeInfo
		skip  bool
	}{
		// The nodes passed in would score differently: only the published
		// table can have decided, with no walk.
		{"one platform, one price: no walk", &preFilterState{only: amd64}, []fwk.NodeInfo{arm1, arm2}, true},
		{"one platform, two prices: the nodes decide", &preFilterState{only: arm64}, []fwk.NodeInfo{arm1, arm2}, false},
		{"several platforms: the nodes decide", &preFilterState{}, []fwk.NodeInfo{amd1, amd2}, true},
		{"several platforms, two prices", &preFilterState{}, []fwk.NodeInfo{amd1, arm1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := framework.NewCycleState()
			state.Write(stateKey, tc.st)
			if s := pl.PreScore(context.Background(), state, pod, tc.nodes); s.IsSkip() != tc.skip {
				t.Fatalf("PreScore = %v, want skip %v", s, tc.skip)
			}
		})
	}
}

// TestFilterAndScoreAllocations: nothing on a node that passes, only the
// Status on one that is rejected.
func TestFilterAndScoreAllocations(t *testing.T) {
	im := newImages(t)
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }))
	pod := st.MakePod().Name("p").Container(im.amd).Obj()
	state := framework.NewCycleState()
	amd, arm := nodeInfo(archNode("amd", "amd64", "m6i.large")), nodeInfo(archNode("arm", "arm64", "m7g.large"))
	if _, s := pl.PreFilter(context.Background(), state, pod, []fwk.NodeInfo{amd, arm}); !s.IsSuccess() {
		t.Fatal(s)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() {
		if s := pl.Filter(ctx, state, pod, amd); !s.IsSuccess() {
			t.Fatal(s)
		}
		pl.Score(ctx, state, pod, amd)
	}); n != 0 {
		t.Fatalf("Filter+Score allocate %v times on a passing node", n)
	}
	var s *fwk.Status
	if n := testing.AllocsPerRun(200, func() { s = pl.Filter(ctx, state, pod, arm) }); n != 1 {
		t.Fatalf("a rejection allocates %v times, want 1 (the Status)", n)
	}
	if s.Code() != fwk.UnschedulableAndUnresolvable || s.Message() != ErrReasonImageArchitecture {
		t.Fatalf("Filter = %v", s)
	}
}

func TestQueueingHint(t *testing.T) {
	im := newImages(t)
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }))
	pod := st.MakePod().Name("p").Container(im.arm).Obj()
	pl.evaluate(context.Background(), pod) // warm
	logger := klogDiscard()
	tests := []struct {
		name     string
		old, new *corev1.Node
		want     fwk.QueueingHint
	}{
		{"arm64 node added", nil, archNode("n", "arm64", ""), fwk.Queue},
		{"amd64 node added", nil, archNode("n", "amd64", ""), fwk.QueueSkip},
		{"node relabelled to arm64", archNode("n", "amd64", ""), archNode("n", "arm64", ""), fwk.Queue},
		{"unrelated label change", archNode("n", "amd64", ""), func() *corev1.Node { n := archNode("n", "amd64", ""); n.Labels["x"] = "y"; return n }(), fwk.QueueSkip},
		{"node without arch added", nil, st.MakeNode().Name("n").Obj(), fwk.QueueSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var old any
			if tt.old != nil {
				old = tt.old
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, pod, old, tt.new)
			if err != nil || got != tt.want {
				t.Fatalf("hint = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestSignPod(t *testing.T) {
	im := newImages(t)
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }))
	ctx := context.Background()
	a := st.MakePod().Name("web-1").UID("1").Container(im.amd).Obj()
	b := st.MakePod().Name("web-2").UID("2").Container(im.amd).Obj()
	c := st.MakePod().Name("api-1").UID("3").Container(im.multi).Obj()
	for _, p := range []*corev1.Pod{a, b, c} {
		pl.evaluate(ctx, p)
	}
	sign := func(p *corev1.Pod) string {
		fr, status := pl.SignPod(ctx, p)
		if !status.IsSuccess() {
			t.Fatalf("SignPod(%s) = %v", p.Name, status)
		}
		var parts []string
		for _, f := range fr {
			parts = append(parts, f.Key+"="+strings.TrimSpace(fmtAny(f.Value)))
		}
		return strings.Join(parts, ";")
	}
	if sign(a) != sign(b) {
		t.Errorf("identical replicas sign differently:\n%s\n%s", sign(a), sign(b))
	}
	if sign(a) == sign(c) {
		t.Errorf("pods with different runnable platforms sign the same: %s", sign(a))
	}
	// An image still being looked up is not signed.
	im.reg.SetFault("/manifests/", registrytest.Fault{Delay: time.Second})
	if _, status := pl.SignPod(ctx, st.MakePod().Name("new").Container(im.reg.Host+"/app/new:1").Obj()); status.IsSuccess() {
		t.Error("a pod with a pending lookup was signed")
	}
}

// newPluginOnSnapshot is the plugin in a framework whose snapshot holds
// nodes; its node index starts empty, as if the informer lagged.
func newPluginOnSnapshot(t *testing.T, im *images, nodes ...*corev1.Node) (*ArchFit, activations) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	act := make(activations, 4)
	fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: "archfit-scheduler"},
		frameworkruntime.WithSnapshotSharedLister(schedcache.NewSnapshot(nil, nodes)), frameworkruntime.WithPodActivator(act))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }), fh)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*ArchFit), act
}

func TestPlatformIndexSkipAndReserveBackstop(t *testing.T) {
	im := newImages(t)
	arm, amd := archNode("arm", "arm64", "m7g.large"), archNode("amd", "amd64", "m6i.large")
	s390 := archNode("s390", "s390x", "")
	ctx := context.Background()
	pl, act := newPluginOnSnapshot(t, im, arm, amd, s390)
	pl.pointsOnce.Do(func() { pl.points = enabledPoints{reserve: true} }) // as in a profile that enables ArchFit's Reserve
	h := pl.index.handler()
	h.OnAdd(arm, false)
	h.OnAdd(amd, false)
	pod := st.MakePod().Namespace("default").Name("web").UID("web").Container(im.multi).Obj()

	// The index knows only amd64 and arm64: the multi-arch pod fits all.
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nil); !s.IsSkip() {
		t.Fatalf("PreFilter = %v, want Skip: the pod covers every platform in the index", s)
	}
	if s := pl.Reserve(ctx, state, pod, "arm"); !s.IsSuccess() {
		t.Fatalf("Reserve on arm64 = %v", s)
	}
	// The snapshot already has an s390x node the index has not seen (the
	// informer lag): if it is chosen, Reserve refuses and the pod is
	// re-activated for another try.
	if s := pl.Reserve(ctx, state, pod, "s390"); s.IsSuccess() || s.Message() != ErrReasonImageArchitecture {
		t.Fatalf("Reserve on s390x = %v, want %q", s, ErrReasonImageArchitecture)
	}
	select {
	case <-act:
	case <-time.After(5 * time.Second):
		t.Fatal("a pod refused at Reserve was not re-activated")
	}
	// Once the index has the node, PreFilter no longer skips Filter.
	h.OnAdd(s390, false)
	state = framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, nil); !s.IsSuccess() {
		t.Fatalf("PreFilter = %v, want Success once an s390x node exists", s)
	}
	// A node without any architecture keeps Filter on, too.
	h.OnDelete(s390)
	h.OnAdd(st.MakeNode().Name("mystery").Obj(), false)
	if _, s := pl.PreFilter(ctx, framework.NewCycleState(), pod, nil); !s.IsSuccess() {
		t.Fatalf("PreFilter = %v, want Success while a node reports no arch", s)
	}
}

func TestPinnedBy(t *testing.T) {
	linux := func(arch string) imageplatform.OSArch { return imageplatform.OSArch{OS: "linux", Arch: arch} }
	amdOnly := &imageplatform.PodPlatforms{Allowed: []imageplatform.OSArch{linux("amd64")}}
	mixed := &indexSnapshot{platforms: []imageplatform.OSArch{linux("amd64"), linux("arm64")}}
	withWindows := &indexSnapshot{platforms: []imageplatform.OSArch{linux("amd64"), linux("arm64"), {OS: "windows", Arch: "amd64"}}}
	withUnknown := &indexSnapshot{platforms: mixed.platforms, unknown: true}
	term := func(reqs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: reqs}
	}
	req := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	archIn := func(values ...string) corev1.NodeSelectorRequirement {
		return req(imageplatform.LabelArch, corev1.NodeSelectorOpIn, values...)
	}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Pod {
		p := st.MakePod().Obj()
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		return p
	}
	selector := func(kv ...string) *corev1.Pod {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return st.MakePod().NodeSelector(m).Obj()
	}
	for _, tc := range []struct {
		name string
		ix   *indexSnapshot
		pod  *corev1.Pod
		want bool
	}{
		{"no pin", mixed, st.MakePod().Obj(), false},
		{"nodeSelector on its arch", mixed, selector(imageplatform.LabelArch, "amd64"), true},
		{"nodeSelector on the wrong arch: Filter must say why", mixed, selector(imageplatform.LabelArch, "arm64"), false},
		{"another label only", mixed, selector("topology.kubernetes.io/zone", "a"), false},
		{"arch pinned, but a windows/amd64 node passes the pin", withWindows, selector(imageplatform.LabelArch, "amd64"), false},
		{"arch and OS pinned", withWindows, selector(imageplatform.LabelArch, "amd64", imageplatform.LabelOS, "linux"), true},
		{"nodes without an arch label fail an arch pin", withUnknown, selector(imageplatform.LabelArch, "amd64"), true},
		{"required affinity In, with other requirements", mixed, required(term(archIn("amd64"), req("zone", corev1.NodeSelectorOpIn, "a"))), true},
		{"every term pins the arch", mixed, required(term(archIn("amd64")), term(archIn("amd64"), req("zone", corev1.NodeSelectorOpExists))), true},
		{"one term does not pin the arch", mixed, required(term(archIn("amd64")), term(req("zone", corev1.NodeSelectorOpExists))), false},
		{"In with a wrong arch among the values", mixed, required(term(archIn("amd64", "arm64"))), false},
		{"NotIn admits nodes without the label", withUnknown, required(term(req(imageplatform.LabelArch, corev1.NodeSelectorOpNotIn, "arm64"))), false},
		{"nodeSelector and affinity together", mixed, func() *corev1.Pod {
			p := required(term(archIn("amd64", "arm64")))
			p.Spec.NodeSelector = map[string]string{imageplatform.LabelArch: "amd64"}
			return p
		}(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ix.pinnedBy(tc.pod, amdOnly); got != tc.want {
				t.Errorf("pinnedBy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPreFilterSkipsPinnedPodsOnlyWithNodeAffinityAndReserve(t *testing.T) {
	im := newImages(t)
	arm, amd := archNode("arm", "arm64", "m7g.large"), archNode("amd", "amd64", "m6i.large")
	ctx := context.Background()
	pod := st.MakePod().Namespace("default").Name("web").UID("web").Container(im.amd).NodeSelector(map[string]string{imageplatform.LabelArch: "amd64"}).Obj()
	for _, tc := range []struct {
		name   string
		points enabledPoints
		skip   bool
	}{
		{"the shipped profile", enabledPoints{reserve: true, postFilter: true, nodeAffinity: true}, true},
		{"NodeAffinity disabled: nothing else enforces the pin", enabledPoints{reserve: true, postFilter: true}, false},
		{"ArchFit's Reserve disabled: no backstop for a lagging index", enabledPoints{postFilter: true, nodeAffinity: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, _ := newPluginOnSnapshot(t, im, arm, amd)
			pl.pointsOnce.Do(func() { pl.points = tc.points })
			h := pl.index.handler()
			h.OnAdd(arm, false)
			h.OnAdd(amd, false)
			state := framework.NewCycleState()
			_, s := pl.PreFilter(ctx, state, pod, nil)
			if s.IsSkip() != tc.skip || (!tc.skip && !s.IsSuccess()) {
				t.Fatalf("PreFilter = %v, want skip=%v", s, tc.skip)
			}
			if !tc.skip {
				if s := pl.Filter(ctx, state, pod, nodeInfo(arm)); s.IsSuccess() {
					t.Fatal("Filter passed an arm64 node for an amd64-only pod")
				}
				return
			}
			// Filter is skipped: Reserve still refuses a wrong node.
			if s := pl.Reserve(ctx, state, pod, "arm"); s.IsSuccess() {
				t.Fatal("Reserve accepted an arm64 node for an amd64-only pod")
			}
			if s := pl.Reserve(ctx, state, pod, "amd"); !s.IsSuccess() {
				t.Fatalf("Reserve on amd64 = %v", s)
			}
		})
	}
}

func TestPreFilterNarrowsToOnePlatformAndPostFilterExplains(t *testing.T) {
	im := newImages(t)
	arm1, arm2, amd := archNode("arm1", "arm64", "m7g.large"), archNode("arm2", "arm64", "m7g.large"), archNode("amd", "amd64", "m6i.large")
	late, mystery := archNode("arm3", "arm64", ""), st.MakeNode().Name("mystery").Obj()
	// The snapshot has two nodes the index has not seen: an arm64 node
	// (informer lag) and one that reports no architecture.
	ctx := context.Background()
	pl, act := newPluginOnSnapshot(t, im, arm1, arm2, amd, late, mystery)
	snapshot := pl.handle.SnapshotSharedLister()
	h := pl.index.handler()
	for _, n := range []*corev1.Node{arm1, arm2, amd} {
		h.OnAdd(n, false)
	}
	all, _ := snapshot.NodeInfos().List()
	known := []fwk.NodeInfo{nodeInfo(arm1), nodeInfo(arm2), nodeInfo(amd)}
	pod := st.MakePod().Namespace("default").Name("edge").UID("edge").Container(im.arm).Obj()

	tests := []struct {
		name       string
		points     enabledPoints
		pod        *corev1.Pod
		wantNames  []string // nil: no PreFilterResult
		wantReject bool
	}{
		{name: "one platform, PostFilter on: its nodes", points: enabledPoints{reserve: true, postFilter: true}, pod: pod, wantNames: []string{"arm1", "arm2"}},
		{name: "one platform, PostFilter off: Filter on every node", points: enabledPoints{reserve: true}, pod: pod},
		{name: "two platforms, no Reserve to skip on: Filter on every node", points: enabledPoints{postFilter: true},
			pod: st.MakePod().Namespace("default").Name("web").UID("web").Container(im.multi).Obj()},
		{name: "no node of its platform, in index or snapshot: rejected at once", points: enabledPoints{reserve: true, postFilter: true},
			pod: st.MakePod().Namespace("default").Name("win").UID("win").Container(im.winOnly).Obj(), wantReject: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl.pointsOnce.Do(func() {})
			pl.points = tt.points
			nodes := all
			if tt.wantReject {
				nodes = known // no unknown-arch node: only then is the reason certain
			}
			res, s := pl.PreFilter(ctx, framework.NewCycleState(), tt.pod, nodes)
			if tt.wantReject {
				if s.Code() != fwk.UnschedulableAndUnresolvable || s.Message() != ErrReasonImageArchitecture {
					t.Fatalf("PreFilter = %v, want UnschedulableAndUnresolvable %q", s, ErrReasonImageArchitecture)
				}
				return
			}
			if !s.IsSuccess() {
				t.Fatalf("PreFilter = %v", s)
			}
			if tt.wantNames == nil {
				if !res.AllNodes() {
					t.Fatalf("PreFilterResult = %v, want all nodes", res.NodeNames)
				}
				return
			}
			if res.AllNodes() || !res.NodeNames.Equal(sets.New(tt.wantNames...)) {
				t.Fatalf("PreFilterResult = %v, want %v", res, tt.wantNames)
			}
		})
	}

	t.Run("a windows node the index lags on keeps Filter on", func(t *testing.T) {
		win := st.MakeNode().Name("win").Label(imageplatform.LabelArch, "amd64").Label(imageplatform.LabelOS, "windows").Obj()
		res, s := pl.PreFilter(ctx, framework.NewCycleState(), tests[3].pod, append(known[:3:3], nodeInfo(win)))
		if !s.IsSuccess() || !res.AllNodes() {
			t.Fatalf("PreFilter = %v, %v; want Success on all nodes", res, s)
		}
	})

	t.Run("PostFilter counts the nodes left out and retries a lagging index", func(t *testing.T) {
		pl.points = enabledPoints{reserve: true, postFilter: true}
		state := framework.NewCycleState()
		res, s := pl.PreFilter(ctx, state, pod, all)
		if !s.IsSuccess() || res.AllNodes() {
			t.Fatalf("PreFilter = %v, %v", res, s)
		}
		_, s = pl.PostFilter(ctx, state, pod, framework.NewDefaultNodeToStatus())
		want := "ArchFit: 1 " + ErrReasonImageArchitecture + ", ArchFit: 1 " + ErrReasonNodeArchUnknown
		if s.Code() != fwk.Unschedulable || s.Message() != want {
			t.Fatalf("PostFilter = %v, want Unschedulable %q", s, want)
		}
		select {
		case key := <-act:
			if key != "default/edge" {
				t.Fatalf("activated %q", key)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("arm3 was never tried, yet the pod was not re-activated")
		}
	})

	t.Run("PostFilter adds nothing when Filter saw every node", func(t *testing.T) {
		pl.points = enabledPoints{reserve: true}
		state := framework.NewCycleState()
		if _, s := pl.PreFilter(ctx, state, pod, all); !s.IsSuccess() {
			t.Fatal(s)
		}
		if _, s := pl.PostFilter(ctx, state, pod, framework.NewDefaultNodeToStatus()); s.Code() != fwk.Unschedulable || s.Message() != "" {
			t.Fatalf("PostFilter = %v, want Unschedulable with no reason", s)
		}
	})

	t.Run("a published set never changes; the next cycle sees the new node", func(t *testing.T) {
		pl.points = enabledPoints{reserve: true, postFilter: true}
		// Enough amd64 nodes that naming four arm64 ones still pays.
		many := append([]fwk.NodeInfo(nil), all...)
		for i := range 10 {
			many = append(many, nodeInfo(archNode(fmt.Sprintf("amd-%d", i), "amd64", "")))
		}
		before, _ := pl.PreFilter(ctx, framework.NewCycleState(), pod, many)
		x86 := archNode("x86", "amd64", "")
		h.OnAdd(late, false)
		h.OnAdd(x86, false)
		h.OnUpdate(x86, relabel(x86, "arm64"))
		after, _ := pl.PreFilter(ctx, framework.NewCycleState(), pod, many)
		if before.NodeNames.Len() != 2 {
			t.Fatalf("the set handed out earlier changed: %v", before.NodeNames)
		}
		if !after.NodeNames.Equal(sets.New("arm1", "arm2", "arm3", "x86")) {
			t.Fatalf("after a node joined and one was relabelled: %v", after.NodeNames)
		}
		h.OnDelete(arm1)
		if got, _ := pl.PreFilter(ctx, framework.NewCycleState(), pod, many); got.AllNodes() || got.NodeNames.Has("arm1") {
			t.Fatalf("a deleted node is still named: %v", got.NodeNames)
		}
	})
}

func TestNarrowingOnlyWhenItSavesVisits(t *testing.T) {
	// kube-scheduler's numFeasibleNodesToFind, adaptive and fixed.
	for _, c := range []struct{ n, percentage, want int }{
		{99, 0, 99}, {200, 0, 100}, {1000, 0, 420}, {3333, 0, 799}, {5000, 0, 500}, {100000, 0, 5000}, {5000, 50, 2500}, {150, 10, 100},
	} {
		if got := feasibleToFind(c.n, int32(c.percentage)); got != c.want {
			t.Errorf("feasibleToFind(%d, %d) = %d, want %d", c.n, c.percentage, got, c.want)
		}
	}
	pl := &ArchFit{}
	pl.pointsOnce.Do(func() {})
	for _, c := range []struct {
		all, subset, percentage int
		want                    bool
	}{
		{1000, 333, 0, true},   // 159+133 visits instead of all 1,000
		{1000, 667, 0, true},   // 300+266 instead of 630
		{5000, 3333, 0, false}, // 799+1,333 instead of 750: the framework would look for more
		{5000, 1667, 0, true},  // 616+666 instead of 1,500
		{5000, 3333, 50, true}, // a fixed percentage: 1,666+1,333 instead of 3,750
		{1000, 900, 0, false},  // 373+360 instead of 466: the hand-over costs more than it saves
		{20, 5, 0, true},
		{1000, 0, 0, false},
	} {
		pl.points.percentageOfNodesToScore = int32(c.percentage)
		if got := pl.narrowingPays(c.all, c.subset); got != c.want {
			t.Errorf("narrowingPays(%d of %d, percentage %d) = %v, want %v", c.subset, c.all, c.percentage, got, c.want)
		}
	}
}

func relabel(n *corev1.Node, arch string) *corev1.Node {
	c := n.DeepCopy()
	c.Labels[imageplatform.LabelArch] = arch
	return c
}

func TestPlacementEvents(t *testing.T) {
	rs := func(name, uid string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: types.UID(uid), Controller: ptr.To(true)}}
	}
	web1 := st.MakePod().Namespace("default").Name("web-1").UID("w1").Obj()
	web1.OwnerReferences = rs("web", "rs-web")
	web2 := web1.DeepCopy()
	web2.Name, web2.UID = "web-2", "w2"
	api := web1.DeepCopy()
	api.Name, api.UID, api.OwnerReferences = "api-1", "a1", rs("api", "rs-api")
	bare1 := st.MakePod().Namespace("default").Name("bare-1").UID("b1").Obj()
	bare2 := st.MakePod().Namespace("default").Name("bare-2").UID("b2").Obj()
	type ev struct {
		pod  *corev1.Pod
		arch string
	}
	// web-1 twice (a retried PostBind), web-2 on the same arch, web-2 on
	// another arch, a second workload, and two bare pods.
	seq := []ev{{web1, "arm64"}, {web1, "arm64"}, {web2, "arm64"}, {web2, "amd64"}, {api, "arm64"}, {bare1, "arm64"}, {bare2, "arm64"}}
	tests := []struct {
		mode string
		want []string // pods that get an Event, in order
	}{
		{config.PlacementEventsPerWorkload, []string{"web-1", "web-2", "api-1", "bare-1", "bare-2"}},
		{config.PlacementEventsPerPod, []string{"web-1", "web-2", "api-1", "bare-1", "bare-2"}},
		{config.PlacementEventsNone, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			rec := events.NewFakeRecorder(32)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: "archfit-scheduler"}, frameworkruntime.WithEventRecorder(rec))
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(ctx, defaultArgs(func(a *config.ArchFitArgs) { a.PlacementEvents = tt.mode }), fh)
			if err != nil {
				t.Fatal(err)
			}
			pl := p.(*ArchFit)
			for _, e := range seq {
				pl.placementEvent(e.pod, EventPlacedCheaper, e.arch, "placed %s on %s", e.pod.Name, e.arch)
			}
			close(rec.Events)
			var got []string
			for msg := range rec.Events {
				got = append(got, msg)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d Events, want %d: %q", len(got), len(tt.want), got)
			}
			for i, pod := range tt.want {
				if !strings.Contains(got[i], "placed "+pod+" on") {
					t.Errorf("Event %d = %q, want one for %s", i, got[i], pod)
				}
				owned := strings.HasPrefix(pod, "web") || strings.HasPrefix(pod, "api")
				if says := strings.Contains(got[i], "said once an hour for the pods of ReplicaSet"); says != (owned && tt.mode == config.PlacementEventsPerWorkload) {
					t.Errorf("Event %q: workload suffix %v, want %v", got[i], says, !says)
				}
			}
		})
	}

	t.Run("a workload's Event comes back after an hour", func(t *testing.T) {
		e := newEventOnce(10, time.Hour)
		t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
		for _, c := range []struct {
			at   time.Duration
			want bool
		}{{0, true}, {59 * time.Minute, false}, {61 * time.Minute, true}, {90 * time.Minute, false}} {
			if got := e.first("rs/ArchFitPlacedOnCheaperArch/arm64", t0.Add(c.at)); got != c.want {
				t.Errorf("at +%v: first = %v, want %v", c.at, got, c.want)
			}
		}
	})
}

func TestFactsCachePublishesTheCyclesNodes(t *testing.T) {
	pl := newPlugin(t, defaultArgs(nil))
	c := newFactsCache(pl.prices, 100)
	n1, n2 := archNode("n1", "arm64", "m7g.large"), archNode("n2", "amd64", "m6i.large")
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if f := c.get(n1); f.arch != "arm64" || !c.missed.Load() {
		t.Fatalf("first lookup: %+v, missed %v", f, c.missed.Load())
	}
	c.publish([]fwk.NodeInfo{nodeInfo(n1), nodeInfo(n2)}, t0)
	if p := c.fast.Load(); p == nil || len(p.facts) != 2 || c.missed.Load() {
		t.Fatalf("after publish: %v, missed %v", p, c.missed.Load())
	}
	if f := c.get(n2); f.arch != "amd64" || c.missed.Load() {
		t.Fatalf("a published node: %+v, missed %v", f, c.missed.Load())
	}
	// An update brings a new Node object: it misses, and its facts are
	// its own, never the old object's.
	n1b := relabel(n1, "amd64")
	if f := c.get(n1b); f.arch != "amd64" || !c.missed.Load() {
		t.Fatalf("updated node: %+v, missed %v", f, c.missed.Load())
	}
	c.publish([]fwk.NodeInfo{nodeInfo(n1b), nodeInfo(n2)}, t0.Add(500*time.Millisecond))
	if _, ok := c.fast.Load().facts[n1b]; ok {
		t.Fatal("published twice within a second")
	}
	c.publish([]fwk.NodeInfo{nodeInfo(n1b), nodeInfo(n2)}, t0.Add(2*time.Second))
	m := c.fast.Load().facts
	if _, ok := m[n1b]; !ok || len(m) != 2 {
		t.Fatalf("after the second publish: %v", m)
	}
	if _, ok := m[n1]; ok {
		t.Fatal("a replaced Node object is still held")
	}
}

func TestFactsCacheIsBounded(t *testing.T) {
	pl := newPlugin(t, defaultArgs(nil))
	c := newFactsCache(pl.prices, 10)
	for i := 0; i < 100; i++ {
		n := archNode(fmt.Sprintf("n%d", i), "arm64", "m7g.large")
		if f := c.get(n); !f.known || f.arch != "arm64" || f.microPerVCPU != 40800 {
			t.Fatalf("facts = %+v", f)
		}
	}
	if n := c.n.Load(); n > 10 {
		t.Fatalf("cache holds %d entries, bound 10", n)
	}
}

type otherState struct{}

func (otherState) Clone() fwk.StateData { return otherState{} }

// A missing or foreign state is an error for Filter, never a panic.
func TestPreFilterStateGetter(t *testing.T) {
	want := &preFilterState{}
	for name, tc := range map[string]struct {
		write   fwk.StateData
		wantErr string
	}{
		"written by PreFilter": {write: want},
		"missing":              {wantErr: `reading "ArchFit" from the cycle state`},
		"another type":         {write: otherState{}, wantErr: "invalid PreFilter state, got type archfit.otherState"},
	} {
		t.Run(name, func(t *testing.T) {
			state := framework.NewCycleState()
			if tc.write != nil {
				state.Write(stateKey, tc.write)
			}
			got, err := getPreFilterState(state)
			if tc.wantErr == "" {
				if err != nil || got != want {
					t.Fatalf("got %p, %v; want the written state", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			pl := newPlugin(t, defaultArgs(nil))
			if st := pl.Filter(context.Background(), state, nil, nodeInfo(archNode("a", "arm64", ""))); st.Code() != fwk.Error {
				t.Fatalf("Filter with %s state: %v, want an Error status", name, st)
			}
		})
	}
}

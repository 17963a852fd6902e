package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
)

// The three digests one image is known by on arm64, and amd64's.
const (
	idxDigest    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	armManifest  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	armConfig    = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	amdManifest  = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	amdConfig    = "sha256:5555555555555555555555555555555555555555555555555555555555555555"
	fixtureImage = "registry.example/app:1"
)

// fixture runs the controller's passes against listers the test fills and
// a fake API that records evictions, with a clock the test moves. It
// stands in for the cluster only where the test says what the kubelet,
// the ReplicaSet controller and the scheduler did; the integration tests
// run them for real.
type fixture struct {
	t                  *testing.T
	now                time.Time
	cs                 *fake.Clientset
	pods, nodes, rss   cache.Indexer
	c                  *Controller
	m                  *Metrics
	records            *migration.Records
	recorder           *events.FakeRecorder
	evicted, eventLog  []string
	digestCalls        int
	podLister          corelisters.PodLister
	nodeLister         corelisters.NodeLister
	rsUID              types.UID
	digestsUnavailable bool
	// amdOnly are pods whose images run on amd64 alone.
	amdOnly map[string]bool
}

func newFixture(t *testing.T, change func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC), rsUID: "rs-uid", amdOnly: map[string]bool{}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: f.rsUID}}
	f.cs = fake.NewClientset(rs)
	f.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(interface{ GetName() string })
		f.evicted = append(f.evicted, ev.GetName())
		return true, nil, nil
	})
	f.pods = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	f.nodes = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	f.rss = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	f.add(f.rss, rs)
	f.node("amd", "amd64", "m6i.large")
	f.node("arm", "arm64", "m7g.large")
	f.records = &migration.Records{}
	f.recorder = events.NewFakeRecorder(1000)
	f.m = NewMetrics(prometheus.NewRegistry())
	o := Options{Mode: ModeEnabled, Interval: time.Second, EvictionsPerMinute: 6e7, // the limiter runs on the real clock CrashLoopRestarts: 3, ExpectScaleUp: true,
		Rollback: true, RecordsNamespace: "archfit", RecordsName: "archfit-rollbacks",
		Soak: time.Minute, ReadyTimeout: 5 * time.Minute, FollowPlan: true,
		Now: func() time.Time { return f.now },
		Digests: func(_ context.Context, _ *corev1.Pod, image string) (imageplatform.ImageDigests, error) {
			f.digestCalls++
			if f.digestsUnavailable {
				return imageplatform.ImageDigests{}, fmt.Errorf("registry down")
			}
			if image != fixtureImage {
				return imageplatform.ImageDigests{}, fmt.Errorf("asked about %q", image)
			}
			return imageplatform.ImageDigests{Digest: idxDigest, Platforms: []imageplatform.PlatformDigests{
				{Platform: imageplatform.Platform{OS: "linux", Architecture: "amd64"}, Manifest: amdManifest, Config: amdConfig},
				{Platform: imageplatform.Platform{OS: "linux", Architecture: "arm64"}, Manifest: armManifest, Config: armConfig},
			}}, nil
		}}
	if change != nil {
		change(&o)
	}
	prices := cost.New(cost.DefaultTable(), cost.DefaultArchitectureWeights(), cost.DefaultPriceAnnotation)
	// What placement's evaluation says of the image: the index lists both
	// arches, less those its rollback records deny.
	evaluate := func(_ context.Context, p *corev1.Pod) imageplatform.PodPlatforms {
		if f.amdOnly[p.Name] {
			return imageplatform.PodPlatforms{Allowed: []imageplatform.OSArch{{OS: "linux", Arch: "amd64"}}}
		}
		res := imageplatform.Result{Image: fixtureImage, Digest: idxDigest, Denied: f.records.DeniedArchitectures(idxDigest)}
		pp := imageplatform.PodPlatforms{Images: []imageplatform.ImageVerdict{{Container: "app", Result: res}}}
		for _, a := range []string{"amd64", "arm64"} {
			if !slices.Contains(res.Denied, a) {
				pp.Allowed = append(pp.Allowed, imageplatform.OSArch{OS: "linux", Arch: a})
			}
		}
		return pp
	}
	f.c = New(f.cs, &migration.Workloads{ReplicaSets: appslisters.NewReplicaSetLister(f.rss)}, f.records,
		func(*corev1.Pod) bool { return true }, evaluate, prices, f.recorder, f.m, o)
	f.podLister, f.nodeLister = corelisters.NewPodLister(f.pods), corelisters.NewNodeLister(f.nodes)
	return f
}

func (f *fixture) add(i cache.Indexer, o any) {
	f.t.Helper()
	if err := i.Add(o); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) node(name, arch, instanceType string) {
	n := st.MakeNode().Name(name).Label(imageplatform.LabelArch, arch).Label(imageplatform.LabelOS, "linux").
		Label(cost.LabelInstanceType, instanceType).Capacity(map[corev1.ResourceName]string{"cpu": "2", "memory": "8Gi", "pods": "110"}).Obj()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	f.add(f.nodes, n)
	if _, err := f.cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// Pod states, as the kubelet would report them.
func ready(since time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: fixtureImage, ImageID: "registry.example/app@" + idxDigest, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
}

// starting: bound, pulling; the kubelet has reported no imageID yet.
func starting(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: fixtureImage,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
}

func execFormat(imageID string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: fixtureImage, ImageID: imageID, RestartCount: 1,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError",
				Message: `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app": exec format error: unknown`}}}}
	}
}

func created(t time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}

// pod adds a pod of the workload, bound to node ("" pending).
func (f *fixture) pod(name, node string, edits ...func(*corev1.Pod)) {
	f.t.Helper()
	p := st.MakePod().Namespace("shop").Name(name).UID(name).Node(node).Container(fixtureImage).
		Req(map[corev1.ResourceName]string{"cpu": "100m"}).OwnerReference("web-1", appsv1.SchemeGroupVersion.WithKind("ReplicaSet")).Obj()
	p.Spec.Containers[0].Name = "app"
	p.OwnerReferences[0].UID = f.rsUID
	p.CreationTimestamp = metav1.NewTime(f.now)
	for _, e := range edits {
		e(p)
	}
	f.add(f.pods, p)
}

func (f *fixture) remove(name string) {
	f.t.Helper()
	if err := f.pods.Delete(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}); err != nil {
		f.t.Fatal(err)
	}
}

// pass runs one pass at the clock's time, after bringing the workload's
// annotations from the API into the lister, as its informer would.
func (f *fixture) pass(d time.Duration) {
	f.t.Helper()
	f.now = f.now.Add(d)
	rs, err := f.cs.AppsV1().ReplicaSets("shop").Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.rss.Update(rs); err != nil {
		f.t.Fatal(err)
	}
	// Nodes too: the controller taints the one it empties.
	for _, o := range f.nodes.List() {
		n, err := f.cs.CoreV1().Nodes().Get(context.Background(), o.(*corev1.Node).Name, metav1.GetOptions{})
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.nodes.Update(n); err != nil {
			f.t.Fatal(err)
		}
	}
	f.c.Pass(context.Background(), f.podLister, f.nodeLister)
	for {
		select {
		case e := <-f.recorder.Events:
			f.eventLog = append(f.eventLog, e)
			continue
		default:
		}
		return
	}
}

func (f *fixture) annotations() map[string]string {
	rs, err := f.cs.AppsV1().ReplicaSets("shop").Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs.Annotations
}

func (f *fixture) eventsWith(reason string) []string {
	var out []string
	for _, e := range f.eventLog {
		if strings.Contains(e, " "+reason+" ") {
			out = append(out, e)
		}
	}
	return out
}

func (f *fixture) storedRecords() map[string][]migration.Record {
	f.t.Helper()
	cm, err := f.cs.CoreV1().ConfigMaps("archfit").Get(context.Background(), "archfit-rollbacks", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	all, err := migration.ParseRecords(cm)
	if err != nil {
		f.t.Fatal(err)
	}
	return all
}

// The next pod moves only once the last one moved has been Ready on arm64
// for the soak time; the first is the canary.
func TestMoveWaitsForTheCanaryToSoak(t *testing.T) {
	f := newFixture(t, nil)
	long := f.now.Add(-time.Hour)
	f.pod("a1", "amd", ready(long), created(long))
	f.pod("a2", "amd", ready(long), created(long))
	f.pass(0) // marks the workload: placement narrows new pods to arm64
	if f.annotations()[migration.NextAnnotation] != migration.ARM64 {
		t.Fatalf("annotations %v: the first pass marks the workload", f.annotations())
	}
	f.pass(time.Second)
	if len(f.evicted) != 1 {
		t.Fatalf("evicted %v, want one pod, the canary", f.evicted)
	}
	moved, other := f.evicted[0], map[string]string{"a1": "a2", "a2": "a1"}[f.evicted[0]]
	// The ReplicaSet replaces it; the scheduler binds r1 to arm64, where
	// its image takes longer to pull than many passes.
	f.remove(moved)
	f.pod("r1", "arm", starting)
	for i := 0; i < 30; i++ {
		f.pass(time.Second)
	}
	if len(f.evicted) != 1 {
		t.Fatalf("evicted %v while the canary was still starting", f.evicted)
	}
	if _, ok := f.annotations()[migration.NextAnnotation]; ok {
		t.Errorf("%s stays set while the canary soaks: a scale-up would put untested pods on arm64", migration.NextAnnotation)
	}
	if w := f.eventsWith(ReasonMoveWaiting); len(w) != 1 || !strings.Contains(w[0], "canary") {
		t.Errorf("waiting Events %q, want one naming the canary", w)
	}
	// Ready now; not yet for the soak time.
	f.remove("r1")
	f.pod("r1", "arm", ready(f.now), created(f.now.Add(-30*time.Second)))
	for i := 0; i < 5; i++ {
		f.pass(10 * time.Second)
	}
	if len(f.evicted) != 1 {
		t.Fatalf("evicted %v before the canary had been Ready for the soak time", f.evicted)
	}
	f.pass(15 * time.Second) // 65 s Ready: marks again
	f.pass(time.Second)
	if !slices.Equal(f.evicted, []string{moved, other}) {
		t.Fatalf("evicted %v after the canary soaked, want %s next", f.evicted, other)
	}
}

// A canary that fails stops everything: recorded, evicted, paused, and
// the other replica never moves.
func TestLyingCanaryMovesNothingMore(t *testing.T) {
	f := newFixture(t, nil)
	long := f.now.Add(-time.Hour)
	f.pod("a1", "amd", ready(long), created(long))
	f.pod("a2", "amd", ready(long), created(long))
	f.pass(0)
	f.pass(time.Second)
	if len(f.evicted) != 1 {
		t.Fatalf("evicted %v, want the canary", f.evicted)
	}
	moved := f.evicted[0]
	f.remove(moved)
	f.pod("r1", "arm", starting)
	f.pass(time.Second)
	f.pass(time.Second)
	// The pull finishes; runc cannot start an amd64 binary.
	f.remove("r1")
	f.pod("r1", "arm", execFormat("registry.example/app@"+armManifest))
	f.pass(time.Second)
	if !slices.Equal(f.evicted, []string{moved, "r1"}) {
		t.Fatalf("evicted %v, want %s (the move) then r1 (the rollback)", f.evicted, moved)
	}
	if p := f.annotations()[migration.PausedAnnotation]; !strings.Contains(p, "arm64") {
		t.Fatalf("annotations %v: the ramp is not paused", f.annotations())
	}
	f.remove("r1")
	f.pod("r2", "amd", ready(f.now))
	for i := 0; i < 120; i++ {
		f.pass(time.Minute)
	}
	if len(f.evicted) != 2 {
		t.Fatalf("evicted %v: moves went on after the canary failed", f.evicted)
	}
}

// Whatever digest the runtime reports, the record is written under the
// index's digest, with all three forms, and each form finds it.
func TestRecordHoldsEveryDigestForm(t *testing.T) {
	for _, reported := range []string{idxDigest, armManifest, armConfig} {
		t.Run(reported[7:11], func(t *testing.T) {
			f := newFixture(t, nil)
			f.pod("r1", "arm", execFormat("registry.example/app@"+reported))
			f.pass(0)
			all := f.storedRecords()
			if len(all) != 1 || len(all[idxDigest]) != 1 {
				t.Fatalf("records %+v, want one under the index digest", all)
			}
			rec := all[idxDigest][0]
			if want := []string{idxDigest, armManifest, armConfig}; !slices.Equal(rec.Digests, want) || rec.Arch != "arm64" || rec.Image != fixtureImage {
				t.Fatalf("record %+v, want arch arm64, image %s, digests %v", rec, fixtureImage, want)
			}
			for _, d := range []string{idxDigest, armManifest, armConfig} {
				if !f.records.Has(d, "arm64") {
					t.Errorf("%s does not find the record", d)
				}
			}
			for _, d := range []string{amdManifest, amdConfig} {
				if f.records.Has(d, "arm64") {
					t.Errorf("amd64's digest %s finds the arm64 record", d)
				}
			}
			if !slices.Equal(f.evicted, []string{"r1"}) {
				t.Errorf("evicted %v", f.evicted)
			}
		})
	}
}

// With the registry down the record holds the reported digest, and a later
// pass completes it.
func TestRecordIsCompletedWhenTheRegistryAnswers(t *testing.T) {
	f := newFixture(t, nil)
	f.digestsUnavailable = true
	f.pod("r1", "arm", execFormat("registry.example/app@"+armConfig))
	f.pass(0)
	if all := f.storedRecords(); len(all[armConfig]) != 1 || len(all[armConfig][0].Digests) != 0 {
		t.Fatalf("records %+v, want one under the reported digest, its forms unknown", all)
	}
	if f.records.Has(idxDigest, "arm64") {
		t.Fatal("the index digest finds a record whose forms are not known yet")
	}
	f.digestsUnavailable = false
	f.pass(time.Minute) // retried at most every ten minutes
	if f.records.Has(idxDigest, "arm64") {
		t.Fatal("retried within ten minutes")
	}
	f.pass(10 * time.Minute)
	if rec := f.storedRecords()[armConfig]; len(rec) != 1 || !slices.Equal(rec[0].Digests, []string{idxDigest, armManifest, armConfig}) {
		t.Fatalf("record %+v after the registry answered", rec)
	}
	if !f.records.Has(idxDigest, "arm64") {
		t.Fatal("the completed record is not found by the index digest the resolvers use")
	}
}

// When a record appears, every pod of the image on that arch goes at once,
// those still pulling too.
func TestRecordEvictsPodsStillStarting(t *testing.T) {
	f := newFixture(t, nil)
	f.pod("r1", "arm", execFormat("registry.example/app@"+idxDigest))
	f.pod("r2", "arm", starting)
	f.pod("r3", "arm", func(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} }) // no status at all yet
	f.pod("a1", "amd", ready(f.now))
	f.pass(0)
	slices.Sort(f.evicted)
	if !slices.Equal(f.evicted, []string{"r1", "r2", "r3"}) {
		t.Fatalf("evicted %v, want r1 (failing) and r2, r3 (starting) in the same pass", f.evicted)
	}
}

// A replacement that comes back on the arch a rollback evicted its
// predecessor from stops the workload's evictions: no loop.
func TestNoEvictionLoop(t *testing.T) {
	f := newFixture(t, nil)
	f.pod("p1", "arm", execFormat("registry.example/app@"+idxDigest))
	f.pass(0)
	if !slices.Equal(f.evicted, []string{"p1"}) {
		t.Fatalf("evicted %v", f.evicted)
	}
	// Pinned by nodeName, say: the replacement lands on arm64 again.
	for i := 2; i < 30; i++ {
		f.remove(fmt.Sprintf("p%d", i-1))
		f.pod(fmt.Sprintf("p%d", i), "arm", execFormat("registry.example/app@"+idxDigest))
		f.pass(4 * time.Second)
		if len(f.evicted) > 1 {
			break
		}
	}
	if len(f.evicted) != 1 {
		t.Fatalf("evicted %v: a loop", f.evicted)
	}
	if w := f.eventsWith(ReasonEvictionLoop); len(w) != 1 || !strings.HasPrefix(w[0], corev1.EventTypeWarning) {
		t.Fatalf("loop Events %q, want one Warning", w)
	}
	if got := testutil.ToFloat64(f.m.Stops.WithLabelValues(StopEvictionLoop)); got != 1 {
		t.Fatalf("stops{eviction_loop} = %v, want 1", got)
	}
}

// However the loop comes about, one workload's evictions in an hour are
// bounded.
func TestEvictionsPerWorkloadAreBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxEvictionsPerWorkload = 2 })
	for _, n := range []string{"r1", "r2", "r3"} {
		f.pod(n, "arm", execFormat("registry.example/app@"+idxDigest))
	}
	f.pass(0)
	f.pass(time.Minute)
	if len(f.evicted) != 2 {
		t.Fatalf("evicted %v, want 2 at a bound of 2 an hour", f.evicted)
	}
	if w := f.eventsWith(ReasonEvictionLimit); len(w) != 1 {
		t.Fatalf("limit Events %q, want one", w)
	}
	if got := testutil.ToFloat64(f.m.Stops.WithLabelValues(StopEvictionLimit)); got != 1 {
		t.Fatalf("stops{eviction_limit} = %v, want 1", got)
	}
	f.remove(f.evicted[0])
	f.remove(f.evicted[1])
	f.pass(time.Hour)
	if len(f.evicted) != 3 {
		t.Fatalf("evicted %v an hour later, want the third", f.evicted)
	}
}

// A pod moved to arm64 that is not Ready within the bound pauses the ramp.
func TestMovedPodNotReadyInTimePausesTheRamp(t *testing.T) {
	f := newFixture(t, nil)
	long := f.now.Add(-time.Hour)
	f.pod("a1", "amd", ready(long), created(long))
	f.pod("r1", "arm", starting, created(f.now.Add(-6*time.Minute)))
	f.pass(0)
	if p := f.annotations()[migration.PausedAnnotation]; !strings.Contains(p, "not Ready") {
		t.Fatalf("annotations %v: not paused", f.annotations())
	}
	if w := f.eventsWith(ReasonMoveNotReady); len(w) != 1 {
		t.Fatalf("Events %q", f.eventLog)
	}
	if got := testutil.ToFloat64(f.m.Stops.WithLabelValues(StopNotReady)); got != 1 {
		t.Fatalf("stops{not_ready} = %v", got)
	}
	if len(f.evicted) != 0 {
		t.Fatalf("evicted %v", f.evicted)
	}
}

// Moves follow the plan, a node at a time: a pod beside an amd64-only one
// never moves (its node would stay, partly used, and arm64 would cost more);
// the pods of a node they can empty do, and the node's going is checked.
func TestMovesEmptyWholeNodes(t *testing.T) {
	f := newFixture(t, nil)
	f.node("amd-2", "amd64", "m6i.large")
	long := f.now.Add(-time.Hour)
	f.amdOnly["legacy"] = true
	// Too big for amd-2's room: it keeps its node.
	f.pod("legacy", "amd", ready(long), created(long), func(p *corev1.Pod) {
		setCPU(p, "1850m")
	})
	f.pod("beside", "amd", ready(long), created(long))
	f.pod("m2", "amd-2", ready(long), created(long))
	f.pod("m3", "amd-2", ready(long), created(long))
	f.pass(0)
	f.pass(time.Second)
	if len(f.evicted) != 1 || f.evicted[0] == "beside" || f.evicted[0] == "legacy" {
		t.Fatalf("evicted %v, want m2 or m3: only amd-2 can be emptied", f.evicted)
	}
	if w := f.eventsWith(ReasonNodePlanned); len(w) != 1 || !strings.Contains(w[0], "2 pod(s)") {
		t.Fatalf("Events %q, want one saying amd-2's 2 pods move", f.eventLog)
	}
	moved := f.evicted[0]
	f.remove(moved)
	f.pod("r1", "arm", ready(f.now))
	for i := 0; i < 80 && len(f.evicted) < 2; i++ {
		f.pass(time.Second)
	}
	if len(f.evicted) != 2 || slices.Contains(f.evicted, "beside") {
		t.Fatalf("evicted %v, want m2 and m3 and never beside", f.evicted)
	}
	f.remove(f.evicted[1])
	f.pod("r2", "arm", ready(f.now))
	f.pass(time.Second)
	// The autoscaler removes the empty node.
	if err := f.nodes.Delete(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "amd-2"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.cs.CoreV1().Nodes().Delete(context.Background(), "amd-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.pass(time.Second)
	if w := f.eventsWith(ReasonNodeFreed); len(w) != 1 {
		t.Fatalf("Events %q, want %s", f.eventLog, ReasonNodeFreed)
	}
	if got := testutil.ToFloat64(f.m.NodesFreed); got != 1 {
		t.Fatalf("nodes freed %v", got)
	}
	for i := 0; i < 20; i++ {
		f.pass(time.Minute)
	}
	if slices.Contains(f.evicted, "beside") || len(f.evicted) != 2 {
		t.Fatalf("evicted %v after the node went: beside's node stays for legacy, so beside stays too", f.evicted)
	}
}

// An emptied node that the autoscaler does not remove stops the plan.
func TestEmptiedNodeThatStaysStopsThePlan(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.NodeTimeout = 10 * time.Minute })
	long := f.now.Add(-time.Hour)
	f.pod("a1", "amd", ready(long), created(long))
	f.pass(0)
	f.pass(time.Second)
	if !slices.Equal(f.evicted, []string{"a1"}) {
		t.Fatalf("evicted %v", f.evicted)
	}
	f.remove("a1")
	f.pod("r1", "arm", ready(f.now))
	f.pass(time.Second)
	f.pass(11 * time.Minute)
	if w := f.eventsWith(ReasonNodeNotRemoved); len(w) != 1 || !strings.HasPrefix(w[0], corev1.EventTypeWarning) {
		t.Fatalf("Events %q, want a Warning %s", f.eventLog, ReasonNodeNotRemoved)
	}
	if got := testutil.ToFloat64(f.m.Stops.WithLabelValues(StopNodeNotRemoved)); got != 1 {
		t.Fatalf("stops{node_not_removed} = %v", got)
	}
	if n, err := f.cs.CoreV1().Nodes().Get(context.Background(), "amd", metav1.GetOptions{}); err != nil || len(n.Spec.Taints) != 0 {
		t.Fatalf("node amd taints %v (%v) after the step was given up, want none", n.Spec.Taints, err)
	}
}

// A node with a pod that does not run on arm64 is emptied all the same
// when that pod fits another node's room: it goes there, the others to
// arm64, and the node is tainted meanwhile so that nothing lands on it.
func TestAnAMD64OnlyPodGoesToAnotherNodesRoom(t *testing.T) {
	f := newFixture(t, nil)
	f.node("amd-2", "amd64", "m6i.large")
	long := f.now.Add(-time.Hour)
	f.amdOnly["legacy"] = true
	f.pod("legacy", "amd", ready(long), created(long))
	f.pod("beside", "amd", ready(long), created(long))
	f.pod("other", "amd-2", ready(long), created(long), func(p *corev1.Pod) {
		setCPU(p, "1500m")
	})
	for i := 0; i < 10 && len(f.evicted) < 2; i++ {
		f.pass(time.Second)
		for _, n := range f.evicted {
			if n == "legacy" {
				f.remove("legacy")
				f.pod("legacy2", "amd-2", ready(f.now))
				f.evicted = append(f.evicted[:0:0], f.evicted...)
			}
		}
	}
	if !slices.Contains(f.evicted, "legacy") {
		t.Fatalf("evicted %v, want legacy drained to amd-2's room", f.evicted)
	}
	n, err := f.cs.CoreV1().Nodes().Get(context.Background(), "amd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != EmptyingTaint || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Fatalf("node amd taints %v, want %s:NoSchedule while it is emptied", n.Spec.Taints, EmptyingTaint)
	}
	if w := f.eventsWith(ReasonNodePlanned); len(w) != 1 || !strings.Contains(w[0], "1 to other nodes' room") {
		t.Fatalf("Events %q", f.eventLog)
	}
}

// setCPU sets the CPU request of the pod's one container that has requests.
func setCPU(p *corev1.Pod, q string) {
	for i := range p.Spec.Containers {
		if r := p.Spec.Containers[i].Resources.Requests; r != nil {
			r[corev1.ResourceCPU] = resource.MustParse(q)
		}
	}
}

// Without --migration-follow-plan, the rule before the planner: a pod moves
// when its node costs more per vCPU than arm64, even one beside an
// amd64-only pod, whose node then stays partly used.
func TestWithoutThePlanEveryDearerPodMoves(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FollowPlan = false })
	long := f.now.Add(-time.Hour)
	f.amdOnly["legacy"] = true
	f.pod("legacy", "amd", ready(long), created(long), func(p *corev1.Pod) { setCPU(p, "1850m") })
	f.pod("beside", "amd", ready(long), created(long))
	f.pass(0)
	f.pass(time.Second)
	if !slices.Equal(f.evicted, []string{"beside"}) {
		t.Fatalf("evicted %v, want beside: the per-pod rule", f.evicted)
	}
	if w := f.eventsWith(ReasonNodePlanned); len(w) != 0 {
		t.Fatalf("Events %q: no node is emptied without the plan", w)
	}
}

package archfit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/profile"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/placement"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/archfit"
	schedulerconfig "github.com/archfit/archfit/scheduler-config"
	"github.com/archfit/archfit/test/harness/benchcluster"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// BenchmarkSchedulingCycle runs kube-scheduler's scheduling algorithm
// (PreFilter to choosing a host; no queue, no binding, no API server) for
// the same pods with the default profile and the shipped archfit-scheduler
// profile, in one scheduler built from the shipped config, on a cluster of
// fake nodes (2/3 amd64, 1/3 arm64). pods=mix is the throughput
// benchmark's 70/20/10 mix of multi-arch, amd64-only and arm64-only pods,
// and pods=mix-pinned the same with the single-arch pods pinned to their
// arch by a nodeSelector; the other pods= runs take one kind each, to show
// where ArchFit's cost lies. It isolates what ArchFit adds to the serial
// cycle from the control plane's share of the two cores, which make
// bench's throughput figure includes. Compare the two profiles' ns/op:
// that is the cycle's cost ratio. For the pods both profiles place
// correctly it also runs benchcluster.FloorProfile, the default profile
// plus a Score plugin that does nothing: the framework's charge for one
// more Score plugin, against which ArchFit's own cost shows.
func BenchmarkSchedulingCycle(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			objs := make([]runtime.Object, 0, n)
			for i := range n {
				objs = append(objs, benchcluster.Node(i))
			}
			c := newCycleScheduler(b, objs)
			for _, kind := range c.kinds(b) {
				b.Run("pods="+kind.name, func(b *testing.B) {
					profiles := []string{"default-scheduler", "archfit-scheduler"}
					if kind.floor {
						profiles = append(profiles, benchcluster.FloorProfile)
					}
					for _, name := range profiles {
						b.Run(name, func(b *testing.B) {
							fw := c.sched.Profiles[name]
							pods := kind.pods[name]
							ctx := context.Background()
							b.ReportAllocs()
							i := 0
							for b.Loop() {
								p := pods[i%len(pods)]
								i++
								if _, err := schedulePod(ctx, c.sched, fw, framework.NewCycleState(), p); err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				})
			}
		})
	}
}

// cycleKind is a podMix's pods, built and warmed for each profile.
type cycleKind struct {
	name  string
	floor bool
	pods  map[string][]*framework.QueuedPodInfo
}

// podMix is a benchmark's pods by kind, in the order they are scheduled.
// floor: also run them in benchcluster.FloorProfile (the default profile
// plus a Score plugin that does nothing), for pods both profiles place
// correctly, so that ArchFit's own cost shows apart from the framework's
// charge for one more Score plugin.
type podMix struct {
	name  string
	kinds []benchcluster.Kind
	floor bool
}

// cycleKinds are the pod kinds the benchmark schedules: the throughput
// benchmark's mix with and without arch pins, then each kind alone.
func cycleKinds(im benchcluster.Images) []podMix {
	return []podMix{
		{"mix", im.Mix(false), false},
		{"mix-pinned", im.Mix(true), true},
		{"multi-arch", []benchcluster.Kind{{Image: im.Multi}}, true},
		{"amd64-only", []benchcluster.Kind{{Image: im.AMD64}}, false},
		{"arm64-only", []benchcluster.Kind{{Image: im.ARM64}}, false},
		// The same single-arch pods with a kubernetes.io/arch nodeSelector:
		// what the default profile pays to place them correctly, which it
		// does not do for the pods above.
		{"amd64-only-with-selector", []benchcluster.Kind{{Image: im.AMD64, Arch: "amd64"}}, false},
		{"arm64-only-with-selector", []benchcluster.Kind{{Image: im.ARM64, Arch: "arm64"}}, false},
	}
}

// cycleScheduler is kube-scheduler built from the shipped config, with
// both profiles, on fake nodes, and the images its pods use; warm holds a
// pod per profile and kind that has been through a cycle already.
type cycleScheduler struct {
	sched *scheduler.Scheduler
	im    benchcluster.Images
	warm  map[string]map[benchcluster.Kind]*framework.QueuedPodInfo
}

func newCycleScheduler(tb testing.TB, nodes []runtime.Object) *cycleScheduler {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	ctx = klog.NewContext(ctx, logr.Discard()) // the scheduler's start-up logs would fill the output
	reg := registrytest.New()
	tb.Cleanup(reg.Close)
	im, err := benchcluster.Push(reg)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := schedulerconfig.ForLoopbackRegistry(reg.Host)
	if err != nil {
		tb.Fatal(err)
	}
	if raw, err = benchcluster.WithFloorProfile(raw); err != nil {
		tb.Fatal(err)
	}
	obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode(raw, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := obj.(*schedconfig.KubeSchedulerConfiguration)

	cs := clientsetfake.NewClientset(nodes...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	snapshot := schedcache.NewEmptySnapshot()
	opts := append(snapshotOptions(snapshot), scheduler.WithProfiles(cfg.Profiles...),
		scheduler.WithFrameworkOutOfTreeRegistry(frameworkruntime.Registry{
			archfit.Name:               archfit.New,
			benchcluster.NoopScoreName: benchcluster.NewNoopScore,
		}))
	sched, err := scheduler.New(ctx, cs, inf, nil, profile.NewRecorderFactory(broadcaster), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	for deadline := time.Now().Add(time.Minute); sched.Cache.NodeCount() < len(nodes); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the scheduler's cache has %d of %d nodes", sched.Cache.NodeCount(), len(nodes))
		}
	}
	// What the scheduling cycle does before each pod; nothing changes
	// between the benchmark's cycles, since no pod is bound.
	if err := sched.Cache.UpdateSnapshot(klog.FromContext(ctx), schedulersSnapshot(sched, snapshot)); err != nil {
		tb.Fatal(err)
	}
	return &cycleScheduler{sched: sched, im: im, warm: map[string]map[benchcluster.Kind]*framework.QueuedPodInfo{}}
}

// pod returns the profile's pod of kind k, scheduled once first to warm
// the resolver: the first cycle may wait past PreFilter's budget for the
// registry.
func (c *cycleScheduler) pod(tb testing.TB, profile string, k benchcluster.Kind) *framework.QueuedPodInfo {
	tb.Helper()
	if qpi, ok := c.warm[profile][k]; ok {
		return qpi
	}
	p := k.Pod(profile)
	i := len(c.warm[profile])
	p.ObjectMeta = metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("%s-%d", profile, i))}
	pi, err := framework.NewPodInfo(p)
	if err != nil {
		tb.Fatal(err)
	}
	qpi := &framework.QueuedPodInfo{PodInfo: pi}
	for try := 0; ; try++ {
		if _, err := schedulePod(context.Background(), c.sched, c.sched.Profiles[profile], framework.NewCycleState(), qpi); err == nil {
			break
		} else if try == 50 {
			tb.Fatalf("%s: %v", p.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.warm[profile] == nil {
		c.warm[profile] = map[benchcluster.Kind]*framework.QueuedPodInfo{}
	}
	c.warm[profile][k] = qpi
	return qpi
}

// kinds builds the benchmark's pods for each profile.
func (c *cycleScheduler) kinds(tb testing.TB) []cycleKind {
	var out []cycleKind
	for _, ck := range cycleKinds(c.im) {
		k := cycleKind{name: ck.name, floor: ck.floor, pods: map[string][]*framework.QueuedPodInfo{}}
		for name := range c.sched.Profiles {
			for _, kind := range ck.kinds {
				k.pods[name] = append(k.pods[name], c.pod(tb, name, kind))
			}
		}
		out = append(out, k)
	}
	return out
}

// TestShippedProfileLeavesArchPinsToNodeAffinity checks, in kube-scheduler
// built from the shipped config, that ArchFit's Filter is skipped for a pod
// whose nodeSelector already pins its image's arch (NodeAffinity enforces
// the pin), runs for the same pod without the pin, and that both land on an
// amd64 node. The cluster is 151 amd64 nodes and one arm64 node, so
// PreFilter does not name the amd64 nodes instead (that would not pay).
func TestShippedProfileLeavesArchPinsToNodeAffinity(t *testing.T) {
	var nodes []runtime.Object
	for i := range 226 {
		if i%3 == 2 && i > 2 {
			continue // an arm64 node: keep only the first, node 2
		}
		nodes = append(nodes, benchcluster.Node(i))
	}
	c := newCycleScheduler(t, nodes)
	const profile = "archfit-scheduler"
	for _, tc := range []struct {
		kind       benchcluster.Kind
		placed     bool
		filterSkip bool
	}{
		{benchcluster.Kind{Image: c.im.AMD64, Arch: "amd64"}, false, true},
		{benchcluster.Kind{Image: c.im.AMD64}, false, false},
		// The affinity archfit-placement writes is such a pin too.
		{benchcluster.Kind{Image: c.im.AMD64}, true, true},
	} {
		t.Run(fmt.Sprintf("pinned=%q,placed=%v", tc.kind.Arch, tc.placed), func(t *testing.T) {
			pod := c.pod(t, profile, tc.kind) // also warms the image's cache entry
			if tc.placed {
				p := tc.kind.Pod(profile)
				p.ObjectMeta = metav1.ObjectMeta{Name: "placed", Namespace: "default", UID: "placed"}
				placement.Apply(p, placement.Decision{Outcome: placement.OutcomeWritten, Allowed: []imageplatform.OSArch{{OS: "linux", Arch: "amd64"}}})
				pi, err := framework.NewPodInfo(p)
				if err != nil {
					t.Fatal(err)
				}
				pod = &framework.QueuedPodInfo{PodInfo: pi}
			}
			state := framework.NewCycleState()
			res, err := schedulePod(context.Background(), c.sched, c.sched.Profiles[profile], state, pod)
			if err != nil {
				t.Fatal(err)
			}
			if got := state.GetSkipFilterPlugins().Has(archfit.Name); got != tc.filterSkip {
				t.Errorf("ArchFit's Filter skipped = %v, want %v", got, tc.filterSkip)
			}
			if res.SuggestedHost == benchcluster.Node(2).Name {
				t.Errorf("an amd64-only pod was placed on the arm64 node %s", res.SuggestedHost)
			}
		})
	}
}

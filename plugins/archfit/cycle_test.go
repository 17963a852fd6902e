package archfit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

	"github.com/archfit/archfit/internal/benchcluster"
	"github.com/archfit/archfit/internal/demo"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/registrytest"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/archfit"
)

// BenchmarkSchedulingCycle runs kube-scheduler's scheduling algorithm
// (PreFilter to choosing a host; no queue, no binding, no API server) for
// the same pods with the default profile and the shipped archfit-scheduler
// profile, in one scheduler built from the shipped config, on a cluster of
// fake nodes (2/3 amd64, 1/3 arm64). pods=mix is the throughput
// benchmark's 70/20/10 mix of multi-arch, amd64-only and arm64-only pods;
// the other pods= runs take one kind each, to show where ArchFit's cost
// lies. It isolates what ArchFit adds to the serial cycle from the control
// plane's share of the two cores, which make bench's throughput figure
// includes. Compare the two profiles' ns/op: that is the cycle's cost ratio.
func BenchmarkSchedulingCycle(b *testing.B) {
	kinds := []struct {
		name string
		pick []int // indexes into cyclePods
	}{
		{"mix", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"multi-arch", []int{0}},
		{"amd64-only", []int{7}},
		{"arm64-only", []int{9}},
		// The same single-arch pods with a kubernetes.io/arch nodeSelector:
		// what the default profile pays to place them correctly, which it
		// does not do for the pods above.
		{"amd64-only-with-selector", []int{10}},
		{"arm64-only-with-selector", []int{11}},
	}
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			sched, pods := newCycleScheduler(b, n)
			for _, kind := range kinds {
				b.Run("pods="+kind.name, func(b *testing.B) {
					for _, name := range []string{"default-scheduler", "archfit-scheduler"} {
						b.Run(name, func(b *testing.B) {
							fw := sched.Profiles[name]
							ctx := context.Background()
							b.ReportAllocs()
							i := 0
							for b.Loop() {
								p := pods[name][kind.pick[i%len(kind.pick)]]
								i++
								if _, err := sched.SchedulePod(ctx, fw, framework.NewCycleState(), p); err != nil {
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

// cyclePod is a benchmark pod's image and the arch its nodeSelector names
// (none if empty).
type cyclePod struct{ image, selector string }

// cyclePods are the pods: 0–9 the throughput benchmark's mix, in its order
// (benchcluster.Images.Mix), then an amd64-only and an arm64-only pod with
// a nodeSelector for their arch.
func cyclePods(im benchcluster.Images) []cyclePod {
	var out []cyclePod
	for _, image := range im.Mix() {
		out = append(out, cyclePod{image: image})
	}
	return append(out, cyclePod{im.AMD64, "amd64"}, cyclePod{im.ARM64, "arm64"})
}

func newCycleScheduler(b *testing.B, nodes int) (*scheduler.Scheduler, map[string][]*framework.QueuedPodInfo) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ctx = klog.NewContext(ctx, logr.Discard()) // the scheduler's start-up logs would fill the output
	reg := registrytest.New()
	b.Cleanup(reg.Close)
	im, err := benchcluster.Push(reg)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := demo.SchedulerConfig(reg.Host)
	if err != nil {
		b.Fatal(err)
	}
	obj, _, err := schedscheme.Codecs.UniversalDecoder().Decode(raw, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := obj.(*schedconfig.KubeSchedulerConfiguration)

	objs := make([]runtime.Object, 0, nodes)
	for i := range nodes {
		objs = append(objs, benchcluster.Node(i))
	}
	cs := clientsetfake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	snapshot := schedcache.NewEmptySnapshot()
	sched, err := scheduler.New(ctx, cs, inf, nil, profile.NewRecorderFactory(broadcaster),
		scheduler.WithProfiles(cfg.Profiles...), scheduler.WithNodeInfoSnapshot(snapshot),
		scheduler.WithFrameworkOutOfTreeRegistry(frameworkruntime.Registry{archfit.Name: archfit.New}))
	if err != nil {
		b.Fatal(err)
	}
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	for deadline := time.Now().Add(time.Minute); sched.Cache.NodeCount() < nodes; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the scheduler's cache has %d of %d nodes", sched.Cache.NodeCount(), nodes)
		}
	}
	// What the scheduling cycle does before each pod; nothing changes
	// between the benchmark's cycles, since no pod is bound.
	if err := sched.Cache.UpdateSnapshot(klog.FromContext(ctx), snapshot); err != nil {
		b.Fatal(err)
	}

	pods := map[string][]*framework.QueuedPodInfo{}
	for name := range sched.Profiles {
		for i, c := range cyclePods(im) {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("%s-%d", name, i))},
				Spec: corev1.PodSpec{SchedulerName: name, Containers: []corev1.Container{{Name: "c", Image: c.image,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}}},
			}
			if c.selector != "" {
				p.Spec.NodeSelector = map[string]string{imageplatform.LabelArch: c.selector}
			}
			pi, err := framework.NewPodInfo(p)
			if err != nil {
				b.Fatal(err)
			}
			qpi := &framework.QueuedPodInfo{PodInfo: pi}
			// Warm the resolver: the first cycle may wait past PreFilter's
			// budget for the registry.
			for try := 0; ; try++ {
				if _, err := sched.SchedulePod(ctx, sched.Profiles[name], framework.NewCycleState(), qpi); err == nil {
					break
				} else if try == 50 {
					b.Fatalf("%s: %v", p.Name, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			pods[name] = append(pods[name], qpi)
		}
	}
	return sched, pods
}

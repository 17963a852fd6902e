package archfit

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/plugins/apis/config"
)

// BenchmarkPreFilterWarm is PreFilter for a pod whose images are cached.
// Its cost does not grow with the cluster: the node index answers in
// O(platforms).
func BenchmarkPreFilterWarm(b *testing.B) {
	im := newImages(b)
	pl := newPlugin(b, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }))
	pod := st.MakePod().Name("p").UID("p").Container(im.amd).Container(im.multi).Obj()
	// A 1,000-node cluster, a third arm64, that the node index has seen:
	// the amd64-only pod is narrowed to the amd64 nodes, as in a cluster.
	pl.pointsOnce.Do(func() { pl.points = enabledPoints{reserve: true, postFilter: true} })
	nodes := make([]fwk.NodeInfo, 1000)
	for i := range nodes {
		arch := "amd64"
		if i%3 == 2 {
			arch = "arm64"
		}
		n := archNode(fmt.Sprintf("n%d", i), arch, "")
		pl.index.handler().OnAdd(n, false)
		nodes[i] = nodeInfo(n)
	}
	pl.evaluate(context.Background(), pod)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, s := pl.PreFilter(ctx, framework.NewCycleState(), pod, nodes)
		if !s.IsSuccess() || res.AllNodes() {
			b.Fatal(res, s)
		}
	}
}

// BenchmarkFilterScorePerNode is Filter + Score + its share of
// NormalizeScore for one node on the cache-hit path. Target: ≤ 0.3 µs and
// 0 allocs per node.
func BenchmarkFilterScorePerNode(b *testing.B) {
	im := newImages(b)
	pl := newPlugin(b, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }))
	pod := st.MakePod().Name("p").UID("p").Container(im.multi).Obj()
	nodes := benchNodes(1000)
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(context.Background(), state, pod, nodes); !s.IsSuccess() {
		b.Fatal(s)
	}
	filterScore(b, pl, state, pod, nodes)
}

// BenchmarkFilterScorePerNodeMigrating is BenchmarkFilterScorePerNode for a
// replica of a workload with a migration target: Score reads the
// preference PreScore wrote and ranks by side. Target: 0 allocs per node,
// as without one.
func BenchmarkFilterScorePerNodeMigrating(b *testing.B) {
	im := newImages(b)
	objs := webDeployment(map[string]string{migration.TargetAnnotation: "100%"}, nil)
	pl := newPlugin(b, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }), objs...)
	pod := ownedBy(st.MakePod().Namespace("shop").Name("web-new").UID("web-new").Container(im.multi).Obj(), "ReplicaSet", "web-abc", "rs-web")
	nodes := benchNodes(1000)
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(context.Background(), state, pod, nodes); !s.IsSuccess() {
		b.Fatal(s)
	}
	if s := pl.PreScore(context.Background(), state, pod, nodes); !s.IsSuccess() {
		b.Fatal(s)
	}
	if p, _ := getPreference(state); p != preferArm64 {
		b.Fatalf("preference %v, want arm64", p)
	}
	filterScore(b, pl, state, pod, nodes)
}

// benchNodes are n nodes of four kinds: two arches, priced by the table, by
// weight alone, and by a dearer type.
func benchNodes(n int) []fwk.NodeInfo {
	nodes := make([]fwk.NodeInfo, n)
	types := []struct{ arch, it string }{{"arm64", "m7g.large"}, {"amd64", "m6i.large"}, {"arm64", ""}, {"amd64", "c6i.xlarge"}}
	for i := range nodes {
		ty := types[i%len(types)]
		nodes[i] = nodeInfo(archNode(fmt.Sprintf("n%d", i), ty.arch, ty.it))
	}
	return nodes
}

// filterScore times Filter and Score on every node and NormalizeScore over
// them, per node.
func filterScore(b *testing.B, pl *ArchFit, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) {
	scores := make(fwk.NodeScoreList, len(nodes))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, ni := range nodes {
			if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
				b.Fatal(s)
			}
			sc, _ := pl.Score(ctx, state, pod, ni)
			scores[j] = fwk.NodeScore{Name: ni.Node().Name, Score: sc}
		}
		pl.NormalizeScore(ctx, state, pod, scores)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(nodes)), "ns/node")
}

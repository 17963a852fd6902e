package archfit

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/plugins/apis/config"
)

// ownedBy makes p a replica of the controller kind/name with uid.
func ownedBy(p *corev1.Pod, kind, name, uid string) *corev1.Pod {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}}
	return p
}

// webDeployment is Deployment shop/web with annotations, and its
// ReplicaSet web-abc with its own.
func webDeployment(deployAnn, rsAnn map[string]string) []runtime.Object {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "dep-web", Annotations: deployAnn}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc", UID: "rs-web", Annotations: rsAnn,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-web", Controller: ptr.To(true)}}}}
	return []runtime.Object{dep, rs}
}

// replicas are n bound replicas of a controller, the first onArm on
// arm-1 and the rest on amd-1.
func replicas(kind, name, uid string, onArm, n int) []runtime.Object {
	var out []runtime.Object
	for i := range n {
		node := "amd-1"
		if i < onArm {
			node = "arm-1"
		}
		p := st.MakePod().Namespace("shop").Name(fmt.Sprintf("%s-%d", name, i)).UID(fmt.Sprintf("%s-%d", uid, i)).Node(node).Phase(corev1.PodRunning).Obj()
		out = append(out, ownedBy(p, kind, name, uid))
	}
	return out
}

// migrationNodes cost, per vCPU-hour: amd-1 0.05, arm-1 0.08, arm-2 0.10,
// amd-2 0.15. The cheapest is amd64, so only a preference puts arm64
// first.
func migrationNodes() []*corev1.Node {
	return []*corev1.Node{pricedNode("arm-1", "arm64", "0.16"), pricedNode("arm-2", "arm64", "0.20"), pricedNode("amd-1", "amd64", "0.10"), pricedNode("amd-2", "amd64", "0.30")}
}

func waitForCounts(t testing.TB, pl *ArchFit, owner string, arm, total int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		a, n := pl.counter.Counts(owner)
		if a == arm && n == total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts for %s: %d/%d, want %d/%d", owner, a, n, arm, total)
		}
	}
}

// scoreAll runs Score on every node and NormalizeScore, as the framework
// does, and returns the normalised scores by node.
func scoreAll(t testing.TB, pl *ArchFit, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	scores := make(fwk.NodeScoreList, 0, len(nodes))
	for _, ni := range nodes {
		s, status := pl.Score(ctx, state, pod, ni)
		if !status.IsSuccess() {
			t.Fatal(status)
		}
		scores = append(scores, fwk.NodeScore{Name: ni.Node().Name, Score: s})
	}
	if status := pl.NormalizeScore(ctx, state, pod, scores); !status.IsSuccess() {
		t.Fatal(status)
	}
	got := map[string]int64{}
	for _, s := range scores {
		got[s.Name] = s.Score
	}
	return got
}

func TestMigrationScore(t *testing.T) {
	var (
		// Every arm64 node above every amd64 one, price ordering each side.
		armFirst = map[string]int64{"arm-1": 100, "arm-2": 50, "amd-1": 49, "amd-2": 0}
		amdFirst = map[string]int64{"amd-1": 100, "amd-2": 50, "arm-1": 49, "arm-2": 0}
		// Today's ranking: linear in price, 0.05 → 100, 0.15 → 0.
		cheapest = map[string]int64{"amd-1": 100, "arm-1": 70, "arm-2": 50, "amd-2": 0}
	)
	target := func(v string) map[string]string { return map[string]string{migration.TargetAnnotation: v} }
	paused := func(tg, step string) map[string]string {
		return map[string]string{migration.TargetAnnotation: tg, migration.StepAnnotation: step, migration.PausedAnnotation: "exec format error on arm64"}
	}
	webPod := func() *corev1.Pod {
		return ownedBy(st.MakePod().Namespace("shop").Name("web-new").UID("web-new").Obj(), "ReplicaSet", "web-abc", "rs-web")
	}
	shop := func(ann map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: ann}}
	}
	db := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", UID: "ss-db", Annotations: target("50%")}}

	for _, tc := range []struct {
		name      string
		objs      []runtime.Object
		pod       *corev1.Pod
		owner     string
		arm, n    int
		want      map[string]int64
		wantPrefs string // the SignPod fragment, "" for none
	}{
		{name: "target 50%, 0 of 4 on arm64: arm64 first",
			objs: append(webDeployment(target("50%"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: armFirst, wantPrefs: "arm64"},
		{name: "target 50%, 2 of 4 on arm64: the rest first",
			objs: append(webDeployment(target("50%"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 2, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 2, n: 4, want: amdFirst, wantPrefs: "other"},
		{name: "no target: cheapest first",
			objs: append(webDeployment(nil, nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: cheapest},
		{name: "paused at the 25% step, 1 of 4 on arm64: the step's rule holds",
			objs: append(webDeployment(paused("25%, 50% after 7d", "0 2026-11-01T00:00:00Z 25%, 50% after 7d"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 1, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 1, n: 4, want: amdFirst, wantPrefs: "other"},
		{name: "paused at the 50% step, 1 of 4 on arm64: still ramps to the step's share",
			objs: append(webDeployment(paused("25%, 50% after 7d", "1 2026-11-08T00:00:00Z 25%, 50% after 7d"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 1, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 1, n: 4, want: armFirst, wantPrefs: "arm64"},
		{name: "the target of the namespace",
			objs: append(append(webDeployment(nil, nil), shop(target("50%"))), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: armFirst, wantPrefs: "arm64"},
		{name: "the workload's own target over the namespace's",
			objs: append(append(webDeployment(target("0%"), nil), shop(target("100%"))), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: amdFirst, wantPrefs: "other"},
		{name: "a target on the Deployment's ReplicaSet is not the Deployment's",
			objs: append(webDeployment(nil, target("50%")), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: cheapest},
		{name: "a malformed target is ignored",
			objs: append(webDeployment(target("half"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  webPod(), owner: "rs-web", arm: 0, n: 4, want: cheapest},
		{name: "a StatefulSet's target",
			objs:  append([]runtime.Object{db}, replicas("StatefulSet", "db", "ss-db", 0, 3)...),
			pod:   ownedBy(st.MakePod().Namespace("shop").Name("db-3").UID("db-3").Obj(), "StatefulSet", "db", "ss-db"),
			owner: "ss-db", arm: 0, n: 3, want: armFirst, wantPrefs: "arm64"},
		{name: "a pod without a controller",
			objs: append(webDeployment(target("50%"), nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...),
			pod:  st.MakePod().Namespace("shop").Name("bare").UID("bare").Obj(), owner: "rs-web", arm: 0, n: 4, want: cheapest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := migrationNodes()
			objs := tc.objs
			for _, n := range nodes {
				objs = append(objs, n)
			}
			pl := newPlugin(t, defaultArgs(nil), objs...)
			waitForCounts(t, pl, tc.owner, tc.arm, tc.n)
			infos := make([]fwk.NodeInfo, len(nodes))
			for i, n := range nodes {
				infos[i] = nodeInfo(n)
			}
			state := framework.NewCycleState()
			if s := pl.PreScore(context.Background(), state, tc.pod, infos); !s.IsSuccess() {
				t.Fatalf("PreScore = %v, want Success", s)
			}
			if got := scoreAll(t, pl, state, tc.pod, infos); !maps.Equal(got, tc.want) {
				t.Fatalf("scores = %v, want %v", got, tc.want)
			}
			frags, s := pl.SignPod(context.Background(), tc.pod)
			if !s.IsSuccess() {
				t.Fatal(s)
			}
			got := ""
			for _, f := range frags {
				if f.Key == "archfit.dev/MigrationPreference()" {
					got = fmt.Sprint(f.Value)
				}
			}
			if got != tc.wantPrefs {
				t.Errorf("SignPod's migration fragment = %q, want %q", got, tc.wantPrefs)
			}
		})
	}
}

// With a target, one price across the sides no longer skips Score: the
// preference is the ranking. Nodes of one side only, or a pod of one
// platform, leave nothing for it to rank and skip as before.
func TestMigrationPreScoreSkips(t *testing.T) {
	objs := append(webDeployment(map[string]string{migration.TargetAnnotation: "50%"}, nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...)
	arm1, arm2 := pricedNode("arm-1", "arm64", "0.20"), pricedNode("arm-2", "arm64", "0.20")
	amd1, amd2 := pricedNode("amd-1", "amd64", "0.20"), pricedNode("amd-2", "amd64", "0.20")
	for _, n := range []*corev1.Node{arm1, arm2, amd1, amd2} {
		objs = append(objs, n)
	}
	pl := newPlugin(t, defaultArgs(nil), objs...)
	waitForCounts(t, pl, "rs-web", 0, 4)
	pod := ownedBy(st.MakePod().Namespace("shop").Name("web-new").UID("web-new").Obj(), "ReplicaSet", "web-abc", "rs-web")
	bare := st.MakePod().Namespace("shop").Name("bare").UID("bare").Obj()
	onePrice := []fwk.NodeInfo{nodeInfo(arm1), nodeInfo(amd1), nodeInfo(arm2), nodeInfo(amd2)}
	pl.facts.missed.Store(true)
	pl.facts.publish(onePrice, time.Now())
	amd64 := imageplatform.OSArch{OS: "linux", Arch: "amd64"}

	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		pre   *preFilterState
		nodes []fwk.NodeInfo
		skip  bool
		want  map[string]int64
	}{
		{name: "one price, both sides", pod: pod, nodes: onePrice,
			want: map[string]int64{"arm-1": 100, "arm-2": 100, "amd-1": 49, "amd-2": 49}},
		{name: "one price, both sides, PreFilter's state too", pod: pod, pre: &preFilterState{}, nodes: onePrice,
			want: map[string]int64{"arm-1": 100, "arm-2": 100, "amd-1": 49, "amd-2": 49}},
		{name: "one price, no target", pod: bare, nodes: onePrice, skip: true},
		{name: "one price, amd64 nodes only", pod: pod, nodes: []fwk.NodeInfo{nodeInfo(amd1), nodeInfo(amd2)}, skip: true},
		{name: "a pod of one platform", pod: pod, pre: &preFilterState{only: amd64}, nodes: []fwk.NodeInfo{nodeInfo(amd1), nodeInfo(amd2)}, skip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := framework.NewCycleState()
			if tc.pre != nil {
				state.Write(stateKey, tc.pre)
			}
			s := pl.PreScore(context.Background(), state, tc.pod, tc.nodes)
			if s.IsSkip() != tc.skip || (!tc.skip && !s.IsSuccess()) {
				t.Fatalf("PreScore = %v, want skip %v", s, tc.skip)
			}
			if tc.skip {
				if p, _ := getPreference(state); p != noPreference {
					t.Fatalf("skipped, yet wrote preference %v", p)
				}
				return
			}
			if got := scoreAll(t, pl, state, tc.pod, tc.nodes); !maps.Equal(got, tc.want) {
				t.Fatalf("scores = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNormalizeSides(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []int64
		want []int64
	}{
		{"both sides", []int64{10, 20, otherSide + 5, otherSide + 15}, []int64{100, 50, 49, 0}},
		{"one node a side", []int64{otherSide + 1, 7}, []int64{49, 100}},
		{"wanted side only", []int64{10, 20, 30}, []int64{100, 50, 0}},
		{"other side only", []int64{otherSide + 10, otherSide + 30}, []int64{100, 0}},
		{"one price each side", []int64{10, 10, otherSide + 10}, []int64{100, 100, 49}},
		{"no price at all", []int64{0, otherSide}, []int64{100, 49}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scores := make(fwk.NodeScoreList, len(tc.in))
			for i, v := range tc.in {
				scores[i] = fwk.NodeScore{Name: fmt.Sprint(i), Score: v}
			}
			normalizeSides(scores)
			for i, s := range scores {
				if s.Score != tc.want[i] {
					t.Fatalf("normalised %v = %v, want %v", tc.in, scores, tc.want)
				}
			}
		})
	}
	// Absurd prices stay on their side.
	if s := sideScore(preferArm64, nodeFacts{arch: "arm64", microPerVCPU: otherSide * 2}); s >= otherSide {
		t.Errorf("a wanted node priced over otherSide scores %d, on the other side", s)
	}
	if s := sideScore(preferArm64, nodeFacts{arch: "amd64", microPerVCPU: -5}); s != otherSide {
		t.Errorf("a negative price on the other side scores %d, want %d", s, otherSide)
	}
}

// A missing preference is none; one of another type is an error for Score
// and NormalizeScore, never a panic.
func TestPreferenceGetter(t *testing.T) {
	state := framework.NewCycleState()
	if p, err := getPreference(state); p != noPreference || err != nil {
		t.Fatalf("missing: %v, %v", p, err)
	}
	if p, err := getPreference(nil); p != noPreference || err != nil {
		t.Fatalf("nil state: %v, %v", p, err)
	}
	state.Write(preferenceKey, preferOther)
	if p, err := getPreference(state); p != preferOther || err != nil {
		t.Fatalf("written: %v, %v", p, err)
	}
	if p, _ := getPreference(state.Clone()); p != preferOther {
		t.Fatalf("cloned state lost the preference: %v", p)
	}
	state.Write(preferenceKey, otherState{})
	if _, err := getPreference(state); err == nil || !strings.Contains(err.Error(), "got type archfit.otherState") {
		t.Fatalf("another type: %v", err)
	}
	pl := newPlugin(t, defaultArgs(nil))
	if _, s := pl.Score(context.Background(), state, nil, nodeInfo(archNode("a", "arm64", ""))); s.Code() != fwk.Error {
		t.Fatalf("Score with a foreign preference: %v, want an Error status", s)
	}
	if s := pl.NormalizeScore(context.Background(), state, nil, fwk.NodeScoreList{{Name: "a"}}); s.Code() != fwk.Error {
		t.Fatalf("NormalizeScore with a foreign preference: %v, want an Error status", s)
	}
}

// Score under a preference allocates nothing, like Score without one.
func TestMigrationScoreAllocations(t *testing.T) {
	objs := append(webDeployment(map[string]string{migration.TargetAnnotation: "50%"}, nil), replicas("ReplicaSet", "web-abc", "rs-web", 0, 4)...)
	nodes := migrationNodes()
	for _, n := range nodes {
		objs = append(objs, n)
	}
	pl := newPlugin(t, defaultArgs(nil), objs...)
	waitForCounts(t, pl, "rs-web", 0, 4)
	infos := []fwk.NodeInfo{nodeInfo(nodes[0]), nodeInfo(nodes[2])}
	pod := ownedBy(st.MakePod().Namespace("shop").Name("web-new").UID("web-new").Obj(), "ReplicaSet", "web-abc", "rs-web")
	state := framework.NewCycleState()
	if s := pl.PreScore(context.Background(), state, pod, infos); !s.IsSuccess() {
		t.Fatal(s)
	}
	if p, _ := getPreference(state); p != preferArm64 {
		t.Fatalf("preference %v, want arm64", p)
	}
	ctx := context.Background()
	scores := make(fwk.NodeScoreList, len(infos))
	if n := testing.AllocsPerRun(200, func() {
		for i, ni := range infos {
			s, _ := pl.Score(ctx, state, pod, ni)
			scores[i] = fwk.NodeScore{Name: ni.Node().Name, Score: s}
		}
		pl.NormalizeScore(ctx, state, pod, scores)
	}); n != 0 {
		t.Fatalf("Score+NormalizeScore under a preference allocate %v times", n)
	}
}

// A rollback record takes the arch out of the image's platforms, so
// Filter keeps the pod off it although the registry lists it.
func TestRollbackRecordsDenyAnArch(t *testing.T) {
	im := newImages(t)
	digest, err := im.reg.PushIndex("app/denied:1", []string{"linux/amd64", "linux/arm64"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := json.Marshal([]migration.Record{{Arch: "arm64", Reason: migration.ReasonExecFormatError, Image: "app/denied:1", Workload: "Deployment/shop/web"}})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "archfit", Name: "archfit-rollbacks"},
		Data: map[string]string{migration.Key(digest): string(recs)}}
	pl := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.InsecureRegistries = []string{im.reg.Host} }), cm)
	if pl.records == nil {
		t.Fatal("no rollback records read with the default rollbackRecords")
	}
	for deadline := time.Now().Add(10 * time.Second); !pl.records.Has(digest, "arm64"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the records never arrived")
		}
	}
	arm, amd := nodeInfo(archNode("arm", "arm64", "")), nodeInfo(archNode("amd", "amd64", ""))
	check := func(image string, armOK bool) {
		t.Helper()
		pod := st.MakePod().Name("p").UID(image).Container(im.reg.Host + "/" + image).Obj()
		state := framework.NewCycleState()
		if _, s := pl.PreFilter(context.Background(), state, pod, []fwk.NodeInfo{arm, amd}); !s.IsSuccess() && !s.IsSkip() {
			t.Fatalf("%s: PreFilter = %v", image, s)
		}
		if s := pl.Filter(context.Background(), state, pod, amd); !s.IsSuccess() {
			t.Errorf("%s on amd64: %v", image, s)
		}
		if s := pl.Filter(context.Background(), state, pod, arm); s.IsSuccess() != armOK {
			t.Errorf("%s on arm64: %v, want passing %v", image, s, armOK)
		}
	}
	check("app/denied:1", false)
	check("app/multi:1", true)

	res := pl.resolver.ResolveCached(imageplatform.Request{Image: im.reg.Host + "/app/denied:1"})
	if len(res.Denied) != 1 || res.Denied[0] != "arm64" {
		t.Errorf("Denied = %v, want [arm64]", res.Denied)
	}

	off := newPlugin(t, defaultArgs(func(a *config.ArchFitArgs) { a.RollbackRecords = "" }))
	if off.records != nil {
		t.Error("rollback records read with rollbackRecords empty")
	}
}

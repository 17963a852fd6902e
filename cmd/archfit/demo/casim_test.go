package demo

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/archfit/archfit/internal/imageplatform"
)

func testNode(name, arch, cpu, mem string) *corev1.Node {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{imageplatform.LabelArch: arch, imageplatform.LabelOS: "linux"}},
		Status:     corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

// testPod is a pod of controller owner ("" for none), optionally pinned to
// an arch with a required node affinity.
func testPod(name, owner, cpu, mem, pinArch string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": owner}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
	}
	if owner != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: owner, UID: types.UID("uid-" + owner), Controller: &yes}}
	}
	if pinArch != "" {
		p.Spec.Affinity = archAffinity(pinArch)
	}
	return p
}

func podNames(ps []*corev1.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestFitsRunsTheNodeLocalFilters(t *testing.T) {
	arm := testNode("arm", "arm64", "4", "16Gi")
	full := newSimNode(arm, []*corev1.Pod{testPod("old", "x", "3500m", "1Gi", "")})
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		node func() *simNode
		fit  bool
	}{
		{"no affinity fits any arch", testPod("p", "", "1", "1Gi", ""), func() *simNode { return newSimNode(arm, nil) }, true},
		{"required affinity for amd64 does not fit arm64", testPod("p", "", "1", "1Gi", "amd64"), func() *simNode { return newSimNode(arm, nil) }, false},
		{"required affinity for arm64 fits arm64", testPod("p", "", "1", "1Gi", "arm64"), func() *simNode { return newSimNode(arm, nil) }, true},
		{"nodeSelector counts", func() *corev1.Pod {
			p := testPod("p", "", "1", "1Gi", "")
			p.Spec.NodeSelector = map[string]string{imageplatform.LabelArch: "amd64"}
			return p
		}(), func() *simNode { return newSimNode(arm, nil) }, false},
		{"requests of the pods on the node count", testPod("p", "", "1", "1Gi", ""), func() *simNode { return full }, false},
		{"a pod that fits the rest fits", testPod("p", "", "500m", "1Gi", ""), func() *simNode { return full }, true},
		{"memory counts", testPod("p", "", "100m", "17Gi", ""), func() *simNode { return newSimNode(arm, nil) }, false},
		{"a zero request fits a full node", testPod("p", "", "0", "0", ""), func() *simNode {
			return newSimNode(arm, []*corev1.Pod{testPod("old", "x", "4", "16Gi", "")})
		}, true},
		{"NoSchedule taint without toleration", testPod("p", "", "1", "1Gi", ""), func() *simNode {
			n := arm.DeepCopy()
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return newSimNode(n, nil)
		}, false},
		{"PreferNoSchedule taint does not filter", testPod("p", "", "1", "1Gi", ""), func() *simNode {
			n := arm.DeepCopy()
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectPreferNoSchedule}}
			return newSimNode(n, nil)
		}, true},
		{"tolerated taint", func() *corev1.Pod {
			p := testPod("p", "", "1", "1Gi", "")
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return p
		}(), func() *simNode {
			n := arm.DeepCopy()
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return newSimNode(n, nil)
		}, true},
		{"cordoned node", testPod("p", "", "1", "1Gi", ""), func() *simNode {
			n := arm.DeepCopy()
			n.Spec.Unschedulable = true
			return newSimNode(n, nil)
		}, false},
	} {
		if err := fits(c.pod, c.node()); (err == nil) != c.fit {
			t.Errorf("%s: fits = %v, want fit %v", c.name, err, c.fit)
		}
	}
}

// The stranded pod: amd64 nodes full, an arm64 node with room, and a
// pending pod whose only hint of amd64 is its image. CA's simulation puts
// it on the arm64 node; with a required arch affinity it stays for a
// scale-up.
func TestFilterOutSchedulableStrandsPodsWithoutAffinity(t *testing.T) {
	nodes := func() []*simNode {
		return []*simNode{
			newSimNode(testNode("amd-1", "amd64", "4", "16Gi"), []*corev1.Pod{testPod("a", "x", "4", "1Gi", "")}),
			newSimNode(testNode("arm-1", "arm64", "4", "16Gi"), []*corev1.Pod{testPod("b", "x", "2500m", "1Gi", "")}),
		}
	}
	unpinned := []*corev1.Pod{testPod("reports-1", "reports", "1", "1Gi", ""), testPod("reports-2", "reports", "1", "1Gi", "")}
	moved, remaining := filterOutSchedulable(unpinned, nodes())
	// 1.5 CPU free on arm-1: the first pod moves there and its request
	// counts against the second.
	if len(moved) != 1 || moved[0].pod.Name != "reports-1" || moved[0].node.node.Name != "arm-1" {
		t.Errorf("moved = %+v, want reports-1 on arm-1", moved)
	}
	if got := podNames(remaining); !slices.Equal(got, []string{"reports-2"}) {
		t.Errorf("remaining = %v, want [reports-2]", got)
	}

	pinned := []*corev1.Pod{testPod("reports-1", "reports", "1", "1Gi", "amd64")}
	moved, remaining = filterOutSchedulable(pinned, nodes())
	if len(moved) != 0 || len(remaining) != 1 {
		t.Errorf("pinned pod: moved %d, remaining %d; want 0 and 1", len(moved), len(remaining))
	}
}

func TestFilterOutSchedulableTakesHigherPriorityFirst(t *testing.T) {
	low, high := testPod("low", "", "1", "1Gi", ""), testPod("high", "", "1", "1Gi", "")
	prio := int32(100)
	high.Spec.Priority = &prio
	nodes := []*simNode{newSimNode(testNode("n", "arm64", "1", "16Gi"), nil)}
	moved, remaining := filterOutSchedulable([]*corev1.Pod{low, high}, nodes)
	if len(moved) != 1 || moved[0].pod.Name != "high" || len(remaining) != 1 || remaining[0].Name != "low" {
		t.Errorf("moved %+v, remaining %v; want high moved, low remaining", moved, podNames(remaining))
	}
}

func TestBuildPodGroups(t *testing.T) {
	a1, a2 := testPod("a1", "a", "1", "1Gi", ""), testPod("a2", "a", "1", "1Gi", "")
	a2.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "1"}} // ignored, as by CA
	a3 := testPod("a3", "a", "2", "1Gi", "")                             // same owner, other spec
	b1 := testPod("b1", "b", "1", "1Gi", "")
	b1.Labels = a1.Labels // same spec and labels, other owner
	n1, n2 := testPod("n1", "", "1", "1Gi", ""), testPod("n2", "", "1", "1Gi", "")
	got := [][]string{}
	for _, g := range buildPodGroups([]*corev1.Pod{a1, b1, a2, n1, a3, n2}) {
		got = append(got, podNames(g))
	}
	want := [][]string{{"a1", "a2"}, {"b1"}, {"n1"}, {"a3"}, {"n2"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("groups = %v, want %v", got, want)
	}
}

// Node counts traced by hand through BinpackingNodeEstimator.Estimate on
// a 4-CPU, 16Gi template.
func TestEstimateFollowsCABinpacking(t *testing.T) {
	tmpl := testNode("t", "arm64", "4", "16Gi")
	pods := func(owner string, n int, cpu, mem string) []*corev1.Pod {
		var out []*corev1.Pod
		for i := 0; i < n; i++ {
			out = append(out, testPod(owner+"-"+string(rune('a'+i)), owner, cpu, mem, ""))
		}
		return out
	}
	for _, c := range []struct {
		name   string
		groups [][]*corev1.Pod
		nodes  int
		order  []string
	}{
		{
			// The larger group goes first whatever the input order: e-0
			// takes big-a, big-b; big-c opens e-1; the small pods fill
			// e-0 (two) and then e-1.
			name:   "decreasing score, first fit on the new nodes",
			groups: [][]*corev1.Pod{pods("small", 4, "500m", "512Mi"), pods("big", 3, "1500m", "1Gi")},
			nodes:  2,
			order:  []string{"big-a", "big-b", "big-c", "small-a", "small-b", "small-c", "small-d"},
		},
		{
			// Memory counts in the score: the 12Gi pods come before the
			// 3-CPU ones, one per node, and the CPU pods join them.
			name:   "memory-heavy pods first",
			groups: [][]*corev1.Pod{pods("cpu", 2, "3", "1Gi"), pods("mem", 2, "500m", "12Gi")},
			nodes:  2,
			order:  []string{"mem-a", "mem-b", "cpu-a", "cpu-b"},
		},
		{
			// A pod larger than the template is never placed and does not
			// stop the next group.
			name:   "a pod larger than the template",
			groups: [][]*corev1.Pod{pods("huge", 2, "8", "1Gi"), pods("ok", 1, "1", "1Gi")},
			nodes:  1,
			order:  []string{"ok-a"},
		},
	} {
		n, placed := estimate(c.groups, tmpl)
		if n != c.nodes || !slices.Equal(podNames(placed), c.order) {
			t.Errorf("%s: %d nodes, pods %v; want %d, %v", c.name, n, podNames(placed), c.nodes, c.order)
		}
	}
}

// Each group's option holds only the pods its template takes; a group no
// pod fits is not offered.
func TestExpansionOptionsArePerGroup(t *testing.T) {
	templates := []template{
		{id: "ng-amd64", node: testNode("t-amd", "amd64", "4", "16Gi")},
		{id: "ng-arm64", node: testNode("t-arm", "arm64", "4", "16Gi")},
	}
	multi := []*corev1.Pod{testPod("train-a", "train", "1", "2Gi", ""), testPod("train-b", "train", "1", "2Gi", ""), testPod("train-c", "train", "1", "2Gi", "")}
	pinned := []*corev1.Pod{testPod("reports-a", "reports", "1", "1Gi", "amd64"), testPod("reports-b", "reports", "1", "1Gi", "amd64")}

	all := append(append([]*corev1.Pod(nil), multi...), pinned...)
	if got := schedulablePodGroups(buildPodGroups(all), templates[1].node); len(got) != 1 || !slices.Equal(podNames(got[0]), podNames(multi)) {
		t.Errorf("groups the arm64 template takes: %v, want the train group alone", got)
	}
	opts := expansionOptions(all, templates)
	if len(opts) != 2 {
		t.Fatalf("options = %+v, want two", opts)
	}
	if got := podNames(opts[0].pods); opts[0].id != "ng-amd64" || len(got) != 5 || opts[0].nodeCount != 2 {
		t.Errorf("amd64 option: %s %v on %d nodes; want all 5 pods on 2 nodes", opts[0].id, got, opts[0].nodeCount)
	}
	if got := podNames(opts[1].pods); opts[1].id != "ng-arm64" || !slices.Equal(got, []string{"train-a", "train-b", "train-c"}) || opts[1].nodeCount != 1 {
		t.Errorf("arm64 option: %s %v on %d nodes; want the 3 train pods on 1 node", opts[1].id, got, opts[1].nodeCount)
	}

	// Without the affinity the arm64 option is sized for the amd64-only
	// pods too: 5 pods on 2 nodes, as CA offers it to the expander.
	unpinned := []*corev1.Pod{testPod("reports-a", "reports", "1", "1Gi", ""), testPod("reports-b", "reports", "1", "1Gi", "")}
	opts = expansionOptions(append(append([]*corev1.Pod(nil), multi...), unpinned...), templates)
	if len(opts) != 2 || len(opts[1].pods) != 5 || opts[1].nodeCount != 2 {
		t.Errorf("unpinned: options %+v; want the arm64 option with 5 pods on 2 nodes", opts)
	}

	opts = expansionOptions(pinned, templates)
	if len(opts) != 1 || opts[0].id != "ng-amd64" {
		t.Errorf("only amd64-pinned pods: options %+v, want ng-amd64 alone", opts)
	}
}

func TestWasteIsOverTheOptionsOwnPods(t *testing.T) {
	o := expansionOption{template: testNode("t", "arm64", "4", "16Gi"), nodeCount: 1,
		pods: []*corev1.Pod{testPod("a", "", "1", "2Gi", ""), testPod("b", "", "1", "2Gi", "")}}
	if got, want := o.waste(), 0.5+0.75; got != want {
		t.Errorf("waste = %v, want %v", got, want)
	}
}

func TestPriorityPrefersArm64OnlyWhenOffered(t *testing.T) {
	if got := priorityArm64First([]string{"ng-amd64", "ng-arm64"}, nil); got != "ng-arm64" {
		t.Errorf("both offered: %s", got)
	}
	if got := priorityArm64First([]string{"ng-amd64"}, nil); got != "ng-amd64" {
		t.Errorf("amd64 alone: %s", got)
	}
}

// The pinned run writes the affinity a careful team writes: single-arch
// images pinned to their arch, multi-arch ones left free; other runs pin
// nothing.
func TestPinnedRunPinsSingleArchPods(t *testing.T) {
	e := &env{refs: map[string]string{}}
	arm := testNode("arm", "arm64", "4", "16Gi")
	for _, w := range plan(30, Defaults().Mix) {
		arch := singleArch(w.image)
		for _, name := range runNames() {
			spec := runSpecs[name]
			pod := &corev1.Pod{Spec: e.podTemplate(spec, w).Spec}
			pod.Spec.NodeSelector = nil // the run label; not what is under test
			pinned := pod.Spec.Affinity != nil
			if pinned != (spec.pinArch && arch != "") {
				t.Errorf("%s run, %s (image arch %q): pinned = %v", name, w.name, arch, pinned)
			}
			if fitsArm := fits(pod, newSimNode(arm, nil)) == nil; pinned && fitsArm != (arch == "arm64") {
				t.Errorf("%s run, %s pinned to %s: fits arm64 = %v", name, w.name, arch, fitsArm)
			}
		}
	}
	for name, spec := range runSpecs {
		if spec.placement != (name == "archfit" || name == "migration") {
			t.Errorf("%s run: placement = %v", name, spec.placement)
		}
	}
}

package expander

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/imageplatform"
)

const testPriceAnnotation = "archfit.test/hourly"

// cand builds a candidate for group id: a template node of arch with
// 4 allocatable vCPU and an hourly price ("": none, so the weights price it),
// offering count nodes for one pod of podCPU vCPU that allows allowed.
func cand(id, arch string, hourly string, count int32, podCPU float64, allowed ...string) *candidate {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "template-" + id, Annotations: map[string]string{}}}
	node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
	if hourly != "" {
		node.Annotations[testPriceAnnotation] = hourly
	}
	pod := &podEntry{pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-" + id}}, cpu: podCPU}
	for _, a := range allowed {
		pod.pp.Allowed = append(pod.pp.Allowed, imageplatform.OSArch{OS: "linux", Arch: a})
	}
	o := &option{src: &protos.Option{NodeGroupId: id, NodeCount: count}, node: node, os: "linux", arch: arch, pods: []*podEntry{pod}, cpu: podCPU}
	return &candidate{opt: o, v: Verdict{ID: id, OS: "linux", Arch: arch}}
}

func ids(cs []*candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.v.ID)
	}
	return out
}

func reasons(cs []*candidate) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		out[c.v.ID] = c.v.Reason
	}
	return out
}

func testPolicy(t *testing.T, yaml string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte("priceAnnotation: " + testPriceAnnotation + "\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompatible(t *testing.T) {
	noArch := cand("ng-none", "", "", 1, 1, "amd64")
	in := []*candidate{cand("ng-arm", "arm64", "", 1, 1, "amd64"), noArch, cand("ng-amd", "amd64", "", 1, 1, "amd64")}
	kept, dropped := compatible{}.narrow(in)
	if !slices.Equal(ids(kept), []string{"ng-amd"}) {
		t.Fatalf("kept %v, want [ng-amd]", ids(kept))
	}
	want := map[string]string{
		"ng-arm":  "pod default/web-ng-arm cannot run on linux/arm64: its images or affinity allow linux/amd64",
		"ng-none": "template node reports no architecture",
	}
	if got := reasons(dropped); len(got) != 2 || got["ng-arm"] != want["ng-arm"] || got["ng-none"] != want["ng-none"] {
		t.Fatalf("dropped %q, want %q", got, want)
	}
}

func TestPriorityTier(t *testing.T) {
	tiers, err := ParsePriorities(map[string][]string{"10": {"spot"}, "50": {"^ng-arm-ondemand$"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		in          []string
		kept        []string
		firstReason string
	}{
		{"highest priority wins", []string{"ng-arm-spot", "ng-arm-ondemand", "ng-amd-spot"}, []string{"ng-arm-ondemand"}, "outranked by ng-arm-ondemand: priority 50 over 10"},
		{"a matched group outranks an unmatched one", []string{"ng-other", "ng-amd-spot"}, []string{"ng-amd-spot"}, "outranked by ng-amd-spot: it matches a priority tier (10), this group none"},
		{"equal tiers all stay", []string{"ng-arm-spot", "ng-amd-spot"}, []string{"ng-arm-spot", "ng-amd-spot"}, ""},
		{"no tier matches: all stay", []string{"a", "b"}, []string{"a", "b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []*candidate
			for _, id := range tc.in {
				in = append(in, cand(id, "arm64", "", 1, 1, "arm64"))
			}
			kept, dropped := priorityTier{tiers}.narrow(in)
			if !slices.Equal(ids(kept), tc.kept) {
				t.Fatalf("kept %v, want %v", ids(kept), tc.kept)
			}
			if len(kept)+len(dropped) != len(in) {
				t.Fatalf("%d kept + %d dropped of %d", len(kept), len(dropped), len(in))
			}
			if tc.firstReason != "" && dropped[0].v.Reason != tc.firstReason {
				t.Fatalf("reason %q, want %q", dropped[0].v.Reason, tc.firstReason)
			}
		})
	}
}

func TestArchPreference(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		kept       []string
	}{
		{"arm64 first by default", "", []string{"ng-arm-a", "ng-arm-b"}},
		{"the policy's order", "architecturePreference: [amd64, arm64]", []string{"ng-amd"}},
		{"unlisted architectures come last", "architecturePreference: [s390x]", []string{"ng-arm-a", "ng-amd", "ng-arm-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []*candidate{cand("ng-arm-a", "arm64", "", 1, 1), cand("ng-amd", "amd64", "", 1, 1), cand("ng-arm-b", "arm64", "", 1, 1)}
			kept, dropped := archPreference{testPolicy(t, tc.yaml)}.narrow(in)
			if !slices.Equal(ids(kept), tc.kept) {
				t.Fatalf("kept %v, want %v", ids(kept), tc.kept)
			}
			for _, d := range dropped {
				if d.v.Reason == "" {
					t.Fatalf("%s dropped without a reason", d.v.ID)
				}
			}
		})
	}
	kept, dropped := archPreference{testPolicy(t, "")}.narrow([]*candidate{cand("ng-amd", "amd64", "", 1, 1), cand("ng-arm", "arm64", "", 1, 1)})
	if len(kept) != 1 || dropped[0].v.Reason != "outranked by ng-arm: arm64 is preferred to amd64" {
		t.Fatalf("kept %v, dropped reason %q", ids(kept), dropped[0].v.Reason)
	}
}

func TestCostBand(t *testing.T) {
	p := testPolicy(t, "costTieTolerance: 0.05")
	// Cost per requested vCPU-hour = nodes × hourly ÷ requested vCPU.
	in := []*candidate{
		cand("ng-dear", "arm64", "0.40", 1, 2, "arm64"),  // 0.20
		cand("ng-tie", "arm64", "0.21", 1, 1, "arm64"),   // 0.21, within 5% of 0.20
		cand("ng-cheap", "arm64", "0.10", 2, 1, "arm64"), // 0.20
		cand("ng-count", "arm64", "0.10", 3, 1, "arm64"), // 0.30: three nodes for the same pods
	}
	kept, dropped := costBand{p.prices, p.CostTieTolerance}.narrow(in)
	if want := []string{"ng-dear", "ng-cheap", "ng-tie"}; !slices.Equal(ids(kept), want) {
		t.Fatalf("kept %v, want %v (cheapest first, ties in input order)", ids(kept), want)
	}
	costs := map[string]float64{}
	for _, c := range in {
		costs[c.v.ID] = c.v.CostPerVCPU
	}
	for id, want := range map[string]float64{"ng-dear": 0.20, "ng-tie": 0.21, "ng-cheap": 0.20, "ng-count": 0.30} {
		if got := costs[id]; got < want-1e-9 || got > want+1e-9 {
			t.Errorf("%s cost %v, want %v", id, got, want)
		}
	}
	if got := reasons(dropped)["ng-count"]; got != "outranked by ng-dear: 0.3000 per requested vCPU-hour against 0.2000, more than 5% apart" {
		t.Errorf("ng-count reason %q", got)
	}
	if len(dropped) != 1 {
		t.Errorf("dropped %v, want only ng-count", ids(dropped))
	}
}

// The chain stops narrowing once nothing is left, and each step sees only
// what the previous one kept: a cheap amd64 group never beats an arm64 one,
// and a priority tier beats both.
func TestChainOrder(t *testing.T) {
	p := testPolicy(t, "priorities:\n  \"20\": [\"^ng-amd-reserved$\"]\n")
	mk := func() []*candidate {
		return []*candidate{
			cand("ng-amd-cheap", "amd64", "0.01", 1, 1, "amd64", "arm64"),
			cand("ng-arm", "arm64", "0.50", 1, 1, "amd64", "arm64"),
			cand("ng-amd-reserved", "amd64", "0.90", 1, 1, "amd64", "arm64"),
			cand("ng-arm-wrong", "arm64", "0.01", 1, 1, "amd64"),
		}
	}
	filters := func(tiers Tiers) []filter {
		return []filter{compatible{}, priorityTier{tiers}, archPreference{p}, costBand{p.prices, p.CostTieTolerance}}
	}
	kept, dropped := chain(mk(), filters(p.tiers)...)
	if !slices.Equal(ids(kept), []string{"ng-amd-reserved"}) || len(dropped) != 3 {
		t.Fatalf("with a tier: kept %v, dropped %v", ids(kept), ids(dropped))
	}
	kept, _ = chain(mk(), filters(nil)...)
	if !slices.Equal(ids(kept), []string{"ng-arm"}) {
		t.Fatalf("without tiers: kept %v, want the arm64 group the pods can run on", ids(kept))
	}
	kept, dropped = chain([]*candidate{cand("ng-arm-wrong", "arm64", "", 1, 1, "amd64")}, filters(nil)...)
	if len(kept) != 0 || len(dropped) != 1 {
		t.Fatalf("nothing compatible: kept %v, dropped %v", ids(kept), ids(dropped))
	}
}

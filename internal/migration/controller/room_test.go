package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func TestRoomFor(t *testing.T) {
	node := func(name, arch string, edit ...func(*corev1.Node)) *nodeFacts {
		n := st.MakeNode().Name(name).Label("kubernetes.io/arch", arch).Label("pool", "web").Obj()
		for _, e := range edit {
			e(n)
		}
		return &nodeFacts{node: n, arch: arch, ready: true, freeMilli: 1000, freeMem: 1 << 30}
	}
	// The running pod is pinned to amd64 by placement's affinity and to the
	// pool by its own selector: the replacement keeps the pool, not the arch.
	pod := st.MakePod().Name("web-1").NodeSelector(map[string]string{"pool": "web"}).
		NodeAffinityIn("kubernetes.io/arch", []string{"amd64"}, st.NodeSelectorTypeMatchExpressions).Obj()
	for name, tc := range map[string]struct {
		nodes map[string]*nodeFacts
		want  string
	}{
		"an arm64 node with room":    {map[string]*nodeFacts{"a": node("a", "arm64")}, "a"},
		"amd64 only":                 {map[string]*nodeFacts{"a": node("a", "amd64")}, ""},
		"another pool":               {map[string]*nodeFacts{"a": node("a", "arm64", func(n *corev1.Node) { n.Labels["pool"] = "batch" })}, ""},
		"not Ready or cordoned":      {map[string]*nodeFacts{"a": func() *nodeFacts { f := node("a", "arm64"); f.ready = false; return f }()}, ""},
		"too little CPU left":        {map[string]*nodeFacts{"a": func() *nodeFacts { f := node("a", "arm64"); f.freeMilli = 50; return f }()}, ""},
		"being deleted by CA":        {map[string]*nodeFacts{"a": node("a", "arm64", taint("ToBeDeletedByClusterAutoscaler", corev1.TaintEffectNoSchedule))}, ""},
		"a PreferNoSchedule taint":   {map[string]*nodeFacts{"a": node("a", "arm64", taint("soft", corev1.TaintEffectPreferNoSchedule))}, "a"},
		"the first of two, by name":  {map[string]*nodeFacts{"b": node("b", "arm64"), "a": node("a", "arm64")}, "a"},
		"one tainted, one with room": {map[string]*nodeFacts{"a": node("a", "arm64", taint("x", corev1.TaintEffectNoExecute)), "b": node("b", "arm64")}, "b"},
	} {
		t.Run(name, func(t *testing.T) {
			got := roomFor(pod, tc.nodes, 100, 64<<20)
			if (got == nil && tc.want != "") || (got != nil && got.node.Name != tc.want) {
				t.Errorf("roomFor = %v, want %q", got, tc.want)
			}
		})
	}
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

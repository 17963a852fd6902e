package migration

import (
	"math"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/planner"
)

func TestPlannerInput(t *testing.T) {
	prices := cost.New(cost.DefaultTable(), cost.DefaultArchitectureWeights(), cost.DefaultPriceAnnotation)
	node := func(name, arch, it string, ready bool) *corev1.Node {
		n := st.MakeNode().Name(name).Label(imageplatform.LabelArch, arch).Label(imageplatform.LabelOS, "linux").
			Label(cost.LabelInstanceType, it).Capacity(map[corev1.ResourceName]string{"cpu": "2", "memory": "8Gi", "pods": "110"}).Obj()
		st := corev1.ConditionTrue
		if !ready {
			st = corev1.ConditionFalse
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
		return n
	}
	cp := node("cp", "amd64", "m6i.large", true)
	cp.Labels["node-role.kubernetes.io/control-plane"] = ""
	nodes := []*corev1.Node{node("amd-1", "amd64", "m6i.large", true), node("amd-2", "amd64", "m6i.large", true), cp,
		node("down", "amd64", "m6i.large", false)}
	pod := func(name, nodeName, kind string) *corev1.Pod {
		p := st.MakePod().Namespace("shop").Name(name).UID(name).Node(nodeName).Req(map[corev1.ResourceName]string{"cpu": "200m", "memory": "256Mi"}).
			OwnerReference("owner", appsv1.SchemeGroupVersion.WithKind(kind)).Obj()
		p.Status.Phase = corev1.PodRunning
		return p
	}
	pods := []*corev1.Pod{pod("ds-1", "amd-1", "DaemonSet"), pod("ds-2", "amd-2", "DaemonSet"), pod("web", "amd-1", "ReplicaSet"),
		pod("db", "amd-2", "StatefulSet"), pod("on-down", "down", "ReplicaSet"), pod("pending", "", "ReplicaSet")}
	view := func(p *corev1.Pod) *PodView {
		switch p.Name {
		case "web":
			return &PodView{Workload: "Deployment/shop/web", Arches: []string{"amd64", "arm64"}, Movable: true, HasCap: true, Cap: 1}
		case "db":
			return &PodView{Workload: "StatefulSet/shop/db", Movable: true} // arches not known yet
		}
		return nil
	}
	c, err := PlannerInput(nodes, pods, prices, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
		if n.Name == "amd-1" && (n.Overhead != planner.Resources{CPU: 200, Memory: 256 << 20} || n.Fixed) {
			t.Errorf("amd-1: %+v, want the DaemonSet pod's requests as overhead", n)
		}
		if n.Name == "cp" && !n.Fixed {
			t.Error("a control-plane node is not Fixed")
		}
	}
	if !slices.Equal(names, []string{"amd-1", "amd-2", "cp"}) {
		t.Errorf("nodes %v: the NotReady node is left out", names)
	}
	var podNames []string
	for _, p := range c.Pods {
		podNames = append(podNames, p.Name)
		switch p.Name {
		case "shop/web":
			if !p.Movable || !slices.Equal(p.Arches, []string{"amd64", "arm64"}) || p.Workload != "Deployment/shop/web" {
				t.Errorf("web: %+v", p)
			}
		case "shop/db":
			if p.Movable || !slices.Equal(p.Arches, []string{"amd64"}) {
				t.Errorf("db, arches unknown: %+v, want it to stay on its node's arch", p)
			}
		}
	}
	if !slices.Equal(podNames, []string{"shop/web", "shop/db"}) {
		t.Errorf("pods %v: no DaemonSet pod, no pod on a left-out node, no pending pod", podNames)
	}
	if c.ARMCap["Deployment/shop/web"] != 1 {
		t.Errorf("caps %v", c.ARMCap)
	}
	for _, p := range c.Pods {
		if p.Nodes != nil {
			t.Errorf("pod %s admits %v; with no selector and no taint, want nil (any node)", p.Name, p.Nodes)
		}
	}
	// A selector, and a taint it does not tolerate: only the nodes that
	// admit it.
	nodes[0].Labels["pool"] = "a"
	nodes[1].Labels["pool"] = "a"
	nodes[1].Spec.Taints = []corev1.Taint{{Key: "archfit.dev/emptying", Effect: corev1.TaintEffectNoSchedule}}
	for _, p := range pods {
		if p.Name == "web" {
			p.Spec.NodeSelector = map[string]string{"pool": "a", imageplatform.LabelArch: "amd64"}
		}
	}
	c, err = PlannerInput(nodes, pods, prices, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Pods {
		if p.Name == "shop/web" && !slices.Equal(p.Nodes, []string{"amd-1"}) {
			t.Errorf("web admits %v, want [amd-1]: amd-2 is tainted, cp lacks the label, and the arch is placement's to narrow", p.Nodes)
		}
	}
	for _, n := range c.Nodes {
		if n.Name == "amd-2" && !n.Unschedulable {
			t.Error("a node migration is emptying takes no new pod in the plan")
		}
	}
	nodes[1].Spec.Taints = nil
	for _, p := range pods {
		p.Spec.NodeSelector = nil
	}
	// No arm64 node: the table's cheapest arm64 type of m6i.large's size
	// (2 vCPU, 8 GiB, AWS): m6g.large, cheaper than m7g.large.
	var twin *planner.InstanceType
	for i, ty := range c.Types {
		if ty.Arch == planner.ARM64 {
			twin = &c.Types[i]
		}
	}
	want := prices.Table().InstanceTypes["m6g.large"].HourlyPrice
	if want >= prices.Table().InstanceTypes["m7g.large"].HourlyPrice {
		t.Fatal("the shipped table changed: m6g.large is no longer the cheaper")
	}
	if twin == nil || twin.Name != "m6g.large" || math.Abs(twin.PricePerHour-want) > 1e-12 || twin.Overhead.CPU != 200 {
		t.Fatalf("types %+v, want m6g.large at %v with the DaemonSet overhead", c.Types, want)
	}
	// A type the table does not know: a twin priced by the arch weights.
	for _, n := range nodes {
		n.Labels[cost.LabelInstanceType] = "custom.large"
	}
	c, err = PlannerInput(nodes, pods, prices, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	twin = nil
	for i, ty := range c.Types {
		if ty.Arch == planner.ARM64 {
			twin = &c.Types[i]
		}
	}
	amdPrice := c.Types[0].PricePerHour
	if twin == nil || twin.Name != "custom.large-arm64-twin" || math.Abs(twin.PricePerHour-amdPrice*prices.Weight("arm64")/prices.Weight("amd64")) > 1e-12 {
		t.Fatalf("types %+v, want a weight-priced twin", c.Types)
	}
	for _, n := range nodes {
		n.Labels[cost.LabelInstanceType] = "m6i.large"
	}
	// A node group at zero, named: the table sizes and prices it, and no
	// twin is made.
	c, err = PlannerInput(nodes, pods, prices, []GrowType{{Name: "m7g.large"}}, view)
	if err != nil {
		t.Fatal(err)
	}
	var arm []string
	for _, ty := range c.Types {
		if ty.Arch == planner.ARM64 {
			arm = append(arm, ty.Name)
		}
	}
	if !slices.Equal(arm, []string{"m7g.large"}) {
		t.Errorf("arm64 types %v, want m7g.large alone", arm)
	}
	if _, err := PlannerInput(nodes, pods, prices, []GrowType{{Name: "no.such"}}, view); err == nil {
		t.Error("no error for a grow type not in the price table")
	}
}

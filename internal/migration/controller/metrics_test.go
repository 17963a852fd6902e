package controller

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
)

// A pass publishes each workload's running pods per arch and what those on
// arm64 save, and drops the series of a workload that is gone.
func TestPassPublishesRunningPods(t *testing.T) {
	node := func(name, arch, instanceType string) *corev1.Node {
		n := st.MakeNode().Name(name).Label(imageplatform.LabelArch, arch).Label(imageplatform.LabelOS, "linux").
			Label(cost.LabelInstanceType, instanceType).Capacity(map[corev1.ResourceName]string{"cpu": "2", "memory": "8Gi", "pods": "110"}).Obj()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		return n
	}
	amd, arm := node("amd", "amd64", "m6i.large"), node("arm", "arm64", "m7g.large")
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "rs-uid"}}
	pod := func(name, nodeName string) *corev1.Pod {
		p := st.MakePod().Namespace("shop").Name(name).UID(name).Node(nodeName).Req(map[corev1.ResourceName]string{"cpu": "1"}).
			OwnerReference("web-1", appsv1.SchemeGroupVersion.WithKind("ReplicaSet")).Obj()
		p.OwnerReferences[0].UID = rs.UID
		p.Status.Phase = corev1.PodRunning
		return p
	}
	pods := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	rss := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range []any{pod("a1", "amd"), pod("a2", "amd"), pod("r1", "arm"), pod("pending", "")} {
		if err := pods.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes.Add(amd); err != nil {
		t.Fatal(err)
	}
	if err := nodes.Add(arm); err != nil {
		t.Fatal(err)
	}
	if err := rss.Add(rs); err != nil {
		t.Fatal(err)
	}

	prices := cost.New(cost.DefaultTable(), cost.DefaultArchitectureWeights(), cost.DefaultPriceAnnotation)
	m := NewMetrics(prometheus.NewRegistry())
	c := New(nil, &migration.Workloads{ReplicaSets: appslisters.NewReplicaSetLister(rss)}, &migration.Records{},
		func(*corev1.Pod) bool { return true },
		func(context.Context, *corev1.Pod) imageplatform.PodPlatforms { return imageplatform.PodPlatforms{} },
		prices, nil, m, Options{Mode: ModeDryRun})
	podLister, nodeLister := corelisters.NewPodLister(pods), corelisters.NewNodeLister(nodes)
	c.Pass(context.Background(), podLister, nodeLister)

	for arch, want := range map[string]float64{"amd64": 2, "arm64": 1} {
		if got := testutil.ToFloat64(m.WorkloadPods.WithLabelValues("shop", "ReplicaSet/web-1", arch)); got != want {
			t.Errorf("%s pods = %v, want %v", arch, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.WorkloadPods); n != 2 {
		t.Errorf("%d series, want 2 (a pending pod has no arch)", n)
	}
	perVCPU := func(n *corev1.Node, arch string) float64 { return prices.NodePrice(n, arch, 2000).PerVCPU }
	want := (perVCPU(amd, "amd64") - perVCPU(arm, "arm64")) * HoursPerMonth // one vCPU on arm64
	if got := testutil.ToFloat64(m.Saving); want <= 0 || math.Abs(got-want) > 1e-9 {
		t.Errorf("saving = %v, want %v", got, want)
	}

	// The workload goes: its series go with it.
	for _, name := range []string{"a1", "a2", "r1", "pending"} {
		if err := pods.Delete(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name)}}); err != nil {
			t.Fatal(err)
		}
	}
	c.Pass(context.Background(), podLister, nodeLister)
	if n := testutil.CollectAndCount(m.WorkloadPods); n != 0 {
		t.Errorf("%d series after the workload's pods are gone, want 0", n)
	}
	if got := testutil.ToFloat64(m.Saving); got != 0 {
		t.Errorf("saving = %v with no pod, want 0", got)
	}
}

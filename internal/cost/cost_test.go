package cost

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
)

func TestDefaultTableHasBothArches(t *testing.T) {
	tbl := DefaultTable()
	arches := map[string]map[string]bool{}
	for _, it := range tbl.InstanceTypes {
		if arches[it.Provider] == nil {
			arches[it.Provider] = map[string]bool{}
		}
		arches[it.Provider][it.Arch] = true
	}
	for _, p := range []string{"aws", "gcp", "azure"} {
		if !arches[p]["amd64"] || !arches[p]["arm64"] {
			t.Errorf("provider %s lacks an arch: %v", p, arches[p])
		}
	}
}

func TestNodePriceSources(t *testing.T) {
	m := New(DefaultTable(), map[string]float64{"arm64": 0.8, "amd64": 1.0}, "")
	tests := []struct {
		name       string
		labels     map[string]string
		annotation string
		arch       string
		milliCPU   int64
		wantSource Source
		wantPer    float64
	}{
		{name: "annotation wins over the table", labels: map[string]string{LabelInstanceType: "m6i.large"}, annotation: "0.05", arch: "amd64", milliCPU: 2000, wantSource: SourceAnnotation, wantPer: 0.025},
		{name: "table per allocatable vCPU", labels: map[string]string{LabelInstanceType: "m7g.large"}, arch: "arm64", milliCPU: 1930, wantSource: SourceTable, wantPer: 0.0816 / 1.93},
		{name: "table vCPU when allocatable unknown", labels: map[string]string{LabelInstanceType: "m6i.xlarge"}, arch: "amd64", wantSource: SourceTable, wantPer: 0.048},
		{name: "weight fallback", arch: "arm64", milliCPU: 4000, wantSource: SourceWeight, wantPer: 0.8 * ReferenceVCPUHourly},
		{name: "malformed annotation falls through", labels: map[string]string{LabelInstanceType: "m6g.large"}, annotation: "cheap", arch: "arm64", milliCPU: 2000, wantSource: SourceTable, wantPer: 0.0385},
		{name: "unweighted arch is 1.0", arch: "s390x", milliCPU: 1000, wantSource: SourceWeight, wantPer: ReferenceVCPUHourly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := st.MakeNode().Name("n").Obj()
			node.Labels = tt.labels
			if tt.annotation != "" {
				node.Annotations = map[string]string{DefaultPriceAnnotation: tt.annotation}
			}
			p := m.NodePrice(node, tt.arch, tt.milliCPU)
			if p.Source != tt.wantSource || math.Abs(p.PerVCPU-tt.wantPer) > 1e-9 {
				t.Errorf("got %+v, want source %s per vCPU %v", p, tt.wantSource, tt.wantPer)
			}
		})
	}
}

func TestNodePriceDoesNotAllocate(t *testing.T) {
	m := New(DefaultTable(), map[string]float64{"arm64": 0.8}, "")
	node := st.MakeNode().Name("n").Label(LabelInstanceType, "m7g.large").Obj()
	if n := testing.AllocsPerRun(100, func() { m.NodePrice(node, "arm64", 2000) }); n != 0 {
		t.Fatalf("NodePrice allocates %v times", n)
	}
}

func TestLoadTableErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"empty":    "currency: USD\ninstanceTypes: {}\n",
		"price":    "instanceTypes:\n  x: {hourlyPrice: 0, arch: amd64, vcpu: 2}\n",
		"typo":     "instanceTypes:\n  x: {hourlyPrise: 1, arch: amd64, vcpu: 2}\n",
		"no arch":  "instanceTypes:\n  x: {hourlyPrice: 1, vcpu: 2}\n",
		"bad yaml": "instanceTypes: [",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTable(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadTable(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestPodRequests(t *testing.T) {
	pod := st.MakePod().Req(map[corev1.ResourceName]string{"cpu": "500m", "memory": "1Gi"}).Req(map[corev1.ResourceName]string{"cpu": "250m"}).Obj()
	if c, m := PodRequests(&pod.Spec); c != 750 || m != 1<<30 {
		t.Fatalf("containers: %d m, %d bytes", c, m)
	}
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}
	if c, m := PodRequests(&pod.Spec); c != 2000 || m != 1<<30 {
		t.Fatalf("a larger init container sets the CPU, not the memory: %d m, %d bytes", c, m)
	}
}

// The scheduler's saving estimate and the expander's cost per vCPU weigh a
// pod the same way, a best-effort pod included.
func TestPodVCPU(t *testing.T) {
	if got := PodVCPU(&st.MakePod().Req(map[corev1.ResourceName]string{"cpu": "1500m"}).Obj().Spec); got != 1.5 {
		t.Fatalf("requests 1500m: %v vCPU", got)
	}
	if got := PodVCPU(&st.MakePod().Container("c").Obj().Spec); got != 0.1 {
		t.Fatalf("no requests: %v vCPU, want the 100m kube-scheduler assumes", got)
	}
}

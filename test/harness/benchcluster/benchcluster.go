// Package benchcluster is the cluster make bench measures: its nodes (2/3
// amd64 m6i.2xlarge, 1/3 arm64 m7g.2xlarge, interleaved) and the images its
// pods use in a 70/20/10 mix of multi-arch, amd64-only and arm64-only. The
// throughput driver and the scheduling-cycle benchmark share it, so that
// their figures are about the same cluster.
package benchcluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/test/harness/registrytest"
)

// Node is node i: every third one arm64, the rest amd64, each with 32 CPUs,
// 128 GiB and room for 110 pods, Ready.
func Node(i int) *corev1.Node {
	arch, it := "amd64", "m6i.2xlarge"
	if i%3 == 2 {
		arch, it = "arm64", "m7g.2xlarge"
	}
	name := fmt.Sprintf("node-%05d", i)
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"), corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			imageplatform.LabelArch: arch, imageplatform.LabelOS: "linux", "kubernetes.io/hostname": name, cost.LabelInstanceType: it}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			NodeInfo: corev1.NodeSystemInfo{Architecture: arch, OperatingSystem: "linux"}},
	}
}

// Images are the three images the pods use, as references into the
// registry they were pushed to.
type Images struct {
	Multi, AMD64, ARM64 string
}

// Push puts the three images into reg: a multi-arch index (linux/amd64 and
// linux/arm64) and two single-arch images.
func Push(reg *registrytest.Registry) (Images, error) {
	if _, err := reg.PushIndex("app/multi:1", []string{"linux/amd64", "linux/arm64"}, false, true); err != nil {
		return Images{}, err
	}
	if _, err := reg.PushImage("app/amd:1", "linux/amd64", false); err != nil {
		return Images{}, err
	}
	if _, err := reg.PushImage("app/arm:1", "linux/arm64", false); err != nil {
		return Images{}, err
	}
	return Images{Multi: reg.Host + "/app/multi:1", AMD64: reg.Host + "/app/amd:1", ARM64: reg.Host + "/app/arm:1"}, nil
}

// Kind is one kind of pod in the mix: its image and the arch its
// kubernetes.io/arch nodeSelector names (none if empty).
type Kind struct{ Image, Arch string }

// Mix is the pods' kinds in order: pod i is Mix(pinned)[i%10], 70%
// multi-arch, 20% amd64-only, 10% arm64-only. With pinned, the single-arch
// pods carry a nodeSelector for their image's arch: what a mixed cluster's
// pods need today for the default scheduler to place them correctly.
func (im Images) Mix(pinned bool) []Kind {
	amd, arm := Kind{Image: im.AMD64}, Kind{Image: im.ARM64}
	if pinned {
		amd.Arch, arm.Arch = "amd64", "arm64"
	}
	multi := Kind{Image: im.Multi}
	return []Kind{multi, multi, multi, multi, multi, multi, multi, amd, amd, arm}
}

// Pod is a pod of this kind for the scheduler profile, requesting 100m CPU
// and 128 MiB; the caller names it.
func (k Kind) Pod(scheduler string) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{SchedulerName: scheduler, Containers: []corev1.Container{{Name: "c", Image: k.Image,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}}}}
	if k.Arch != "" {
		p.Spec.NodeSelector = map[string]string{imageplatform.LabelArch: k.Arch}
	}
	return p
}

// Package carequest builds the parts of a BestOptions request as
// cluster-autoscaler's gRPC expander client sends them: template nodes and
// pending pods, each serialized as protobuf. The expander's tests, the
// benchmark and the soak share it so that they all send what CA sends.
package carequest

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/archfit/archfit/internal/cost"
)

// TemplateNode is group's template node as CA builds it from the node
// group: a generated name, the arch and os labels (beta ones too), CA's
// template-node label, 2 vCPU, 8Gi and 110 pods. An empty instanceType
// leaves the label out, so the price comes from the arch's weight.
func TemplateNode(group, arch, instanceType string) []byte {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "template-node-for-" + group + "-1234", Labels: map[string]string{
			"kubernetes.io/arch": arch, "beta.kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux",
			"cluster-autoscaler.kubernetes.io/template-node": "true",
		}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
	if instanceType != "" {
		n.Labels[cost.LabelInstanceType] = instanceType
	}
	return marshal(n)
}

// PendingPod is a pending pod of one container requesting cpu.
func PendingPod(namespace, name, image, cpu string) []byte {
	return marshal(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + namespace + "-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	})
}

func marshal(o interface{ Marshal() ([]byte, error) }) []byte {
	b, err := o.Marshal()
	if err != nil {
		panic(err) // an object built here always marshals
	}
	return b
}

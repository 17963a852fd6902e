package migration

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Ref names a workload: a Deployment, a StatefulSet, or a ReplicaSet that
// no Deployment owns.
type Ref struct{ Kind, Namespace, Name string }

// String is "Kind/namespace/name".
func (r Ref) String() string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

// Workload is what migration knows of a pod's workload.
type Workload struct {
	Ref
	// Object is the workload itself, for Events and annotations.
	Object metav1.Object
	// Target is the workload's own target, else its namespace's; HasTarget
	// is false when neither has one (or it does not parse: TargetErr).
	Target    Target
	HasTarget bool
	TargetErr error
	Step      StepState
	Paused    string
	Next      bool
}

// Percent is the share in force now; 0 without a target.
func (w *Workload) Percent() int {
	if !w.HasTarget {
		return 0
	}
	return w.Target.Percent(w.Step)
}

// Workloads finds a pod's workload from informer listers; it makes no API
// call.
type Workloads struct {
	ReplicaSets  appslisters.ReplicaSetLister
	Deployments  appslisters.DeploymentLister
	StatefulSets appslisters.StatefulSetLister
	Namespaces   corelisters.NamespaceLister
}

// Owner is the key the replica counts use: the pod's controller's UID, or
// "" for a pod that migration never moves: no controller, a DaemonSet's,
// a Job's, a static pod (its controller is the Node).
func Owner(pod *corev1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ""
	}
	switch ref.Kind {
	case "ReplicaSet", "StatefulSet":
		return string(ref.UID)
	}
	return ""
}

// Of returns the pod's workload, or false for a pod migration never moves.
func (w *Workloads) Of(pod *corev1.Pod) (Workload, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return Workload{}, false
	}
	var obj metav1.Object
	var out Ref
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := w.ReplicaSets.ReplicaSets(pod.Namespace).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return Workload{}, false
		}
		obj, out = rs, Ref{Kind: "ReplicaSet", Namespace: rs.Namespace, Name: rs.Name}
		if d := metav1.GetControllerOf(rs); d != nil && d.Kind == "Deployment" && w.Deployments != nil {
			dep, err := w.Deployments.Deployments(pod.Namespace).Get(d.Name)
			if err != nil || dep.UID != d.UID {
				return Workload{}, false
			}
			obj, out = dep, Ref{Kind: "Deployment", Namespace: dep.Namespace, Name: dep.Name}
		}
	case "StatefulSet":
		ss, err := w.StatefulSets.StatefulSets(pod.Namespace).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return Workload{}, false
		}
		obj, out = ss, Ref{Kind: "StatefulSet", Namespace: ss.Namespace, Name: ss.Name}
	default:
		return Workload{}, false
	}
	return w.describe(out, obj), true
}

// Describe reads the migration annotations of a workload object.
func (w *Workloads) describe(ref Ref, obj metav1.Object) Workload {
	out := Workload{Ref: ref, Object: obj}
	a := obj.GetAnnotations()
	spec, ok := a[TargetAnnotation]
	if !ok && w.Namespaces != nil {
		if ns, err := w.Namespaces.Get(ref.Namespace); err == nil {
			spec, ok = ns.Annotations[TargetAnnotation]
		}
	}
	if ok {
		out.Target, out.TargetErr = ParseTarget(spec)
		out.HasTarget = out.TargetErr == nil
	}
	out.Step = out.Target.StepOf(a[StepAnnotation])
	out.Paused = a[PausedAnnotation]
	out.Next = a[NextAnnotation] == ARM64
	return out
}

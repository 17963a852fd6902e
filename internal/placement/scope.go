package placement

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Scope decides which pods placement handles. The webhook configuration
// narrows the calls already; the handler checks again, because a
// configuration edited by hand must not make placement touch system pods.
type Scope struct {
	// SchedulerNames opt a pod in by its schedulerName.
	SchedulerNames []string
	// NamespaceSelector opts in every pod of the namespaces it matches,
	// for teams that keep the default scheduler. Nil matches none.
	NamespaceSelector labels.Selector
	// NamespaceLabels returns a namespace's labels; nil, or an error, is
	// treated as no labels.
	NamespaceLabels func(name string) (map[string]string, error)
	// SkipNamespaces are never touched (kube-system, archfit's own).
	SkipNamespaces []string
}

// Skip reasons, as metric label values.
const (
	SkipNamespace    = "skipped_namespace"
	SkipNodeName     = "skipped_node_name"
	SkipDaemonSet    = "skipped_daemonset"
	SkipMirror       = "skipped_static"
	SkipNotOptedIn   = "skipped_not_opted_in"
	SkipAlreadyDone  = "skipped_already_placed"
	mirrorAnnotation = "kubernetes.io/config.mirror"
)

// Check returns "" when placement should handle the pod, or why not. ns is
// the request's namespace (a pod being created may not carry one yet).
func (s Scope) Check(pod *corev1.Pod, ns string) string {
	switch {
	case slices.Contains(s.SkipNamespaces, ns):
		return SkipNamespace
	case pod.Spec.NodeName != "":
		// Bound at creation: no scheduler, and no autoscaler, will judge it.
		return SkipNodeName
	case pod.Annotations[mirrorAnnotation] != "":
		return SkipMirror
	case ownedByDaemonSet(pod):
		// A DaemonSet's controller places one pod per node itself, by its
		// own node affinity; narrowing it would only leave nodes without
		// their daemon.
		return SkipDaemonSet
	case pod.Annotations[Annotation] != "":
		return SkipAlreadyDone
	}
	if slices.Contains(s.SchedulerNames, pod.Spec.SchedulerName) {
		return ""
	}
	if s.NamespaceSelector != nil && s.NamespaceLabels != nil {
		if l, err := s.NamespaceLabels(ns); err == nil && s.NamespaceSelector.Matches(labels.Set(l)) {
			return ""
		}
	}
	return SkipNotOptedIn
}

// Running reports whether a pod that already exists is one placement
// handles: what Check asks of a new pod, less the tests that only hold at
// creation (bound, already placed). Migration moves only such pods.
func (s Scope) Running(pod *corev1.Pod) bool {
	c := *pod
	c.Spec.NodeName = ""
	if pod.Annotations[Annotation] != "" {
		c.Annotations = nil
		if pod.Annotations[mirrorAnnotation] != "" {
			return false
		}
	}
	return s.Check(&c, pod.Namespace) == ""
}

func ownedByDaemonSet(pod *corev1.Pod) bool {
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

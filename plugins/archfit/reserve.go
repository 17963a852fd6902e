package archfit

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
)

// PostFilter runs only when the pod fits no node. If PreFilter narrowed the
// pod to one platform's nodes, the framework's message lumps the rest under
// "didn't satisfy plugin(s) [ArchFit]"; this adds ArchFit's reason with
// counts from the cycle's snapshot. It is off the hot path, so it may walk
// the nodes. It never makes room for the pod: preemption is not its job.
func (pl *ArchFit) PostFilter(_ context.Context, state fwk.CycleState, pod *corev1.Pod, _ fwk.NodeToStatusReader) (*fwk.PostFilterResult, *fwk.Status) {
	s, err := getPreFilterState(state)
	if err != nil {
		return nil, fwk.NewStatus(fwk.Unschedulable)
	}
	if s.narrowed == nil {
		return nil, fwk.NewStatus(fwk.Unschedulable) // Filter's own reasons are in the message
	}
	all, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, fwk.AsStatus(fmt.Errorf("%s: listing nodes: %w", Name, err))
	}
	wrong, unknown, missed := 0, 0, 0
	for _, ni := range all {
		f := pl.facts.get(ni.Node())
		switch {
		case !f.known:
			unknown++
		case !s.pp.Allows(f.os, f.arch):
			wrong++
		case !s.narrowed.Has(ni.Node().Name):
			missed++
		}
	}
	if missed > 0 {
		// The index had not caught up with nodes the snapshot has; they
		// were never tried, so try again once it has.
		pl.activateLater(pod)
	}
	var reasons []string
	if wrong > 0 {
		reasons = append(reasons, fmt.Sprintf("%s: %d %s", Name, wrong, ErrReasonImageArchitecture))
	}
	if unknown > 0 {
		reasons = append(reasons, fmt.Sprintf("%s: %d %s", Name, unknown, ErrReasonNodeArchUnknown))
	}
	return nil, fwk.NewStatus(fwk.Unschedulable, reasons...)
}

func (pl *ArchFit) activateLater(pod *corev1.Pod) {
	go func() {
		select {
		case <-pl.ctx.Done():
		case <-time.After(time.Second):
			pl.handle.Activate(klog.FromContext(pl.ctx), map[string]*corev1.Pod{pod.Namespace + "/" + pod.Name: pod})
		}
	}()
}

// Reserve re-checks the one chosen node. It is the backstop for the
// index-based Skip above and costs one cached lookup per pod.
func (pl *ArchFit) Reserve(_ context.Context, state fwk.CycleState, pod *corev1.Pod, nodeName string) *fwk.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return nil // PreFilter skipped the pod's namespace
	}
	if s.pp.Unconstrained {
		return nil
	}
	ni, err := pl.handle.SnapshotSharedLister().NodeInfos().Get(nodeName)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("%s: node %s: %w", Name, nodeName, err))
	}
	f := pl.facts.get(ni.Node())
	if f.known && s.pp.Allows(f.os, f.arch) {
		return nil
	}
	// The index had not seen this node yet; by the retry it will have.
	pl.activateLater(pod)
	if !f.known {
		return fwk.NewStatus(fwk.Unschedulable, ErrReasonNodeArchUnknown)
	}
	return fwk.NewStatus(fwk.Unschedulable, ErrReasonImageArchitecture)
}

// Unreserve implements fwk.ReservePlugin; Reserve holds nothing.
func (pl *ArchFit) Unreserve(context.Context, fwk.CycleState, *corev1.Pod, string) {}

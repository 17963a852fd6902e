//go:build k8s1.35

package controlplane

import (
	"context"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/controller/job"
)

// newJobController is 1.35's Job controller, which takes its client last.
func newJobController(ctx context.Context, cs kubernetes.Interface, f informers.SharedInformerFactory) (*job.Controller, error) {
	return job.NewController(ctx, f.Core().V1().Pods(), f.Batch().V1().Jobs(), cs)
}

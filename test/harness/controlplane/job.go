//go:build !k8s1.35

package controlplane

import (
	"context"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/controller/job"
)

// newJobController is the Job controller of 1.36 and later, which takes its
// client first and knows workloads and pod groups (none here).
func newJobController(ctx context.Context, cs kubernetes.Interface, f informers.SharedInformerFactory) (*job.Controller, error) {
	return job.NewController(ctx, cs, f.Core().V1().Pods(), f.Batch().V1().Jobs(), nil, nil)
}

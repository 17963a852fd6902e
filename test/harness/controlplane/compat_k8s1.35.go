//go:build k8s1.35

// Calls into Kubernetes 1.35's test server and controllers, for make
// test-versions: no invariant checks to turn off, the Job controller takes
// its client last and knows no workloads, and one disruption worker.

package controlplane

import (
	"context"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/controller/disruption"
	"k8s.io/kubernetes/pkg/controller/job"
)

func testServerOptions() *apiservertesting.TestServerInstanceOptions {
	return &apiservertesting.TestServerInstanceOptions{}
}

func newJobController(ctx context.Context, cs kubernetes.Interface, f informers.SharedInformerFactory) (*job.Controller, error) {
	return job.NewController(ctx, f.Core().V1().Pods(), f.Batch().V1().Jobs(), cs)
}

func runDisruption(ctx context.Context, dc *disruption.DisruptionController) { dc.Run(ctx) }

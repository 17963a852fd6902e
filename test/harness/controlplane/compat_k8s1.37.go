//go:build !k8s1.35 && !k8s1.36

// Calls into Kubernetes 1.37's test server and controllers (the main
// module's build), whose signatures differ between minors: see
// compat_k8s1.*.go and docs/development.md.

package controlplane

import (
	"context"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/controller/disruption"
	"k8s.io/kubernetes/pkg/controller/job"
)

// testServerOptions leaves out the invariant checks, which scrape metrics
// at teardown.
func testServerOptions() *apiservertesting.TestServerInstanceOptions {
	return &apiservertesting.TestServerInstanceOptions{DisableInvariantChecks: true}
}

func newJobController(ctx context.Context, cs kubernetes.Interface, f informers.SharedInformerFactory) (*job.Controller, error) {
	return job.NewController(ctx, cs, f.Core().V1().Pods(), f.Batch().V1().Jobs(), nil, nil)
}

func runDisruption(ctx context.Context, dc *disruption.DisruptionController) { dc.Run(ctx, 2) }

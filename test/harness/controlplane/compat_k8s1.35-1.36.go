//go:build k8s1.35 || k8s1.36

// Calls into Kubernetes 1.35's and 1.36's test server and disruption
// controller, for make test-versions: no invariant checks to turn off, and
// one disruption worker.

package controlplane

import (
	"context"

	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/controller/disruption"
)

func testServerOptions() *apiservertesting.TestServerInstanceOptions {
	return &apiservertesting.TestServerInstanceOptions{}
}

func runDisruption(ctx context.Context, dc *disruption.DisruptionController) { dc.Run(ctx) }

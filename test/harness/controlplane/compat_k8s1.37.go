//go:build !k8s1.35 && !k8s1.36

// Calls into Kubernetes 1.37's test server and disruption controller (the
// main module's build), whose signatures differ between minors: see
// compat_k8s1.*.go and docs/development.md.

package controlplane

import (
	"context"

	apiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/pkg/controller/disruption"
)

// testServerOptions leaves out the invariant checks, which scrape metrics
// at teardown.
func testServerOptions() *apiservertesting.TestServerInstanceOptions {
	return &apiservertesting.TestServerInstanceOptions{DisableInvariantChecks: true}
}

func runDisruption(ctx context.Context, dc *disruption.DisruptionController) { dc.Run(ctx, 2) }

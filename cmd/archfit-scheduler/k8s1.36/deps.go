//go:build tools

// Package deps names, for go mod tidy, what this build module compiles from
// the main module's source: archfit-scheduler's command; the plugin's, its
// config API's and the shipped scheduler configs' tests (make
// scheduler-versions); the integration tests (make test-versions), with
// what they import; and kube-apiserver for make e2e-versions. tidy keeps no test dependency of another module's
// package, so without this file those targets would stop at a missing
// go.sum entry. Every k8s1.* build module has the same file.
package deps

import (
	_ "github.com/archfit/archfit/cmd/archfit/report"
	_ "github.com/archfit/archfit/expander/app"
	_ "github.com/archfit/archfit/internal/k8sbuild"
	_ "github.com/archfit/archfit/internal/migration/controller"
	_ "github.com/archfit/archfit/internal/placement/app"
	_ "github.com/archfit/archfit/manifests"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	_ "github.com/archfit/archfit/plugins/archfit"
	_ "github.com/archfit/archfit/scheduler-config"
	_ "github.com/archfit/archfit/test/harness/benchcluster"
	_ "github.com/archfit/archfit/test/harness/controlplane"
	_ "github.com/archfit/archfit/test/harness/kubeletsim"
	_ "github.com/archfit/archfit/test/harness/placementtest"
	_ "github.com/archfit/archfit/test/harness/registrytest"
	_ "github.com/archfit/archfit/test/harness/testcerts"
	_ "github.com/go-logr/logr"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/prometheus/common/expfmt"
	_ "google.golang.org/grpc"
	_ "k8s.io/client-go/discovery/cached/memory"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "k8s.io/client-go/restmapper"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/klog/v2/ktesting"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	_ "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	_ "k8s.io/kubernetes/pkg/scheduler/testing"
	_ "k8s.io/utils/ptr"
	_ "sigs.k8s.io/yaml"
)

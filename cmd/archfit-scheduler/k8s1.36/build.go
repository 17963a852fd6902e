// Package build marks a build module of archfit-scheduler for one older
// Kubernetes minor (docs/development.md). It holds no code of its own: it
// imports what `go build github.com/archfit/archfit/cmd/archfit-scheduler`
// compiles here, so that `go vet ./...` in this directory checks that the
// plugin still compiles against this minor. Every k8s1.* build module has
// the same file.
package build

import (
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	_ "github.com/archfit/archfit/plugins/archfit"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

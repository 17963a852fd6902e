// Command archfit-scheduler is kube-scheduler with the ArchFit plugin
// compiled in. It takes exactly kube-scheduler's flags (--config,
// --leader-elect, --secure-port, ...) and serves the same /healthz, /readyz
// and /metrics; run it with a config from scheduler-config/.
//
// The main module builds it on Kubernetes 1.37; cmd/archfit-scheduler/k8s1.*
// build this same package on older minors (docs/development.md).
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/archfit/archfit/internal/k8sbuild"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme" // ArchFitArgs in the scheduler's scheme
	"github.com/archfit/archfit/plugins/archfit"
)

func main() {
	if versionRequested(os.Args[1:]) {
		os.Exit(printVersion(os.Stdout))
	}
	cmd := app.NewSchedulerCommand(app.WithPlugin(archfit.Name, archfit.New))
	cmd.Use = "archfit-scheduler"
	cmd.Short = "kube-scheduler with archfit's ArchFit plugin (image-architecture-aware placement)"
	cmd.Long = `archfit-scheduler is kube-scheduler with the ArchFit plugin compiled in. It
keeps pods off nodes whose CPU architecture or OS their images are not built
for, and prefers the cheapest architecture that fits (normally arm64).

Run it as a secondary scheduler with a config from scheduler-config/, for
example --config scheduler-config/archfit-scheduler.yaml; pods opt in with
spec.schedulerName: archfit-scheduler. All kube-scheduler flags apply.

Each build is kube-scheduler of one Kubernetes minor (--version says which)
and refuses to start against an older kube-apiserver: run the build of your
cluster's minor (image tag suffix -k8s1.MINOR).

` + cmd.Long
	os.Exit(cli.Run(cmd))
}

// versionRequested is true for --version and --version=true. kube-scheduler
// answers those from -ldflags alone, which a `go install` build lacks;
// --version=raw is left to it.
func versionRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--version" || a == "--version=true" {
			return true
		}
	}
	return false
}

func printVersion(w io.Writer) int {
	v, ok := k8sbuild.Built()
	if !ok {
		fmt.Fprintln(w, "archfit-scheduler: built on an unknown Kubernetes release")
		return 1
	}
	fmt.Fprintf(w, "archfit-scheduler built on Kubernetes %s (kube-scheduler %s); needs kube-apiserver %s or newer\n",
		v.MinorString(), v.Full, v.MinorString())
	return 0
}

// Command archfit-scheduler is kube-scheduler with the ArchFit plugin
// compiled in. It takes exactly kube-scheduler's flags (--config,
// --leader-elect, --secure-port, ...) and serves the same /healthz, /readyz
// and /metrics; run it with a config from scheduler-config/.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	_ "github.com/archfit/archfit/plugins/apis/config/scheme" // ArchFitArgs in the scheduler's scheme
	"github.com/archfit/archfit/plugins/archfit"
)

func main() {
	cmd := app.NewSchedulerCommand(app.WithPlugin(archfit.Name, archfit.New))
	cmd.Use = "archfit-scheduler"
	cmd.Short = "kube-scheduler with archfit's ArchFit plugin (image-architecture-aware placement)"
	cmd.Long = `archfit-scheduler is kube-scheduler with the ArchFit plugin compiled in. It
keeps pods off nodes whose CPU architecture or OS their images are not built
for, and prefers the cheapest architecture that fits (normally arm64).

Run it as a secondary scheduler with a config from scheduler-config/, for
example --config scheduler-config/archfit-scheduler.yaml; pods opt in with
spec.schedulerName: archfit-scheduler. All kube-scheduler flags apply.

` + cmd.Long
	os.Exit(cli.Run(cmd))
}

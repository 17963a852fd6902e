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
	os.Exit(cli.Run(cmd))
}

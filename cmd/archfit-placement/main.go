// Command archfit-placement is archfit's pod placement component: a
// mutating admission webhook and a controller that write each pod's image
// platforms onto the pod as required node affinity.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/component-base/cli"

	"github.com/archfit/archfit/internal/placement/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := app.NewCommand()
	cmd.SetContext(ctx)
	os.Exit(cli.Run(cmd))
}

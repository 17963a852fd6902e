// Command archfit-expander is archfit's cluster-autoscaler gRPC expander.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/component-base/cli"

	"github.com/archfit/archfit/expander/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := app.NewCommand()
	cmd.SetContext(ctx)
	os.Exit(cli.Run(cmd))
}

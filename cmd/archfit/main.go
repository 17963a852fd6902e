// Command archfit is the operator's CLI: inspect images' platforms, and run
// the embedded demo.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/component-base/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCommand()
	cmd.SetContext(ctx)
	os.Exit(cli.Run(cmd))
}

// Command archfit is the operator's CLI: inspect images' platforms, and run
// the embedded demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newRootCommand(), os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // an unknown command or flag, a bad flag value or argument count
)

// usageError is a mistake on the command line, found before the command ran.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run executes root with args as component-base's cli.Run does (logging
// flags, flag name normalization, logs set up after parsing), and returns
// the exit code. Unlike cli.Run, which hands runtime errors to klog (that
// the demo silences without --verbose), it prints a failure itself: once,
// on stderr, as "archfit: SUBCOMMAND: cause".
func run(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetContext(ctx)
	root.SetErr(stderr)
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var wrapArgs func(*cobra.Command)
	wrapArgs = func(c *cobra.Command) {
		if check := c.Args; check != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if err := check(c, args); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			wrapArgs(sub)
		}
	}
	wrapArgs(root)

	err := cli.RunNoErrOutput(root)
	if err == nil {
		return 0
	}
	// The command that failed, for the message; cobra finds the same one.
	// Find fails only on an unknown command.
	failed, _, ferr := root.Find(args)
	if ferr != nil || failed == nil {
		failed, err = root, usageError{err}
	}
	name := strings.Join(strings.Fields(failed.CommandPath()), ": ")
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", failed.CommandPath())
		return exitUsage
	}
	return exitFailure
}

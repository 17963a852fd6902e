package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/archfit/archfit/internal/imageplatform"
)

type inspectOptions struct {
	output         string
	insecure       []string
	allowedPrivate []string
	timeout        time.Duration
	anonymous      bool
}

// inspectRow is the -o json shape; field names are a contract for scripts.
type inspectRow struct {
	Image     string   `json:"image"`
	Digest    string   `json:"digest,omitempty"`
	Platforms []string `json:"platforms"`
	Source    string   `json:"source"`
	Error     string   `json:"error,omitempty"`
}

func newInspectCommand() *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect IMAGE...",
		Short: "Print each image's digest and the platforms it is built for",
		Example: `  archfit inspect nginx:1.27 ghcr.io/org/app:v2
  archfit inspect --insecure-registry 127.0.0.1:5000 127.0.0.1:5000/team/app:1 -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "table" && o.output != "json" {
				return fmt.Errorf("--output %q: want table or json", o.output)
			}
			opts := []imageplatform.Option{
				imageplatform.WithInsecureRegistries(o.insecure...),
				imageplatform.WithAllowedPrivateRegistries(o.allowedPrivate...),
				imageplatform.WithRequestTimeout(o.timeout),
			}
			if !o.anonymous {
				// The CLI runs as its user, so the user's own docker login
				// is the right credential (unlike the scheduler).
				opts = append(opts, imageplatform.WithDefaultKeychain(authn.DefaultKeychain))
			}
			r, err := imageplatform.NewRegistryResolver(opts...)
			if err != nil {
				return err
			}
			failed := inspect(cmd.Context(), r, args, o.output, cmd.OutOrStdout())
			if failed > 0 {
				return fmt.Errorf("%d of %d images could not be inspected", failed, len(args))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry host:port reachable over plain HTTP (repeatable); also allows it on a loopback address")
	f.StringArrayVar(&o.allowedPrivate, "allow-private-registry", nil, "registry host[:port] allowed on a loopback or link-local address over TLS (repeatable)")
	f.DurationVar(&o.timeout, "timeout", 15*time.Second, "time limit for each image")
	f.BoolVar(&o.anonymous, "anonymous", false, "do not use the docker credentials of the current user")
	return cmd
}

// inspect resolves every image and prints them; it returns how many failed.
func inspect(ctx context.Context, r imageplatform.Resolver, images []string, output string, w io.Writer) int {
	rows := make([]inspectRow, 0, len(images))
	failed := 0
	for _, img := range images {
		res := r.Resolve(ctx, imageplatform.Request{Image: img})
		row := inspectRow{Image: img, Digest: res.Digest, Platforms: imageplatform.PlatformStrings(res.Platforms), Source: string(res.Source)}
		if res.Err != nil {
			row.Error = res.Err.Error()
			failed++
		}
		rows = append(rows, row)
	}
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return failed
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSOURCE\tPLATFORMS\tDIGEST")
	for _, row := range rows {
		plat := strings.Join(row.Platforms, ",")
		if row.Error != "" {
			plat = "error: " + row.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Image, row.Source, plat, shortDigest(row.Digest))
	}
	tw.Flush()
	return failed
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

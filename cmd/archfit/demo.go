package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/registrytest"
)

// sampleImages is the mix the field actually has: multi-arch, single-arch
// of each kind, Docker manifest lists, and BuildKit attestations.
var sampleImages = []struct {
	repoTag   string
	platforms []string
	docker    bool
	attest    bool
}{
	{"library/nginx:1.27", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, false, true},
	{"team/api:2.4", []string{"linux/amd64", "linux/arm64"}, true, false},
	{"legacy/billing:7", []string{"linux/amd64"}, false, false},
	{"edge/sensor:1", []string{"linux/arm64"}, false, false},
	{"ml/trainer:0.9", []string{"linux/amd64", "linux/arm64/v8"}, false, true},
}

func newDemoCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run archfit on an embedded default: an in-process registry with sample images",
		Long: `demo starts an OCI registry in this process on loopback, pushes a realistic
mix of multi-arch, amd64-only and arm64-only images (with attestation entries),
and resolves them exactly as the scheduler plugin and expander do. No network
or cluster is needed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := registrytest.New()
			defer reg.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Started an OCI registry at %s; pushing %d sample images...\n", reg.Host, len(sampleImages))
			var images []string
			for _, s := range sampleImages {
				var err error
				if len(s.platforms) == 1 {
					_, err = reg.PushImage(s.repoTag, s.platforms[0], s.docker)
				} else {
					_, err = reg.PushIndex(s.repoTag, s.platforms, s.docker, s.attest)
				}
				if err != nil {
					return fmt.Errorf("push %s: %w", s.repoTag, err)
				}
				images = append(images, reg.Host+"/"+s.repoTag)
			}
			r, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(reg.Host))
			if err != nil {
				return err
			}
			fmt.Fprintln(out, "Resolving platforms (HEAD for the digest, GET only for unseen digests):")
			if failed := inspect(cmd.Context(), r, images, output, out); failed > 0 {
				return fmt.Errorf("%d sample images failed to resolve", failed)
			}
			before := reg.Requests()
			inspect(cmd.Context(), r, images, "none", discard{})
			fmt.Fprintf(out, "Second pass over the same images: %d registry requests (cache).\n", reg.Requests()-before)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Command archfit-images builds archfit's multi-arch image (one OCI image
// index, linux/amd64 and linux/arm64, holding archfit, archfit-scheduler,
// archfit-expander and archfit-placement) without a Docker engine, and pushes it. It is what
// `make images` runs; see cmd/archfit-images/imagebuild.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/archfit/archfit/cmd/archfit-images/imagebuild"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "archfit-images:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("archfit-images", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: archfit-images --push REGISTRY/REPO:TAG [flags]

Cross-compiles archfit's four commands for each platform, assembles one OCI
image index on a distroless-style base (non-root 65532, CA certificates), and
pushes it. Registry credentials come from the Docker config (~/.docker/config.json).

Examples:
  archfit-images --push registry.example.com/platform/archfit:v0.1.0
  archfit-images --push 127.0.0.1:5000/archfit:dev --insecure
  archfit-images --oci-layout bin/archfit-oci
  archfit-images --push 127.0.0.1:5000/archfit:dev-k8s1.35 --module-dir cmd/archfit-scheduler/k8s1.35 \
    --packages github.com/archfit/archfit/cmd/archfit-scheduler

Flags:
`)
		fs.PrintDefaults()
	}
	push := fs.String("push", "", "image reference to push the index to")
	insecure := fs.Bool("insecure", false, "push over plain HTTP (a registry without TLS)")
	ociLayout := fs.String("oci-layout", "", "also write the index to this directory as an OCI image layout")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	ldflags := fs.String("ldflags", "", "extra linker flags (make images passes Kubernetes' version stamps)")
	packages := fs.String("packages", strings.Join(imagebuild.DefaultPackages(), ","),
		"comma-separated packages to build; the first is the entrypoint")
	moduleDir := fs.String("module-dir", "", "build in this Go module's directory (make images builds each older\n"+
		"Kubernetes minor's archfit-scheduler in cmd/archfit-scheduler/k8s<minor>)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *push == "" && *ociLayout == "" {
		fs.Usage()
		return errors.New("--push or --oci-layout is required")
	}
	var plats []v1.Platform
	for _, s := range strings.Split(*platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil || p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("--platforms: %q is not os/arch", s)
		}
		plats = append(plats, *p)
	}

	var pkgs []string
	for _, p := range strings.Split(*packages, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return errors.New("--packages: name at least one package")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	idx, err := imagebuild.Build(ctx, imagebuild.WithPlatforms(plats...), imagebuild.WithLDFlags(*ldflags),
		imagebuild.WithPackages(pkgs...), imagebuild.WithModuleDir(*moduleDir),
		imagebuild.WithLogf(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }))
	if err != nil {
		return err
	}
	if *ociLayout != "" {
		p, err := layout.Write(*ociLayout, idx)
		if err != nil {
			return fmt.Errorf("--oci-layout: %w", err)
		}
		fmt.Fprintf(os.Stderr, "wrote OCI layout %s\n", p)
	}
	if *push != "" {
		d, err := imagebuild.Push(ctx, idx, *push, *insecure)
		if err != nil {
			return err
		}
		fmt.Println(d.String())
	}
	return nil
}

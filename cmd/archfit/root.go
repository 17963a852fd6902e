package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "archfit",
		Short: "Place Kubernetes pods on the cheapest CPU architecture their images support",
		Long: `archfit reads which platforms a pod's container images are built for and
uses that to keep pods off nodes they cannot run on (exec format error) while
preferring cheaper architectures such as arm64.

This CLI inspects images, reports which workloads could move to a cheaper
architecture, and runs the embedded demo. The scheduler plugin, the
cluster-autoscaler expander and the placement webhook are the separate
archfit-scheduler, archfit-expander and archfit-placement binaries.`,
		SilenceUsage: true,
	}
	root.AddCommand(newInspectCommand(), newDemoCommand(), newReportCommand())
	return root
}

package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/archfit/archfit/cmd/archfit/report"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

func newReportCommand() *cobra.Command {
	var (
		kubeconfig, namespace, output, priceTable, mirror string
		rollbackRecords                                   string
		insecure                                          []string
		noPullSecrets                                     bool
		timeout                                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report which workloads of a cluster can move to arm64, and what it would save",
		Long: `report lists the cluster's Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs and bare Pods, resolves their images (with the pods' own pull
secrets), and for each workload says whether it is arm64-ready, which image
blocks it, what it requests, and its projected cost per month on the cheapest
architecture its images support (CPU requested × the cheapest price per vCPU
among the cluster's nodes of that arch, or the price table when the cluster
has none yet × 730 h), beside the same on amd64. Results roll up by namespace.
An unreachable registry is reported per image; the scan goes on.

For each Deployment and StatefulSet it also shows the migration to arm64:
the archfit.dev/arm64-target in force (the workload's, else its namespace's)
and whether it is paused, how many of its bound pods run on arm64, what
those save per month (their CPU requests × the cheapest amd64 minus the
cheapest arm64 price per vCPU × 730 h), what moving the rest would still
save when its images support arm64, and the rollback records from
--rollback-records that name it. The table lists only the workloads with a
target or a rollback, then every rollback record with the kubectl command
that clears it; -o json has all of it; -o csv leaves the migration view out.`,
		Example: `  archfit report --kubeconfig ~/.kube/config
  archfit report -n payments -o csv > payments.csv`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" && output != "csv" {
				return fmt.Errorf("--output %q: want table, json or csv", output)
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			table := cost.DefaultTable()
			if priceTable != "" {
				if table, err = cost.LoadTable(priceTable); err != nil {
					return fmt.Errorf("--price-table: %w", err)
				}
			}
			r, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(insecure...),
				imageplatform.WithDockerHubMirror(mirror), imageplatform.WithRequestTimeout(timeout),
				imageplatform.WithDefaultKeychain(authn.DefaultKeychain))
			if err != nil {
				return err
			}
			rep, err := report.Run(cmd.Context(), report.Options{Client: cs, Resolver: r, Prices: cost.New(table, nil, ""),
				Namespace: namespace, UsePullSecrets: !noPullSecrets, Progress: cmd.ErrOrStderr(), RollbackRecords: rollbackRecords})
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), rep, output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&namespace, "namespace", "n", "", "only this namespace (default: all)")
	f.StringVarP(&output, "output", "o", "table", "output format: table, json or csv")
	f.StringVar(&priceTable, "price-table", "", "instance-type price table (YAML); default: the shipped table")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry host:port reachable over plain HTTP (repeatable)")
	f.StringVar(&mirror, "docker-hub-mirror", "", "look Docker Hub images up in this registry instead")
	f.BoolVar(&noPullSecrets, "no-pull-secrets", false, "do not read pods' pull secrets")
	f.DurationVar(&timeout, "timeout", 15*time.Second, "time limit for each image")
	f.StringVar(&rollbackRecords, "rollback-records", report.DefaultRollbackRecords, "ConfigMap (namespace/name) of migration's rollback records; empty: do not read them")
	return cmd
}

func writeReport(w io.Writer, rep *report.Report, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"namespace", "kind", "name", "replicas", "cpu", "memoryGiB", "arm64Ready", "blockingImages", "imageErrors", "cheapestArch", "projectedMonthly", "amd64Monthly"})
		for _, r := range rep.Rows {
			cw.Write([]string{r.Namespace, r.Kind, r.Name, strconv.Itoa(r.Replicas), ff(r.CPU), ff(r.MemoryGiB), r.Arm64Ready,
				strings.Join(r.BlockingImages, " "), strings.Join(r.ImageErrors, " "), r.CheapestArch, ff(r.ProjectedMonthly), ff(r.AMD64Monthly)})
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAMESPACE\tKIND\tNAME\tREPLICAS\tCPU\tMEM(GiB)\tARM64-READY\tBLOCKED BY\tCHEAPEST\t%s/MONTH\tON AMD64\n", rep.Currency)
	for _, r := range rep.Rows {
		blocked := strings.Join(r.BlockingImages, ",")
		if len(r.ImageErrors) > 0 {
			blocked = strings.TrimPrefix(blocked+",unknown: "+strings.Join(r.ImageErrors, ","), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Kind, r.Name, r.Replicas, ff(r.CPU), ff(r.MemoryGiB),
			r.Arm64Ready, dash(blocked), dash(r.CheapestArch), ff(r.ProjectedMonthly), ff(r.AMD64Monthly))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAMESPACE\tWORKLOADS\tARM64-READY\tCPU\t%s/MONTH PROJECTED\tON AMD64\n", rep.Currency)
	for _, n := range rep.Namespaces {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", n.Namespace, n.Workloads, n.Arm64Ready, ff(n.CPU), ff(n.ProjectedMonthly), ff(n.AMD64Monthly))
	}
	tw.Flush()
	return rep.WriteMigrationTable(w)
}

func ff(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

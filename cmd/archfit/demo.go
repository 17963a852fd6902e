package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/cmd/archfit/demo"
)

func newDemoCommand() *cobra.Command {
	o := demo.Defaults()
	var output, mix string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run archfit end to end on an embedded default: no cluster, no network",
		Long: `demo starts, inside this process and on loopback only: embedded etcd and
kube-apiserver, the Deployment/ReplicaSet/Job controllers, kube-scheduler with
the shipped archfit-scheduler profile (plus a default-scheduler profile),
archfit-expander over gRPC + TLS, and an OCI registry holding a realistic mix
of images. It runs the same workload side by side: under the default
scheduler with cluster-autoscaler's least-waste expander, under the default
scheduler with single-arch pods pinned to their arch by hand and CA's
priority expander (arm64 first), and under archfit. It reports pods per arch,
pods placed on an arch their images lack (would-be exec format errors), pods
CA stranded, expansion options sized for pods that cannot run there, nodes
and cost per hour, and archfit's saving over the first run.

A last run, migration, starts another workload on amd64 and gives it an arm64
ramp over compressed time (seconds for days): archfit-placement's migration
controller moves its pods through the Eviction API, placement constrains
their replacements to arm64, one image that claims arm64 but dies there with
exec format error is rolled back, and cluster-autoscaler's scale-down removes
the amd64 nodes left underused. It reports cost before and after against the
cheapest safe placement, pods moved, ramp steps, rollbacks and nodes removed.

Cluster-autoscaler's loop is simulated as CA 1.36.1 runs it: pending pods that
its scheduling simulation fits on existing nodes get no scale-up, each node
group's option holds the pods its template node takes, the node count is a
binpacking estimate, and least-waste and priority are computed as CA does;
scale-down removes nodes under 50% utilization whose pods fit elsewhere,
empty ones together and others drained one at a time, with CA's minutes
compressed into one-second loops; it is not CA. Progress goes to stderr; the
report to stdout.`,
		Example: `  archfit demo
  archfit demo --size 60 --mix multi:50,amd64:40,arm64:10 -o json
  archfit demo --price-table my-prices.yaml --amd64-instance-type c6i.xlarge --arm64-instance-type c7g.xlarge`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			var err error
			if o.Mix, err = demo.ParseMix(mix); err != nil {
				return err
			}
			o.Progress = cmd.ErrOrStderr()
			if !verbose {
				// The embedded apiserver, scheduler and controllers log a
				// great deal at info level; progress lines say what matters.
				klog.SetLogger(logr.Discard())
			}
			rep, err := demo.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	f.IntVar(&o.Size, "size", o.Size, "pods in the workload")
	f.StringVar(&mix, "mix", "multi:70,amd64:20,arm64:10", "share of pods whose images are multi-arch, amd64-only and arm64-only, in percent")
	f.StringVar(&o.PriceTable, "price-table", "", "instance-type price table (YAML); default: the shipped table")
	f.StringVar(&o.AMD64Type, "amd64-instance-type", o.AMD64Type, "instance type of the amd64 node group")
	f.StringVar(&o.ARM64Type, "arm64-instance-type", o.ARM64Type, "instance type of the arm64 node group")
	f.IntVar(&o.InitialAMD64, "initial-amd64-nodes", o.InitialAMD64, "amd64 nodes before the workload arrives")
	f.IntVar(&o.InitialARM64, "initial-arm64-nodes", o.InitialARM64, "arm64 nodes before the workload arrives")
	f.StringSliceVar(&o.Runs, "runs", o.Runs, "runs to compare: default (default scheduler + least-waste), default-priority (default scheduler + priority, arm64 first), pinned-priority (the same, single-arch pods pinned to their arch by hand), archfit-unplaced (archfit-scheduler and archfit-expander, pods opted out of placement), archfit (all three parts), migration (a running workload moved to arm64 over compressed time, with a rollback and CA's scale-down)")
	f.BoolVar(&verbose, "verbose", false, "show the embedded components' logs")
	f.Int64Var(&o.Seed, "seed", o.Seed, "seed for cluster-autoscaler's random tie-breaking between equally wasteful groups")
	return cmd
}

func printReport(w io.Writer, r *demo.Report) {
	fmt.Fprintf(w, "\narchfit demo (%s)\n\n", r.Simulation)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RUN\tSCHEDULER\tEXPANDER\tPODS BY ARCH\tON AN ARCH THEIR IMAGES LACK\tPENDING\tSTRANDED\tMIS-SIZED OPTIONS\tNODES\tNODE-HOURS/DAY\t%s/HOUR\n", r.Currency)
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%.0f\t%.4f\n", run.Name, run.Scheduler, run.Expander, kv(run.PodsByArch), run.MisplacedPods, run.PendingPods, run.StrandedPods, run.MisSizedOptions, kv(run.NodesByGroup), run.NodeHours, run.CostPerHour)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSaving with archfit: %.2f%% of the default run's cost per hour.\n", r.SavingsPercent)
	for _, run := range r.Runs {
		if len(run.Misplaced) > 0 {
			fmt.Fprintf(w, "\nWould-be exec format errors in the %s run:\n", run.Name)
			for _, m := range run.Misplaced {
				fmt.Fprintf(w, "  %s on %s (%s); its images are built for %s\n", m.Pod, m.Node, m.NodePlatform, strings.Join(m.ImagePlatforms, ", "))
			}
		}
	}
	for _, run := range r.Runs {
		if len(run.Stranded) > 0 {
			fmt.Fprintf(w, "\nStranded in the %s run (pending, but CA's FilterOutSchedulable fit them on an existing node their scheduler refuses, so CA did not scale up for them):\n", run.Name)
			for _, s := range run.Stranded {
				end := "placed after a later scale-up"
				if s.PendingAtEnd {
					end = "still pending at the end"
				}
				fmt.Fprintf(w, "  %s fit %s (%s) in CA's simulation; its images are built for %s; %s\n", s.Pod, s.Node, s.NodePlatform, strings.Join(s.ImagePlatforms, ", "), end)
			}
		}
	}
	if len(r.ScaleUps) > 0 {
		fmt.Fprintln(w, "\nSimulated cluster-autoscaler loops (OPTIONS: pods in each node group's option → the nodes CA estimated for them):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tLOOP\tPENDING\tAMD64-ONLY\tFIT EXISTING NODES\tOPTIONS\tCHOSEN\tNODES\tLEAST-WASTE\tPRIORITY (arm64 first)\tWHY")
		loops := map[string]int{}
		for _, u := range r.ScaleUps {
			loops[u.Run]++
			chosen := u.Chosen
			switch {
			case chosen != "":
			case len(u.Options) == 0:
				chosen = "(no scale-up)"
			default:
				chosen = "(vetoed)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", u.Run, loops[u.Run], len(u.Pods), len(u.AMD64OnlyPods), len(u.FitsExisting), options(u), chosen, u.NodeCount, dash(u.LeastWaste), dash(u.Priority), u.Why)
		}
		tw.Flush()
		loops = map[string]int{}
		header := false
		for _, u := range r.ScaleUps {
			loops[u.Run]++
			for _, o := range u.ExpansionOptions {
				if len(o.WrongArchPods) == 0 {
					continue
				}
				if !header {
					fmt.Fprintln(w, "\nMis-sized options (CA counted pods into a group whose arch their images lack, and sized the group for them):")
					header = true
				}
				fmt.Fprintf(w, "  %s loop %d: %s held %d pod(s), of which %s lack %s\n", u.Run, loops[u.Run], o.NodeGroup, len(o.Pods), strings.Join(o.WrongArchPods, ", "), o.Arch)
			}
		}
	}
	if r.Migration != nil {
		printMigration(w, r.Migration, r.Currency)
	}
	fmt.Fprintf(w, "\nRandom tie-breaks seeded with %d; took %.1fs.\n", r.Seed, r.DurationSec)
}

func printMigration(w io.Writer, m *demo.MigrationReport, currency string) {
	state := fmt.Sprintf("settled in %.1fs", m.DurationSec)
	if !m.Settled {
		state = fmt.Sprintf("NOT settled at the time bound, %.1fs", m.DurationSec)
	}
	fmt.Fprintf(w, "\nMigration run (namespace %s): archfit.dev/arm64-target %q on every Deployment, its seconds standing for days; %s:\n", m.Namespace, m.Ramp, state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYMENT\tIMAGE\tINDEX LISTS\tRUNS ON\tREPLICAS\tSTEP\tPODS BY ARCH BEFORE\tAFTER\tRUNNING\tMOVED\tPAUSED")
	for _, x := range m.Workloads {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d (%d%%)\t%s\t%s\t%d\t%d\t%s\n", x.Name, x.Image, strings.Join(x.ClaimedPlatforms, ","), strings.Join(x.RunsOn, ","),
			x.Replicas, x.Step, x.Steps, x.Percent, kv(x.PodsByArchBefore), kv(x.PodsByArchAfter), x.Running, x.Moved, dash(x.Paused))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\tNODES\tPODS BY ARCH\t%s/HOUR\n", currency)
	fmt.Fprintf(tw, "before\t%s\t%s\t%.4f\n", kv(m.NodesByGroupBefore), kv(m.PodsByArchBefore), m.CostPerHourBefore)
	fmt.Fprintf(tw, "after\t%s\t%s\t%.4f\n", kv(m.NodesByGroupAfter), kv(m.PodsByArchAfter), m.CostPerHourAfter)
	fmt.Fprintf(tw, "cheapest safe\t%s\t%s\t%.4f\n", kv(m.CheapestSafe.NodesByGroup), kv(m.CheapestSafe.PodsByArch), m.CheapestSafe.CostPerHour)
	tw.Flush()
	fmt.Fprintf(w, "\nSaving: %.2f%% of the cost per hour before; the steady state costs %.2f%% above the cheapest safe placement (the cheapest way to put each workload on an arch its binaries run on, packed by CA's estimate).\n",
		m.SavingPercent, m.AboveCheapestPercent)
	fmt.Fprintf(w, "Pods moved by the migration controller: %d (%d ArchFitMoved Events); ramp step Events (each ramp's start and each step up): %d; pods pending at the end: %d.\n", m.PodsMoved, m.MovedEvents, m.RampSteps, m.PendingPods)
	if len(m.Rollbacks) > 0 {
		fmt.Fprintln(w, "Rollbacks (ConfigMap archfit/archfit-rollbacks):")
		for _, r := range m.Rollbacks {
			end := "its workload is not this run's"
			for _, x := range m.Workloads {
				if strings.HasSuffix(r.Workload, "/"+x.Name) {
					end = fmt.Sprintf("%s ended with %d pods on %s, %d of %d Running", x.Name, x.PodsByArchAfter[r.Arch], r.Arch, x.Running, x.Replicas)
				}
			}
			fmt.Fprintf(w, "  %s (%s) does not run on %s: %s, found in %s; %s\n", r.Image, r.Digest, r.Arch, r.Reason, r.Workload, end)
		}
	}
	var empty, drained []string
	for _, n := range m.ScaledDown {
		if n.Drained {
			drained = append(drained, fmt.Sprintf("%s: %d pods, %.0f%% utilized", n.Node, n.Pods, n.Utilization))
			continue
		}
		empty = append(empty, n.Node)
	}
	fmt.Fprintf(w, "Scaled down by CA's simulation: %d empty%s, %d drained%s", len(empty), list(empty), len(drained), list(drained))
	if m.ScaleDownFailures > 0 {
		fmt.Fprintf(w, "; %d drains given up", m.ScaleDownFailures)
	}
	fmt.Fprintln(w, ".")
}

func list(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + strings.Join(items, ", ") + ")"
}

// options is a loop's expansion options: group, pods, nodes, and how many
// of the pods cannot run on the group's arch.
func options(u demo.ScaleUp) string {
	if len(u.ExpansionOptions) == 0 {
		return "-"
	}
	var parts []string
	for _, o := range u.ExpansionOptions {
		s := fmt.Sprintf("%s %d→%d", o.NodeGroup, len(o.Pods), o.NodeCount)
		if n := len(o.WrongArchPods); n > 0 {
			s += fmt.Sprintf(" (%d lack %s)", n, o.Arch)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func kv(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

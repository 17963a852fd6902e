package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/archfit/archfit/internal/migration"
)

// TestDemoInvariants runs the whole demo (real control plane, scheduler,
// expander over TLS, registry) at its default size and checks what the
// demo claims, from the numbers it computed.
func TestDemoInvariants(t *testing.T) {
	o := Defaults()
	var progress bytes.Buffer
	o.Progress = &progress
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	t.Logf("progress:\n%s", progress.String())
	if len(rep.Runs) != 4 || rep.Runs[0].Name != "default" || rep.Runs[1].Name != "pinned-priority" || rep.Runs[2].Name != "archfit-unplaced" || rep.Runs[3].Name != "archfit" {
		t.Fatalf("runs = %+v", rep.Runs)
	}
	def, pinned, af := rep.Runs[0], rep.Runs[1], rep.Runs[3]
	for _, r := range rep.Runs {
		placed := 0
		for _, n := range r.PodsByArch {
			placed += n
		}
		if placed+r.PendingPods != o.Size {
			t.Errorf("%s run accounts for %d+%d pods, want %d", r.Name, placed, r.PendingPods, o.Size)
		}
	}
	if af.MisplacedPods != 0 {
		t.Errorf("archfit run placed %d pods on an arch their images lack: %+v", af.MisplacedPods, af.Misplaced)
	}
	// With placement, CA's own simulation sees every pod's platforms: it
	// strands nothing and offers no group a pod cannot run on.
	if af.StrandedPods != 0 || af.MisSizedOptions != 0 {
		t.Errorf("archfit run: %d stranded, %d mis-sized options; want none: %+v", af.StrandedPods, af.MisSizedOptions, af.Stranded)
	}
	amdOnArm := 0
	for _, m := range def.Misplaced {
		if m.NodePlatform == "linux/arm64" && slices.Equal(m.ImagePlatforms, []string{"linux/amd64"}) {
			amdOnArm++
		}
	}
	if amdOnArm == 0 {
		t.Errorf("default run: no amd64-only pod landed on arm64; misplaced: %+v", def.Misplaced)
	}
	// Not asserted: the saving. The default run's cost depends on the order
	// in which its pods and scale-ups happen, which varies run to run (one
	// clean-clone run in four here came out 3% below archfit's, its
	// misplaced pods sitting on cheaper arm64 nodes where they would crash).
	// The guarantees above are what holds every time.
	t.Logf("archfit %.4f/h, default %.4f/h (saving %.2f%%)", af.CostPerHour, def.CostPerHour, rep.SavingsPercent)
	archfitUps := 0
	for _, u := range rep.ScaleUps {
		if u.Run != "archfit" {
			continue
		}
		archfitUps++
	}
	for _, u := range rep.ScaleUps {
		if (u.Run == "archfit" || u.Run == "migration") && u.Chosen != "" && !slices.Contains(u.Expander, u.Chosen) {
			t.Errorf("%s run grew %s, which the expander did not return (%v)", u.Run, u.Chosen, u.Expander)
		}
	}
	if archfitUps == 0 {
		t.Error("the archfit run never scaled up: the demo shows no expander decision")
	}
	if !strings.Contains(progress.String(), "[simulated CA]") {
		t.Error("progress does not label the autoscaler simulation")
	}

	// Hand-written arch affinity is what CA's simulation can see: no pod
	// on a wrong arch, no option counting a pod its group cannot run.
	if pinned.MisplacedPods != 0 || pinned.MisSizedOptions != 0 {
		t.Errorf("pinned-priority run: %d misplaced pods, %d mis-sized options: %+v", pinned.MisplacedPods, pinned.MisSizedOptions, pinned.Misplaced)
	}
	for _, u := range rep.ScaleUps {
		checkOptions(t, u)
		// Without affinity both templates take every remaining pod, so
		// the two groups' options hold the same pods, whatever images
		// they run: CA cannot tell.
		if u.Run == "default" && len(u.ExpansionOptions) == 2 {
			a, b := slices.Clone(u.ExpansionOptions[0].Pods), slices.Clone(u.ExpansionOptions[1].Pods)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Errorf("default run: options hold different pods without any affinity: %+v", u.ExpansionOptions)
			}
		}
	}

	checkMigration(t, rep.Migration)

	// The -o json contract.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Name          string         `json:"name"`
			PodsByArch    map[string]int `json:"podsByArch"`
			MisplacedPods *int           `json:"misplacedPods"`
			CostPerHour   *float64       `json:"costPerHour"`
		} `json:"runs"`
		SavingsPercent *float64 `json:"savingsPercent"`
		ScaleUps       []struct {
			Pods       []string `json:"pods"`
			Chosen     *string  `json:"chosen"`
			LeastWaste *string  `json:"leastWaste"`
		} `json:"scaleUps"`
		Migration *struct {
			CostPerHourBefore *float64 `json:"costPerHourBefore"`
			CostPerHourAfter  *float64 `json:"costPerHourAfter"`
			CheapestSafe      struct {
				CostPerHour *float64 `json:"costPerHour"`
			} `json:"cheapestSafe"`
			PodsMoved *int `json:"podsMoved"`
			Rollbacks []struct {
				Digest   string `json:"digest"`
				Image    string `json:"image"`
				Arch     string `json:"arch"`
				Reason   string `json:"reason"`
				Workload string `json:"workload"`
			} `json:"rollbacks"`
			ScaledDown []struct {
				Node    string `json:"node"`
				Drained *bool  `json:"drained"`
			} `json:"scaledDown"`
		} `json:"migration"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// Every contract field is present, under its name, with the value the
	// report holds: a renamed or dropped tag breaks scripts that read -o json.
	if len(doc.Runs) != len(rep.Runs) || doc.SavingsPercent == nil || *doc.SavingsPercent != rep.SavingsPercent {
		t.Fatalf("runs/savingsPercent differ from the report: %s", b)
	}
	for i, r := range rep.Runs {
		d := doc.Runs[i]
		if d.Name != r.Name || !maps.Equal(d.PodsByArch, r.PodsByArch) || d.MisplacedPods == nil || *d.MisplacedPods != r.MisplacedPods ||
			d.CostPerHour == nil || *d.CostPerHour != r.CostPerHour {
			t.Errorf("run %d in JSON %+v, want the report's %s %v %d %v", i, d, r.Name, r.PodsByArch, r.MisplacedPods, r.CostPerHour)
		}
	}
	if len(doc.ScaleUps) != len(rep.ScaleUps) {
		t.Fatalf("%d scaleUps in JSON, %d in the report", len(doc.ScaleUps), len(rep.ScaleUps))
	}
	for i, u := range rep.ScaleUps {
		d := doc.ScaleUps[i]
		if !slices.Equal(d.Pods, u.Pods) || d.Chosen == nil || *d.Chosen != u.Chosen || d.LeastWaste == nil || *d.LeastWaste != u.LeastWaste {
			t.Errorf("scaleUps[%d] in JSON %+v, want the report's %v %q %q", i, d, u.Pods, u.Chosen, u.LeastWaste)
		}
	}
	if m, d := rep.Migration, doc.Migration; d == nil || d.CostPerHourBefore == nil || *d.CostPerHourBefore != m.CostPerHourBefore ||
		d.CostPerHourAfter == nil || *d.CostPerHourAfter != m.CostPerHourAfter || d.CheapestSafe.CostPerHour == nil || *d.CheapestSafe.CostPerHour != m.CheapestSafe.CostPerHour ||
		d.PodsMoved == nil || *d.PodsMoved != m.PodsMoved || len(d.Rollbacks) != len(m.Rollbacks) || len(d.ScaledDown) != len(m.ScaledDown) {
		t.Errorf("migration in JSON differs from the report: %s", b)
	} else {
		for i, r := range m.Rollbacks {
			if x := d.Rollbacks[i]; x.Digest != r.Digest || x.Image != r.Image || x.Arch != r.Arch || x.Reason != r.Reason || x.Workload != r.Workload {
				t.Errorf("rollbacks[%d] in JSON %+v, want %+v", i, x, r)
			}
		}
		for i, n := range m.ScaledDown {
			if x := d.ScaledDown[i]; x.Node != n.Node || x.Drained == nil || *x.Drained != n.Drained {
				t.Errorf("scaledDown[%d] in JSON %+v, want %+v", i, x, n)
			}
		}
	}
}

// checkMigration checks what the migration run claims: the workloads that
// run on arm64 end at their final share, the one whose image lies about
// arm64 is rolled back (one record, no pod left there, all Running,
// paused), amd64 nodes are scaled down and the cost falls.
func checkMigration(t *testing.T, m *MigrationReport) {
	t.Helper()
	if m == nil {
		t.Fatal("no migration report")
	}
	if !m.Settled || m.PendingPods != 0 {
		t.Errorf("migration run not settled (%v) or %d pods pending", m.Settled, m.PendingPods)
	}
	var liars []MigrationWorkload
	for _, w := range m.Workloads {
		lies := slices.Contains(w.ClaimedPlatforms, "linux/arm64") && !slices.Contains(w.RunsOn, "arm64")
		placed := 0
		for _, n := range w.PodsByArchAfter {
			placed += n
		}
		if placed != w.Replicas || w.Running != w.Replicas || w.OnFailingArch != 0 {
			t.Errorf("%s: %d of %d replicas placed, %d Running, %d on an arch its binaries do not run on", w.Name, placed, w.Replicas, w.Running, w.OnFailingArch)
		}
		if lies {
			liars = append(liars, w)
			continue
		}
		arm := w.PodsByArchAfter["arm64"]
		if w.Paused != "" || w.Step != w.Steps || migration.Below(arm, w.Replicas, w.FinalPercent) || !w.Reached {
			t.Errorf("%s: step %d of %d, %d of %d on arm64, paused %q; want the final step, at its final %d%%", w.Name, w.Step, w.Steps, arm, w.Replicas, w.Paused, w.FinalPercent)
		}
		if w.FinalPercent == 100 && arm != w.Replicas {
			t.Errorf("%s: %v at a 100%% target", w.Name, w.PodsByArchAfter)
		}
	}
	if len(liars) != 1 {
		t.Fatalf("want one workload whose image claims arm64 wrongly, got %+v", liars)
	}
	liar := liars[0]
	if liar.PodsByArchAfter["arm64"] != 0 || liar.Paused == "" || liar.Running != liar.Replicas {
		t.Errorf("%s: %v, %d of %d Running, paused %q; want none on arm64, all Running, paused", liar.Name, liar.PodsByArchAfter, liar.Running, liar.Replicas, liar.Paused)
	}
	var recs []MigrationRollback
	for _, r := range m.Rollbacks {
		if r.Image == liar.Image {
			recs = append(recs, r)
		}
	}
	if len(recs) != 1 || recs[0].Arch != "arm64" || recs[0].Reason != migration.ReasonExecFormatError || !strings.HasSuffix(recs[0].Workload, "/"+liar.Name) ||
		!recs[0].WorkloadOffArch || !recs[0].WorkloadRunning {
		t.Errorf("rollback records for %s: %+v; want exactly one, arm64, %s", liar.Image, recs, migration.ReasonExecFormatError)
	}
	amd64Down := false
	for _, n := range m.ScaledDown {
		amd64Down = amd64Down || n.Group == "ng-amd64"
	}
	if !amd64Down {
		t.Errorf("no amd64 node scaled down: %+v", m.ScaledDown)
	}
	if !(m.CostPerHourAfter < m.CostPerHourBefore) {
		t.Errorf("cost per hour %.4f after, %.4f before", m.CostPerHourAfter, m.CostPerHourBefore)
	}
	// The move metric counts the controller's moves in every namespace,
	// the Events those in the run's: equal, nothing moved in the other
	// runs' namespaces.
	moved := 0
	for _, w := range m.Workloads {
		moved += w.Moved
	}
	if m.PodsMoved == 0 || m.PodsMoved != m.MovedEvents || moved != m.MovedEvents {
		t.Errorf("pods moved: metric %d, %d ArchFitMoved Events, %d over the workloads; want equal and above 0", m.PodsMoved, m.MovedEvents, moved)
	}
	t.Logf("migration: %.4f → %.4f per hour (cheapest safe %.4f), %d moved, %d ramp steps, scaled down %+v",
		m.CostPerHourBefore, m.CostPerHourAfter, m.CheapestSafe.CostPerHour, m.PodsMoved, m.RampSteps, m.ScaledDown)
}

// checkOptions checks what every simulated CA loop must hold: the options
// carry the pods left after FilterOutSchedulable and nothing else, each
// offered option has pods and nodes, and the chosen group got the node
// count of its own option.
func checkOptions(t *testing.T, u ScaleUp) {
	t.Helper()
	fit := map[string]bool{}
	for _, m := range u.FitsExisting {
		fit[m.Pod] = true
	}
	var ids []string
	for _, o := range u.ExpansionOptions {
		ids = append(ids, o.NodeGroup)
		if len(o.Pods) == 0 || o.NodeCount == 0 {
			t.Errorf("%s run: option %s offered with %d pods on %d nodes", u.Run, o.NodeGroup, len(o.Pods), o.NodeCount)
		}
		for _, p := range o.Pods {
			if fit[p] || !slices.Contains(u.Pods, p) {
				t.Errorf("%s run: option %s holds %s, which is not a pending pod CA left for a scale-up", u.Run, o.NodeGroup, p)
			}
		}
		if o.NodeGroup == u.Chosen && o.NodeCount != u.NodeCount {
			t.Errorf("%s run: grew %s by %d, its option says %d", u.Run, u.Chosen, u.NodeCount, o.NodeCount)
		}
		if o.NodeGroup == u.Chosen && (u.Run == "archfit" || u.Run == "migration") && len(o.WrongArchPods) > 0 {
			t.Errorf("archfit run: the expander chose %s, whose option holds pods that cannot run there: %v", o.NodeGroup, o.WrongArchPods)
		}
	}
	if !slices.Equal(ids, u.Options) {
		t.Errorf("%s run: options %v, expansion options %v", u.Run, u.Options, ids)
	}
	if u.Chosen != "" && !slices.Contains(u.Options, u.Chosen) {
		t.Errorf("%s run: grew %s, which CA did not offer (%v)", u.Run, u.Chosen, u.Options)
	}
}

// TestDemoStrandsAndMisSizes runs a scenario whose CA loops are forced,
// whatever order the scheduler binds pods in: one arm64 node, no amd64
// node, nine pods (web, api, 2 amd64-only billing, 3 arm64-only sensor-gw,
// then a train Job pod and an amd64-only reports Job pod).
//
//   - default: everything fits the arm64 node until reports, which CA then
//     counts into the arm64 option too: a mis-sized option.
//   - pinned-priority: billing is pinned to amd64, so only the amd64 group
//     is offered for it; nothing is mis-sized or stranded.
//   - archfit-unplaced (archfit before placement): archfit-scheduler keeps
//     billing off the arm64 node, which has room, so CA's
//     FilterOutSchedulable fits billing there and does not scale up:
//     billing is stranded until reports, which no longer fits, makes CA
//     grow the amd64 group.
//   - archfit: placement wrote billing's amd64 affinity, so CA's own
//     simulation keeps it off the arm64 node: nothing is stranded, and the
//     first loop offers the amd64 group alone for billing.
func TestDemoStrandsAndMisSizes(t *testing.T) {
	o := Defaults()
	o.Size, o.Mix = 9, Mix{Multi: 34, AMD64: 33, ARM64: 33}
	o.InitialAMD64, o.InitialARM64 = 0, 1
	o.Runs = []string{"default", "pinned-priority", "archfit-unplaced", "archfit"}
	var progress bytes.Buffer
	o.Progress = &progress
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	t.Logf("progress:\n%s", progress.String())
	runs := map[string]RunReport{}
	for _, r := range rep.Runs {
		runs[r.Name] = r
	}
	loops := map[string][]ScaleUp{}
	for _, u := range rep.ScaleUps {
		checkOptions(t, u)
		loops[u.Run] = append(loops[u.Run], u)
	}

	misSized := false
	for _, u := range loops["default"] {
		for _, eo := range u.ExpansionOptions {
			if eo.NodeGroup == "ng-arm64" && len(eo.WrongArchPods) == 1 && strings.HasPrefix(eo.WrongArchPods[0], "reports-") {
				misSized = true
			}
		}
	}
	if !misSized || runs["default"].MisSizedOptions == 0 {
		t.Errorf("default run: no arm64 option sized for the amd64-only reports pod (%d mis-sized): %+v", runs["default"].MisSizedOptions, loops["default"])
	}

	p := runs["pinned-priority"]
	if p.StrandedPods != 0 || p.MisSizedOptions != 0 || p.MisplacedPods != 0 || p.PendingPods != 0 {
		t.Errorf("pinned-priority run: %d stranded, %d mis-sized options, %d misplaced, %d pending; want none", p.StrandedPods, p.MisSizedOptions, p.MisplacedPods, p.PendingPods)
	}
	amd64Alone := false
	for _, u := range loops["pinned-priority"] {
		amd64Alone = amd64Alone || (slices.Equal(u.Options, []string{"ng-amd64"}) && u.Chosen == "ng-amd64")
	}
	if !amd64Alone {
		t.Errorf("pinned-priority run: no loop offered the amd64 group alone for the pinned billing pods: %+v", loops["pinned-priority"])
	}

	a := runs["archfit-unplaced"]
	var billing []string
	for _, s := range a.Stranded {
		if strings.HasPrefix(s.Pod, "billing-") && s.NodePlatform == "linux/arm64" && slices.Equal(s.ImagePlatforms, []string{"linux/amd64"}) {
			billing = append(billing, s.Pod)
		}
	}
	if len(billing) != 2 || a.StrandedPods != 2 {
		t.Errorf("archfit-unplaced run: stranded %+v; want the 2 billing pods, on the arm64 node in CA's simulation", a.Stranded)
	}
	if l := loops["archfit-unplaced"]; len(l) < 2 || len(l[0].FitsExisting) != 2 || l[0].Chosen != "" || len(l[0].Options) != 0 {
		t.Errorf("archfit-unplaced run: first CA loop should fit both billing pods on the arm64 node and grow nothing: %+v", l)
	} else if u := l[1]; u.Chosen != "ng-amd64" || len(u.FitsExisting) != 2 || len(u.ExpansionOptions) != 2 ||
		len(u.ExpansionOptions[1].Pods) != 1 || !strings.HasPrefix(u.ExpansionOptions[1].Pods[0], "reports-") {
		t.Errorf("archfit-unplaced run: second CA loop should offer only the reports pod and grow ng-amd64: %+v", u)
	}

	a = runs["archfit"]
	if a.StrandedPods != 0 || a.MisSizedOptions != 0 || a.PendingPods != 0 || a.MisplacedPods != 0 {
		t.Errorf("archfit run: %d stranded, %d mis-sized options, %d pending, %d misplaced; want none: %+v", a.StrandedPods, a.MisSizedOptions, a.PendingPods, a.MisplacedPods, a.Stranded)
	}
	if l := loops["archfit"]; len(l) == 0 || len(l[0].FitsExisting) != 0 || !slices.Equal(l[0].Options, []string{"ng-amd64"}) || l[0].Chosen != "ng-amd64" ||
		len(l[0].ExpansionOptions[0].Pods) != 2 || !strings.HasPrefix(l[0].ExpansionOptions[0].Pods[0], "billing-") {
		t.Errorf("archfit run: the first CA loop should offer ng-amd64 alone for both billing pods and grow it: %+v", l)
	}
}

func TestParseMix(t *testing.T) {
	if m, err := ParseMix("multi:50, amd64:40,arm64:10"); err != nil || m != (Mix{50, 40, 10}) {
		t.Fatalf("got %+v %v", m, err)
	}
	for _, bad := range []string{"multi:50", "multi:50,amd64:60", "x86:100", "multi:-1,amd64:101", "multi"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPlanUsesEveryPod(t *testing.T) {
	for _, mix := range []Mix{{70, 20, 10}, {50, 25, 25}, {0, 50, 50}, {100, 0, 0}} {
		for size := 3; size <= 200; size++ {
			n := 0
			for _, w := range plan(size, mix) {
				n += w.replicas
			}
			if n != size {
				t.Errorf("mix %+v size %d: plan has %d pods", mix, size, n)
			}
		}
	}
}

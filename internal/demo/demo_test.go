package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
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
	if len(rep.Runs) != 2 || rep.Runs[0].Name != "default" || rep.Runs[1].Name != "archfit" {
		t.Fatalf("runs = %+v", rep.Runs)
	}
	def, af := rep.Runs[0], rep.Runs[1]
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
		if len(u.AMD64OnlyPods) > 0 && u.ChosenArch == "arm64" {
			t.Errorf("the expander chose arm64 for amd64-only pods %v", u.AMD64OnlyPods)
		}
		if u.Chosen != "" && !slices.Contains(u.Expander, u.Chosen) {
			t.Errorf("archfit run grew %s, which the expander did not return (%v)", u.Chosen, u.Expander)
		}
	}
	if archfitUps == 0 {
		t.Error("the archfit run never scaled up: the demo shows no expander decision")
	}
	if !strings.Contains(progress.String(), "[simulated CA]") {
		t.Error("progress does not label the autoscaler simulation")
	}

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
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 2 || doc.Runs[0].PodsByArch == nil || doc.Runs[0].MisplacedPods == nil || doc.Runs[1].CostPerHour == nil || doc.SavingsPercent == nil {
		t.Errorf("JSON lacks contract fields: %s", b)
	}
	for _, u := range doc.ScaleUps {
		if len(u.Pods) == 0 || u.Chosen == nil || u.LeastWaste == nil {
			t.Errorf("scaleUps entry lacks contract fields: %s", b)
			break
		}
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

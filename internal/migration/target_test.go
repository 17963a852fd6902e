package migration

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want Target
	}{
		{"20%", Target{Steps: []Step{{Percent: 20}}}},
		{" 0 % ", Target{Steps: []Step{{Percent: 0}}}},
		{"100%", Target{Steps: []Step{{Percent: 100}}}},
		{"20%, 50% after 7d, 100% after 14d", Target{Steps: []Step{{Percent: 20}, {Percent: 50, After: 7 * day}, {Percent: 100, After: 14 * day}}}},
		{"10%,30% after 12h,60% after 1.5d", Target{Steps: []Step{{Percent: 10}, {Percent: 30, After: 12 * time.Hour}, {Percent: 60, After: 36 * time.Hour}}}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ParseTarget(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// Every malformed target is refused with an error naming the step and
// what was wanted, never taken for some other share.
func TestParseTargetErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `step 1 "": want a share such as 20%`},
		{"20", `step 1 "20": want a share such as 20%`},
		{"twenty%", `step 1 "twenty%": the share must be a whole percent from 0 to 100`},
		{"12.5%", `step 1 "12.5%": the share must be a whole percent from 0 to 100`},
		{"-5%", `step 1 "-5%": the share must be a whole percent from 0 to 100`},
		{"120%", `step 1 "120%": the share must be a whole percent from 0 to 100`},
		{"50%, 20% after 1d", `step 2 "20% after 1d": shares must rise from step to step`},
		{"50%, 50% after 1d", `step 2 "50% after 1d": shares must rise from step to step`},
		{"20% after 1d", `step 1 "20% after 1d": the first step starts at once; write it without "after"`},
		{"20%, 50%", `step 2 "50%": want "<share> after <duration>"`},
		{"20%, 50% after soon", `step 2 "50% after soon": want a positive duration such as 7d or 12h`},
		{"20%, 50% after -1d", `step 2 "50% after -1d": want a positive duration such as 7d or 12h`},
		{"20%, 50% after 0s", `step 2 "50% after 0s": want a positive duration such as 7d or 12h`},
		{"20%,", `step 2 "": want a share such as 20%`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if err == nil {
				t.Fatalf("ParseTarget(%q) = %+v, want an error", tc.in, got)
			}
			if err.Error() != tc.want {
				t.Fatalf("ParseTarget(%q) error\n got %q\nwant %q", tc.in, err, tc.want)
			}
			if len(got.Steps) != 0 {
				t.Fatalf("ParseTarget(%q) returned steps %+v with its error", tc.in, got.Steps)
			}
		})
	}
}

func TestTargetString(t *testing.T) {
	for _, in := range []string{"20%", "20%, 50% after 7d, 100% after 12h0m0s"} {
		tg, err := ParseTarget(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.String(); got != in {
			t.Errorf("String() = %q, want %q", got, in)
		}
		back, err := ParseTarget(tg.String())
		if err != nil || !cmp.Equal(back, tg) {
			t.Errorf("%q does not parse back: %+v, %v", tg.String(), back, err)
		}
	}
}

func TestParseStep(t *testing.T) {
	since := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]StepState{
		"1 2026-11-27T10:00:00Z 20%, 50% after 7d": {Index: 1, Since: since, Of: "20%, 50% after 7d"},
		"1 2026-11-27T10:00:00Z":                   {Index: 1, Since: since},
		"2":                                        {Index: 2},
		"":                                         {},
		"x 2026-11-27T10:00:00Z":                   {},
		"-1 2026-11-27T10:00:00Z":                  {},
	} {
		if got := ParseStep(in); got.Index != want.Index || !got.Since.Equal(want.Since) || got.Of != want.Of {
			t.Errorf("ParseStep(%q) = %+v, want %+v", in, got, want)
		}
	}
	if got := (StepState{Index: 1, Since: since}).String(); got != "1 2026-11-27T10:00:00Z" {
		t.Errorf("String() = %q", got)
	}
	st := StepState{Index: 1, Since: since, Of: "20%, 50% after 7d"}
	if got := ParseStep(st.String()); got != st {
		t.Errorf("round trip: %+v, want %+v", got, st)
	}
	// A step recorded for another target is no step of this one: a changed
	// target starts its ramp again.
	ramp, _ := ParseTarget("20%, 50% after 7d")
	if got := ramp.StepOf(st.String()); got != st {
		t.Errorf("StepOf(own step) = %+v", got)
	}
	other, _ := ParseTarget("30%, 50% after 7d")
	if got := other.StepOf(st.String()); got != (StepState{}) {
		t.Errorf("StepOf(another target's step) = %+v, want step 0 not started", got)
	}
	if next, due := other.Due(st, since.Add(time.Minute)); !due || next.Index != 0 || next.Of != other.String() {
		t.Errorf("Due after a target change = %+v %v, want step 0 of the new target, now", next, due)
	}
}

func TestTargetPercent(t *testing.T) {
	tg, err := ParseTarget("20%, 50% after 7d, 100% after 7d")
	if err != nil {
		t.Fatal(err)
	}
	for idx, want := range map[int]int{0: 20, 1: 50, 2: 100, 7: 100} {
		if got := tg.Percent(StepState{Index: idx}); got != want {
			t.Errorf("Percent(step %d) = %d, want %d", idx, got, want)
		}
	}
	if got := (Target{}).Percent(StepState{}); got != 0 {
		t.Errorf("no steps: Percent = %d, want 0", got)
	}
	w := Workload{Target: tg, Step: StepState{Index: 1}}
	if got := w.Percent(); got != 0 {
		t.Errorf("a workload without HasTarget: Percent = %d, want 0", got)
	}
	w.HasTarget = true
	if got := w.Percent(); got != 50 {
		t.Errorf("a workload at step 1: Percent = %d, want 50", got)
	}
}

func TestTargetDue(t *testing.T) {
	tg, err := ParseTarget("20%, 50% after 7d, 100% after 7d")
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

	// No start time yet: the current step starts now.
	got, ok := tg.Due(StepState{}, start)
	if !ok || got.Index != 0 || !got.Since.Equal(start) {
		t.Fatalf("unstarted: Due = %+v, %v; want step 0 since now", got, ok)
	}
	at0 := StepState{Index: 0, Since: start, Of: tg.String()}
	if got, ok := tg.Due(at0, start.Add(7*day-time.Second)); ok || got != at0 {
		t.Fatalf("a second early: Due = %+v, %v; want no change", got, ok)
	}
	now := start.Add(7 * day)
	got, ok = tg.Due(at0, now)
	if !ok || got.Index != 1 || !got.Since.Equal(now) {
		t.Fatalf("on time: Due = %+v, %v; want step 1 since now", got, ok)
	}
	// A month late still advances one step: the next starts its own wait.
	got, ok = tg.Due(at0, start.Add(30*day))
	if !ok || got.Index != 1 {
		t.Fatalf("late: Due = %+v, %v; want step 1 only", got, ok)
	}
	last := StepState{Index: 2, Since: start, Of: tg.String()}
	if got, ok := tg.Due(last, start.Add(365*day)); ok || got != last {
		t.Fatalf("last step: Due = %+v, %v; want no change", got, ok)
	}
}

func TestBelow(t *testing.T) {
	// How many of 10 replicas a ramp that moves while Below ends with on
	// arm64.
	stops := func(total, percent int) int {
		arm := 0
		for arm < total && Below(arm, total, percent) {
			arm++
		}
		return arm
	}
	for _, tc := range []struct{ total, percent, want int }{
		{10, 20, 2},
		{10, 25, 2}, // a third would be 30%
		{10, 100, 10},
		{10, 0, 0},
		{10, 5, 0}, // one would be 10%
		{4, 50, 2},
		{3, 50, 1},
		{0, 50, 0},
	} {
		if got := stops(tc.total, tc.percent); got != tc.want {
			t.Errorf("%d replicas at %d%%: stops at %d on arm64, want %d", tc.total, tc.percent, got, tc.want)
		}
	}
	if Below(0, 0, 100) {
		t.Error("no replicas are below a target")
	}
}

func TestTargetErrorsNameTheStep(t *testing.T) {
	_, err := ParseTarget("10%, 20% after 1d, 15% after 1d")
	if err == nil || !strings.HasPrefix(err.Error(), "step 3 ") {
		t.Fatalf("err = %v, want it to name step 3", err)
	}
}

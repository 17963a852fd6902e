package migration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Annotations. A team writes TargetAnnotation on a Deployment, a
// StatefulSet or a Namespace (a default for the workloads in it); the
// migration controller writes the others on the workload and nobody else
// needs to.
const (
	// TargetAnnotation is the arm64 share a workload ramps to: "20%", or a
	// ramp "20%, 50% after 7d, 100% after 7d" whose steps each start that
	// long after the previous one, while the workload is healthy.
	TargetAnnotation = "archfit.dev/arm64-target"
	// StepAnnotation records the ramp step in force and since when:
	// "1 2026-11-27T10:00:00Z". Written by the controller.
	StepAnnotation = "archfit.dev/arm64-step"
	// PausedAnnotation stops a workload's ramp and its moves; its value
	// says why. The controller writes it on a rollback; an operator
	// removes it to resume.
	PausedAnnotation = "archfit.dev/arm64-paused"
	// NextAnnotation, written by the controller while it moves a
	// workload's pods to arm64, makes placement constrain the workload's
	// new pods to arm64, so cluster-autoscaler grows arm64 for them
	// instead of putting them back on the node just freed.
	NextAnnotation = "archfit.dev/arm64-next"
)

// ARM64 is the arch migration moves workloads to.
const ARM64 = "arm64"

// Step is one share of a ramp and how long after the previous step it
// starts.
type Step struct {
	Percent int
	After   time.Duration
}

// Target is a parsed TargetAnnotation.
type Target struct{ Steps []Step }

// ParseTarget parses "20%" or "20%, 50% after 7d, 100% after 14d". Shares
// must rise from step to step and stay within 0–100; durations take Go's
// units plus d for days.
func ParseTarget(s string) (Target, error) {
	var t Target
	parts := strings.Split(s, ",")
	prev := -1
	for i, part := range parts {
		part = strings.TrimSpace(part)
		share, after, hasAfter := strings.Cut(part, " after ")
		share = strings.TrimSpace(share)
		num, ok := strings.CutSuffix(share, "%")
		if !ok {
			return Target{}, fmt.Errorf("step %d %q: want a share such as 20%%", i+1, part)
		}
		p, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || p < 0 || p > 100 {
			return Target{}, fmt.Errorf("step %d %q: the share must be a whole percent from 0 to 100", i+1, part)
		}
		if p <= prev {
			return Target{}, fmt.Errorf("step %d %q: shares must rise from step to step", i+1, part)
		}
		prev = p
		st := Step{Percent: p}
		switch {
		case i == 0 && hasAfter:
			return Target{}, fmt.Errorf("step 1 %q: the first step starts at once; write it without \"after\"", part)
		case i > 0 && !hasAfter:
			return Target{}, fmt.Errorf("step %d %q: want \"<share> after <duration>\"", i+1, part)
		case hasAfter:
			d, err := parseDuration(strings.TrimSpace(after))
			if err != nil || d <= 0 {
				return Target{}, fmt.Errorf("step %d %q: want a positive duration such as 7d or 12h", i+1, part)
			}
			st.After = d
		}
		t.Steps = append(t.Steps, st)
	}
	return t, nil
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// String writes the target back in the annotation's format.
func (t Target) String() string {
	var b strings.Builder
	for i, s := range t.Steps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d%%", s.Percent)
		if i > 0 {
			b.WriteString(" after " + formatDuration(s.After))
		}
	}
	return b.String()
}

func formatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// StepState is a parsed StepAnnotation: the step in force, since when,
// and the target it is a step of.
type StepState struct {
	Index int
	Since time.Time
	// Of is the target (Target.String()) the step belongs to, so that a
	// changed target starts its ramp again rather than inherit the old
	// one's clock.
	Of string
}

// ParseStep parses StepAnnotation ("1 2026-11-27T10:00:00Z 20%, 50% after
// 7d"); a missing or malformed value is step 0 with no start time.
func ParseStep(s string) StepState {
	idx, rest, _ := strings.Cut(s, " ")
	since, of, _ := strings.Cut(rest, " ")
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 {
		return StepState{}
	}
	t, _ := time.Parse(time.RFC3339, since)
	return StepState{Index: i, Since: t, Of: of}
}

// String writes the step in StepAnnotation's format.
func (s StepState) String() string {
	out := strconv.Itoa(s.Index) + " " + s.Since.UTC().Format(time.RFC3339)
	if s.Of != "" {
		out += " " + s.Of
	}
	return out
}

// StepOf reads StepAnnotation for this target: the step recorded for
// another target (the annotation was changed since) is step 0, not yet
// started.
func (t Target) StepOf(annotation string) StepState {
	st := ParseStep(annotation)
	if st.Of != t.String() {
		return StepState{}
	}
	return st
}

// Percent is the share in force at step st.
func (t Target) Percent(st StepState) int {
	if len(t.Steps) == 0 {
		return 0
	}
	return t.Steps[min(st.Index, len(t.Steps)-1)].Percent
}

// Due reports the step the ramp should be at now: the next step once its
// duration since the current one's start has passed. A ramp advances one
// step per call, so a controller that was down does not skip health
// checks between steps.
func (t Target) Due(st StepState, now time.Time) (StepState, bool) {
	if st.Since.IsZero() || st.Of != t.String() {
		return StepState{Index: 0, Since: now, Of: t.String()}, true
	}
	next := st.Index + 1
	if next >= len(t.Steps) {
		return st, false
	}
	if now.Sub(st.Since) < t.Steps[next].After {
		return st, false
	}
	return StepState{Index: next, Since: now, Of: t.String()}, true
}

// Below reports whether arm64 of total replicas is under percent: the
// workload still wants pods moved to arm64. A pod more on arm64 must not
// take it past the target, so the test is on the next pod.
func Below(arm64, total, percent int) bool {
	if total == 0 || percent == 0 {
		return false
	}
	return (arm64+1)*100 <= percent*total
}

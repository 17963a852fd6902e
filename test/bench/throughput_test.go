package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/archfit/archfit/test/harness/benchcluster"
)

func TestRoundOrder(t *testing.T) {
	for _, tc := range []struct {
		order   string
		other   rune
		want    []string
		wantErr string
	}{
		{order: "", other: 'A'},
		{order: "DAAD", other: 'A', want: []string{def, af, af, def}},
		{order: "dnnd", other: 'N', want: []string{def, benchcluster.FloorProfile, benchcluster.FloorProfile, def}},
		{order: "DNND", other: 'A', wantErr: `-x "DNND": want only D and A, got 'N'`},
		{order: "DAAD", other: 'N', wantErr: `want only D and N, got 'A'`},
		{order: "DAA", other: 'A', wantErr: "want blocks of four rounds"},
		{order: "DAADDDDA", other: 'A', wantErr: "rounds 5 to 8 must be two of each profile"},
	} {
		got, err := roundOrder("-x", tc.order, tc.other)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("roundOrder(%q, %c) error = %v, want %q", tc.order, tc.other, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("roundOrder(%q, %c) = %v, %v; want %v", tc.order, tc.other, got, err, tc.want)
		}
	}
}

// TestSummarise: each block's ratio is the default profile's time over the
// other's, the figure is their median, and pods/s are pooled per profile.
func TestSummarise(t *testing.T) {
	n := benchcluster.FloorProfile
	order := []string{def, n, n, def, n, def, def, n, def, n, n, def}
	s := time.Second
	// Blocks: default 2 s vs other 4 s (0.5); 2 s vs 2 s (1.0); 3 s vs 4 s (0.75).
	durations := []time.Duration{s, 2 * s, 2 * s, s, s, s, s, s, 2 * s, 2 * s, 2 * s, s}
	r := summarise(order, durations, 100, n)
	if r.median != 0.75 {
		t.Errorf("median = %v, want 0.75", r.median)
	}
	if r.blocks != "0.500 1.000 0.750" {
		t.Errorf("blocks = %q", r.blocks)
	}
	if r.n[def] != 6 || r.n[n] != 6 {
		t.Errorf("rounds = %v", r.n)
	}
	// 600 pods in 7 s and in 10 s.
	if got, want := r.rate[def], 600/7.0; got != want {
		t.Errorf("default pods/s = %v, want %v", got, want)
	}
	if got, want := r.rate[n], 60.0; got != want {
		t.Errorf("floor pods/s = %v, want %v", got, want)
	}
}

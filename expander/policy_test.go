package expander

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// checkPolicy fails unless p is what ParsePolicy promises: defaults filled
// in, every bound respected, priorities compiled highest first.
func checkPolicy(t *testing.T, p *Policy) {
	t.Helper()
	switch {
	case len(p.ArchitecturePreference) == 0:
		t.Fatal("no architecturePreference")
	case p.ArchitectureWeights == nil:
		t.Fatal("no architectureWeights")
	case p.ResolutionBudget.Duration <= 0 || p.ResolutionBudget.Duration > 4*time.Second:
		t.Fatalf("resolutionBudget %v accepted", p.ResolutionBudget)
	case p.CostTieTolerance < 0 || p.CostTieTolerance >= 1:
		t.Fatalf("costTieTolerance %v accepted", p.CostTieTolerance)
	case p.prices == nil:
		t.Fatal("no price model")
	}
	for a, w := range p.ArchitectureWeights {
		if !(w > 0) {
			t.Fatalf("architectureWeights[%s] = %v accepted", a, w)
		}
	}
	if got, want := tierRules(p.tiers), priorityRules(t, p.Priorities); !slices.Equal(got, want) {
		t.Fatalf("compiled priorities %q, want %q", got, want)
	}
	checkTierOrder(t, p.tiers)
}

func checkTierOrder(t *testing.T, tiers Tiers) {
	t.Helper()
	for i := 1; i < len(tiers); i++ {
		if tiers[i-1].Priority < tiers[i].Priority {
			t.Fatalf("tier %d (priority %d) after a lower one (%d): PriorityOf would stop early", i, tiers[i].Priority, tiers[i-1].Priority)
		}
	}
}

// tierRules and priorityRules render compiled tiers and their source as
// sorted "priority pattern" lines: tiers of equal priority come in map order.
func tierRules(tiers Tiers) []string {
	var out []string
	for _, tier := range tiers {
		for _, re := range tier.Patterns {
			out = append(out, fmt.Sprintf("%d %s", tier.Priority, re.String()))
		}
	}
	slices.Sort(out)
	return out
}

func priorityRules(t *testing.T, m map[string][]string) []string {
	t.Helper()
	var out []string
	for k, pats := range m {
		prio, err := strconv.Atoi(k)
		if err != nil {
			t.Fatalf("priority %q accepted: %v", k, err)
		}
		for _, s := range pats {
			out = append(out, fmt.Sprintf("%d %s", prio, s))
		}
	}
	slices.Sort(out)
	return out
}

// Keys that sigs.k8s.io/yaml or strconv fold into one priority used to let
// Go's map order pick whose patterns survived; each is now refused, naming
// both keys as written.
func TestDuplicatePrioritiesRefused(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"1: [a]\n\"1\": [b]\n", `priority 1 is given twice (as 1 and "1")`},
		{"1.0: [a]\n1: [b]\n", `priority 1 is given twice (as 1 and 1)`},
		{"\"7\": [a]\n7.0: [b]\n", `priority 7 is given twice (as "7" and 7)`},
		{"1: [a]\n01: [b]\n", `key 1 already set in map`}, // go-yaml's own check
		{"\"1\": [a]\n\"01\": [b]\n", `priority 1 is given twice (as "1" and "01")`},
		{"00:\n  - 00\n.0:\n  - x\n", `priority 0 is given twice`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			_, err := ParsePriorityConfigMapValue(tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ConfigMap value: got %v, want an error containing %q", err, tc.want)
			}
			indented := "priorities:\n  " + strings.ReplaceAll(strings.TrimSuffix(tc.value, "\n"), "\n", "\n  ") + "\n"
			_, err = ParsePolicy([]byte(indented))
			want := tc.want
			if strings.HasPrefix(want, "priority ") {
				want = "priorities: " + want
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("policy file:\n%s\ngot %v, want an error containing %q", indented, err, want)
			}
		})
	}
	if _, err := ParsePriorities(map[string][]string{"1": {"a"}, "01": {"b"}}); err == nil || !strings.Contains(err.Error(), "priority 1 is given twice") {
		t.Fatalf("ParsePriorities: got %v, want the duplicate refused", err)
	}
	// Distinct priorities still parse, every time, into the same tiers.
	for range 50 {
		tiers, err := ParsePriorityConfigMapValue("1: [a]\n\"2\": [b]\n3.0: [c]\n")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tierRules(tiers), []string{"1 a", "2 b", "3 c"}; !slices.Equal(got, want) {
			t.Fatalf("tiers %q, want %q", got, want)
		}
	}
}

// FuzzParsePolicy: any policy file is refused or parses into a policy that
// respects every bound, and that policy written back out (defaults
// included) parses to itself, so a reload of what is in effect changes
// nothing.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"",
		"resolutionBudget: 1s\n",
		"architecturePreference: [amd64]\narchitectureWeights: {amd64: 1, arm64: 0.7}\ncostTieTolerance: 0.05\n",
		"priorities:\n  \"50\": [\"^spot-\"]\n  \"10\": [\".*\"]\n",
		"architectureWeights: {}\n",
		"resolutionBudget: 5s\n",
		"priorities: {high: [\"(\"]}\n",
		"resolutionBudgte: 1s\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// priceTable names a file to read; fuzzed paths could name a device
		// that never ends. Loading tables is cost's to test.
		var file struct {
			PriceTable string `json:"priceTable"`
		}
		if yaml.Unmarshal(b, &file) == nil && file.PriceTable != "" {
			return
		}
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		checkPolicy(t, p)
		// JSON is YAML; a map keeps empty values that omitempty would drop.
		out, err := json.Marshal(map[string]any{
			"architecturePreference": p.ArchitecturePreference,
			"architectureWeights":    p.ArchitectureWeights,
			"priceAnnotation":        p.PriceAnnotation,
			"resolutionBudget":       p.ResolutionBudget,
			"priorities":             p.Priorities,
			"costTieTolerance":       p.CostTieTolerance,
		})
		if err != nil {
			t.Fatalf("accepted policy cannot be written back: %v", err)
		}
		again, err := ParsePolicy(out)
		if err != nil {
			t.Fatalf("policy in effect refused when read back: %v\n%s", err, out)
		}
		p.prices, p.tiers, again.prices, again.tiers = nil, nil, nil, nil
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("read back as %+v, was %+v\n%s", again, p, out)
		}
	})
}

// FuzzParsePriorityConfigMapValue: any value of the priority ConfigMap's
// key is refused, or compiles into tiers sorted highest first holding
// exactly its rules; and those rules written back parse to the same tiers.
func FuzzParsePriorityConfigMapValue(f *testing.F) {
	for _, s := range []string{
		"",
		"10:\n  - .*\n50:\n  - ^spot-.*\n  - ^preemptible-\n",
		"1: [a]\n01: [b]\n-5: ['x|y']\n",
		"{}",
		"high: [x]\n",
		"1: ['(']\n",
		"1: x\n",
		"- a\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tiers, err := ParsePriorityConfigMapValue(v)
		if err != nil {
			return
		}
		checkTierOrder(t, tiers)
		// The value decoded again, as ParsePriorityConfigMapValue decodes
		// it: what the tiers must hold, every time.
		var m map[string][]string
		if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
			t.Fatalf("accepted, then refused when decoded again: %v", err)
		}
		rules := tierRules(tiers)
		if want := priorityRules(t, m); !slices.Equal(rules, want) {
			t.Fatalf("tiers hold %q, the value decoded again says %q", rules, want)
		}
		back := map[string][]string{}
		for _, tier := range tiers {
			k := strconv.Itoa(tier.Priority)
			for _, re := range tier.Patterns {
				back[k] = append(back[k], re.String())
			}
		}
		out, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParsePriorityConfigMapValue(string(out))
		if err != nil {
			t.Fatalf("rules in effect refused when read back: %v\n%s", err, out)
		}
		if got := tierRules(again); !slices.Equal(got, rules) {
			t.Fatalf("read back as %q, was %q", got, rules)
		}
	})
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.ArchitecturePreference, []string{"arm64", "amd64"}) ||
		!reflect.DeepEqual(p.ArchitectureWeights, map[string]float64{"arm64": 0.8, "amd64": 1.0}) ||
		p.ResolutionBudget.Duration != DefaultResolutionBudget || p.CostTieTolerance != 0.01 || len(p.tiers) != 0 {
		t.Fatalf("defaults: %+v", p)
	}
	p, err = ParsePolicy([]byte("architecturePreference: [amd64]\nresolutionBudget: 1500ms\npriorities:\n  \"50\": [\"^spot-\"]\n  \"10\": [\".*\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ResolutionBudget.Duration != 1500*time.Millisecond || !slices.Equal(tierRules(p.tiers), []string{"10 .*", "50 ^spot-"}) || p.tiers[0].Priority != 50 {
		t.Fatalf("parsed: %+v tiers %q", p, tierRules(p.tiers))
	}
	for body, want := range map[string]string{
		"resolutionBudget: 5s\n":              "resolutionBudget: 5s must be above 0 and at most 4s",
		"costTieTolerance: 1\n":               "costTieTolerance: 1 must be in [0, 1)",
		"architectureWeights: {arm64: 0}\n":   "architectureWeights[arm64]: 0 must be positive",
		"priorities: {high: [x]}\n":           `priorities: "high": priority must be an integer`,
		"priorities: {\"5\": [\"(\"]}\n":      "priorities: 5[0]: error parsing regexp",
		"resolutionBudgte: 1s\n":              `unknown field "resolutionBudgte"`,
		"priceTable: /nonexistent/table.yaml": "priceTable: ",
	} {
		if _, err := ParsePolicy([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to contain %q", body, err, want)
		}
	}
}

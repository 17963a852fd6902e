package expander

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/archfit/archfit/internal/cost"
)

// Policy is what ranks options. It is loaded from --policy-file (hot
// reloaded) and is immutable once loaded; a reload swaps the whole value.
type Policy struct {
	// ArchitecturePreference orders architectures, most preferred first.
	// Architectures not listed come after those listed. Default [arm64, amd64].
	ArchitecturePreference []string `json:"architecturePreference,omitempty"`
	// ArchitectureWeights are relative prices for template nodes the price
	// table does not know. Default arm64 0.8, amd64 1.0.
	ArchitectureWeights map[string]float64 `json:"architectureWeights,omitempty"`
	// PriceTable is an instance-type table file; empty means the shipped one.
	PriceTable string `json:"priceTable,omitempty"`
	// PriceAnnotation on a template node overrides its price.
	PriceAnnotation string `json:"priceAnnotation,omitempty"`
	// ResolutionBudget bounds image lookups in one call, well inside CA's
	// 5 s deadline. Default 2s.
	ResolutionBudget Duration `json:"resolutionBudget,omitempty"`
	// Priorities, in the value format of CA's priority expander ConfigMap
	// (priority → unanchored Go regexes on the node group ID). Optional;
	// the priority ConfigMap, when watched, takes precedence.
	Priorities map[string][]string `json:"priorities,omitempty"`
	// CostTieTolerance treats costs within this fraction as equal, so that
	// near-identical groups are returned together for CA's next expander.
	// Default 0.01 (1%).
	CostTieTolerance float64 `json:"costTieTolerance,omitempty"`

	prices *cost.Model
	tiers  Tiers
}

// Duration is a time.Duration that reads "2s" in YAML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("want a duration string such as \"2s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// DefaultResolutionBudget leaves CA's 5 s deadline room for decoding,
// ranking and the network.
const DefaultResolutionBudget = 2 * time.Second

// ParsePolicy parses YAML strictly (a typo is an error), applies defaults
// and validates, naming the field at fault.
func ParsePolicy(b []byte) (*Policy, error) {
	p := &Policy{}
	if len(b) > 0 {
		if err := yaml.UnmarshalStrict(b, p); err != nil {
			return nil, err
		}
	}
	if len(p.ArchitecturePreference) == 0 {
		p.ArchitecturePreference = []string{"arm64", "amd64"}
	}
	if p.ArchitectureWeights == nil {
		p.ArchitectureWeights = cost.DefaultArchitectureWeights()
	}
	if p.ResolutionBudget.Duration == 0 {
		p.ResolutionBudget.Duration = DefaultResolutionBudget
	}
	if p.CostTieTolerance == 0 {
		p.CostTieTolerance = 0.01
	}
	switch {
	case p.ResolutionBudget.Duration < 0 || p.ResolutionBudget.Duration > 4*time.Second:
		return nil, fmt.Errorf("resolutionBudget: %v must be above 0 and at most 4s (CA's deadline is 5s)", p.ResolutionBudget.Duration)
	case p.CostTieTolerance < 0 || p.CostTieTolerance >= 1:
		return nil, fmt.Errorf("costTieTolerance: %v must be in [0, 1)", p.CostTieTolerance)
	}
	for a, w := range p.ArchitectureWeights {
		if !(w > 0) {
			return nil, fmt.Errorf("architectureWeights[%s]: %v must be positive", a, w)
		}
	}
	table := cost.DefaultTable()
	if p.PriceTable != "" {
		t, err := cost.LoadTable(p.PriceTable)
		if err != nil {
			return nil, fmt.Errorf("priceTable: %w", err)
		}
		table = t
	}
	p.prices = cost.New(table, p.ArchitectureWeights, p.PriceAnnotation)
	if len(b) > 0 {
		var doc yamlv2.MapSlice
		if err := yamlv2.Unmarshal(b, &doc); err != nil {
			return nil, err
		}
		for _, item := range doc {
			if m, ok := item.Value.(yamlv2.MapSlice); ok && item.Key == "priorities" {
				if err := distinctPriorities(m); err != nil {
					return nil, fmt.Errorf("priorities: %w", err)
				}
			}
		}
	}
	tiers, err := ParsePriorities(p.Priorities)
	if err != nil {
		return nil, fmt.Errorf("priorities: %w", err)
	}
	p.tiers = tiers
	return p, nil
}

// Tiers are compiled priority-expander rules, highest priority first.
type Tiers []Tier

// Tier is one priority and its patterns.
type Tier struct {
	Priority int
	Patterns []*regexp.Regexp
}

// ParsePriorities compiles priority → regexes. Keys are integers as in CA's
// priority expander.
func ParsePriorities(m map[string][]string) (Tiers, error) {
	var out Tiers
	seen := make(map[int]string, len(m))
	for k, pats := range m {
		prio, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("%q: priority must be an integer", k)
		}
		if other, dup := seen[prio]; dup {
			return nil, duplicatePriority(prio, other, strconv.Quote(k))
		}
		seen[prio] = strconv.Quote(k)
		t := Tier{Priority: prio}
		for i, s := range pats {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %v", k, i, err)
			}
			t.Patterns = append(t.Patterns, re)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Priority > out[j].Priority })
	return out, nil
}

// ParsePriorityConfigMapValue parses the `priorities` key of CA's
// cluster-autoscaler-priority-expander ConfigMap.
func ParsePriorityConfigMapValue(v string) (Tiers, error) {
	m := map[string][]string{}
	if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
		return nil, err
	}
	var keys yamlv2.MapSlice
	if err := yamlv2.Unmarshal([]byte(v), &keys); err != nil {
		return nil, err
	}
	if err := distinctPriorities(keys); err != nil {
		return nil, err
	}
	return ParsePriorities(m)
}

// distinctPriorities refuses two keys that name one priority. sigs.k8s.io/yaml
// turns 1, "1" and 1.0 into the same JSON key and Go's map order picks which
// patterns survive, so without this a reload could silently swap a tier's
// rules. It reads the keys in the order written, as go-yaml v2 resolved them,
// and renders them as sigs.k8s.io/yaml does before comparing priorities.
func distinctPriorities(keys yamlv2.MapSlice) error {
	seen := make(map[int]string, len(keys))
	for _, item := range keys {
		var k string
		switch key := item.Key.(type) {
		case string:
			k = key
		case int:
			k = strconv.Itoa(key)
		case int64:
			k = strconv.FormatInt(key, 10)
		case uint64:
			k = strconv.FormatUint(key, 10)
		case float64:
			k = strconv.FormatFloat(key, 'g', -1, 32)
		default:
			return fmt.Errorf("%v: priority must be an integer", item.Key)
		}
		prio, err := strconv.Atoi(k)
		if err != nil {
			return fmt.Errorf("%q: priority must be an integer", k)
		}
		written := fmt.Sprint(item.Key)
		if s, ok := item.Key.(string); ok {
			written = strconv.Quote(s)
		}
		if other, dup := seen[prio]; dup {
			return duplicatePriority(prio, other, written)
		}
		seen[prio] = written
	}
	return nil
}

func duplicatePriority(prio int, first, second string) error {
	return fmt.Errorf("priority %d is given twice (as %s and %s); merge their patterns under one key", prio, first, second)
}

// PriorityOf returns the highest priority whose pattern matches the group,
// and whether any matched. Without tiers every group is in one tier.
func (t Tiers) PriorityOf(group string) (int, bool) {
	for _, tier := range t { // sorted highest first
		for _, re := range tier.Patterns {
			if re.MatchString(group) {
				return tier.Priority, true
			}
		}
	}
	return 0, false
}

// preferenceRank is the index of arch in the preference list, or its length.
func (p *Policy) preferenceRank(arch string) int {
	for i, a := range p.ArchitecturePreference {
		if a == arch {
			return i
		}
	}
	return len(p.ArchitecturePreference)
}

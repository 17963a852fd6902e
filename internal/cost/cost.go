// Package cost is archfit's price model, shared by the scheduler plugin and
// the autoscaler expander so that both rank nodes the same way.
//
// A node's price comes from the first source that knows it:
//  1. a per-node annotation (archfit.dev/hourly-price by default),
//  2. a table keyed by node.kubernetes.io/instance-type,
//  3. a per-architecture relative weight times a reference vCPU price.
//
// Nodes are compared by price per allocatable vCPU, so a large node is not
// judged cheap merely because it has room.
package cost

import (
	_ "embed"
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	// DefaultPriceAnnotation holds a node's on-demand price in the table's
	// currency per hour, for example "0.0816".
	DefaultPriceAnnotation = "archfit.dev/hourly-price"
	// LabelInstanceType is the well-known instance type label.
	LabelInstanceType = "node.kubernetes.io/instance-type"
	// ReferenceVCPUHourly turns relative weights into a price: one amd64
	// vCPU-hour of a general-purpose on-demand instance (m6i.large / 2).
	ReferenceVCPUHourly = 0.048
)

// DefaultArchitectureWeights are the relative prices used for nodes the
// annotation and the table do not know, wherever a price model is built.
func DefaultArchitectureWeights() map[string]float64 {
	return map[string]float64{"arm64": 0.8, "amd64": 1.0}
}

// Source says which price source answered.
type Source string

const (
	SourceAnnotation Source = "annotation"
	SourceTable      Source = "table"
	SourceWeight     Source = "weight"
)

// InstanceType is one row of the price table.
type InstanceType struct {
	HourlyPrice float64 `json:"hourlyPrice"`
	Arch        string  `json:"arch"`
	VCPU        int     `json:"vcpu"`
	MemoryGiB   float64 `json:"memoryGiB,omitempty"`
	Provider    string  `json:"provider,omitempty"`
	Region      string  `json:"region,omitempty"`
}

// Table is the instance-type price table, as loaded from YAML or JSON.
type Table struct {
	Currency      string                  `json:"currency"`
	Sources       []string                `json:"sources,omitempty"`
	InstanceTypes map[string]InstanceType `json:"instanceTypes"`
}

//go:embed default-prices.yaml
var defaultTableYAML []byte

// DefaultTable returns the shipped table (common AWS, GCP and Azure types of
// both architectures, list prices; see the file for sources).
func DefaultTable() *Table {
	t, err := ParseTable(defaultTableYAML)
	if err != nil {
		panic(fmt.Sprintf("shipped price table is invalid: %v", err))
	}
	return t
}

// LoadTable reads a table file (a mounted ConfigMap works the same way).
func LoadTable(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTable(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTable parses and validates a table.
func ParseTable(b []byte) (*Table, error) {
	var t Table
	if err := yaml.UnmarshalStrict(b, &t); err != nil {
		return nil, err
	}
	if len(t.InstanceTypes) == 0 {
		return nil, fmt.Errorf("instanceTypes is empty")
	}
	for name, it := range t.InstanceTypes {
		switch {
		case it.HourlyPrice <= 0:
			return nil, fmt.Errorf("instanceTypes[%s].hourlyPrice must be positive", name)
		case it.VCPU <= 0:
			return nil, fmt.Errorf("instanceTypes[%s].vcpu must be positive", name)
		case it.Arch == "":
			return nil, fmt.Errorf("instanceTypes[%s].arch is required", name)
		}
	}
	if t.Currency == "" {
		t.Currency = "USD"
	}
	return &t, nil
}

// Model prices nodes. It is immutable after New and safe for concurrent use;
// to change prices, build a new Model and swap the pointer.
type Model struct {
	table      *Table
	weights    map[string]float64
	annotation string
}

// New builds a model. weights maps arch → relative price (amd64 = 1.0 is
// conventional); an arch without a weight is priced at 1.0.
func New(table *Table, weights map[string]float64, annotation string) *Model {
	if annotation == "" {
		annotation = DefaultPriceAnnotation
	}
	if table == nil {
		table = &Table{Currency: "USD"}
	}
	return &Model{table: table, weights: weights, annotation: annotation}
}

// Table returns the model's table.
func (m *Model) Table() *Table { return m.table }

// Weight returns the relative weight of an arch.
func (m *Model) Weight(arch string) float64 {
	if w, ok := m.weights[arch]; ok {
		return w
	}
	return 1.0
}

// Price is a node's hourly price and its price per allocatable vCPU.
type Price struct {
	Hourly  float64
	PerVCPU float64
	Source  Source
}

// NodePrice prices a node. allocMilliCPU is its allocatable CPU; 0 falls
// back to the table's vCPU count, then to 1. It does not allocate, because
// the scheduler calls it once per node per pod.
func (m *Model) NodePrice(node *corev1.Node, arch string, allocMilliCPU int64) Price {
	vcpu := float64(allocMilliCPU) / 1000
	it, inTable := m.table.InstanceTypes[node.Labels[LabelInstanceType]]
	if vcpu <= 0 {
		if inTable {
			vcpu = float64(it.VCPU)
		} else {
			vcpu = 1
		}
	}
	if v, ok := node.Annotations[m.annotation]; ok {
		if h, err := strconv.ParseFloat(v, 64); err == nil && h > 0 {
			return Price{Hourly: h, PerVCPU: h / vcpu, Source: SourceAnnotation}
		}
	}
	if inTable {
		return Price{Hourly: it.HourlyPrice, PerVCPU: it.HourlyPrice / vcpu, Source: SourceTable}
	}
	per := m.Weight(arch) * ReferenceVCPUHourly
	return Price{Hourly: per * vcpu, PerVCPU: per, Source: SourceWeight}
}

// PodRequests is a pod's effective request as the scheduler counts it: the
// sum over its containers, or its largest init container if that is
// larger. Pod overhead is not included. It is the one rule the scheduler
// plugin, the expander, the report and the demo use to weigh a pod.
func PodRequests(spec *corev1.PodSpec) (milliCPU, memoryBytes int64) {
	var c, m, ic, im int64
	for _, x := range spec.Containers {
		c += x.Resources.Requests.Cpu().MilliValue()
		m += x.Resources.Requests.Memory().Value()
	}
	for _, x := range spec.InitContainers {
		ic = max(ic, x.Resources.Requests.Cpu().MilliValue())
		im = max(im, x.Resources.Requests.Memory().Value())
	}
	return max(c, ic), max(m, im)
}

// DefaultPodMilliCPU is what a pod without CPU requests is taken to use, as
// kube-scheduler's scoring assumes 100m for a container without one.
const DefaultPodMilliCPU = 100

// PodVCPU is the vCPUs a pod is priced for: its requests, or
// DefaultPodMilliCPU when it requests none, so a best-effort pod still
// weighs something in a saving or a cost per vCPU.
func PodVCPU(spec *corev1.PodSpec) float64 {
	m, _ := PodRequests(spec)
	if m == 0 {
		m = DefaultPodMilliCPU
	}
	return float64(m) / 1000
}

package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/archfit/archfit/cmd/archfit/report"
)

func TestWriteReportFormats(t *testing.T) {
	rep := &report.Report{Currency: "USD",
		Rows: []report.Row{
			{Namespace: "shop", Kind: "Deployment", Name: "web", Replicas: 3, CPU: 1.5, Arm64Ready: "yes", CheapestArch: "arm64", ProjectedMonthly: 44.68, AMD64Monthly: 52.56},
			{Namespace: "shop", Kind: "StatefulSet", Name: "db", Replicas: 2, CPU: 2, Arm64Ready: "no", BlockingImages: []string{"reg/app/db:1"}, CheapestArch: "amd64"},
			{Namespace: "shop", Kind: "Pod", Name: "debug", Replicas: 1, Arm64Ready: "unknown", ImageErrors: []string{"x/y:1: network"}},
		},
		Namespaces: []report.Rollup{{Namespace: "shop", Workloads: 3, Arm64Ready: 1, CPU: 3.5}},
	}
	var b bytes.Buffer
	if err := writeReport(&b, rep, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][6] != "arm64Ready" || recs[2][7] != "reg/app/db:1" || recs[1][10] != "44.68" {
		t.Fatalf("csv = %v (%v)", recs, err)
	}
	b.Reset()
	if err := writeReport(&b, rep, "json"); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || len(doc["workloads"].([]any)) != 3 || len(doc["namespaces"].([]any)) != 1 {
		t.Fatalf("json = %s (%v)", b.String(), err)
	}
	b.Reset()
	if err := writeReport(&b, rep, "table"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ARM64-READY", "reg/app/db:1", "unknown: x/y:1: network", "WORKLOADS"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

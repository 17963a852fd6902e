package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/archfit/archfit/test/harness/registrytest"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestInspectJSON(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	digest, err := reg.PushIndex("team/app:1", []string{"linux/amd64", "linux/arm64/v8"}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "inspect", "--anonymous", "--insecure-registry", reg.Host, reg.Host+"/team/app:1", "-o", "json")
	if err != nil {
		t.Fatalf("inspect failed: %v\n%s", err, out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rows) != 1 {
		t.Fatalf("rows = %d", len(rows))
	}
	row := rows[0]
	if row["image"] != reg.Host+"/team/app:1" || row["digest"] != digest || row["source"] != "index" {
		t.Errorf("row = %v", row)
	}
	if got, _ := json.Marshal(row["platforms"]); string(got) != `["linux/amd64","linux/arm64"]` {
		t.Errorf("platforms = %s", got)
	}
}

func TestInspectFailureExitsNonZero(t *testing.T) {
	reg := registrytest.New()
	defer reg.Close()
	if _, err := reg.PushImage("team/ok:1", "linux/arm64", false); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "inspect", "--anonymous", "--insecure-registry", reg.Host, reg.Host+"/team/ok:1", reg.Host+"/team/missing:1", "Not/A:Ref")
	if err == nil || !strings.Contains(err.Error(), "2 of 3 images") {
		t.Fatalf("want an error naming 2 of 3 failures, got %v\n%s", err, out)
	}
	for _, want := range []string{"linux/arm64", "error: HEAD", "invalid image reference"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

package app

import (
	"strings"
	"testing"
)

// Each bad value is refused at start-up with an error that names its flag.
func TestBadFlagsAreRefused(t *testing.T) {
	base := []string{"--tls-cert-file=c", "--tls-private-key-file=k"}
	if err := ParseAndValidate(base); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--migration-mode=On"}, "--migration-mode"},
		{[]string{"--migration-interval=100ms"}, "--migration-interval"},
		{[]string{"--migration-evictions-per-minute=0"}, "--migration-evictions-per-minute"},
		{[]string{"--migration-crashloop-restarts=0"}, "--migration-crashloop-restarts"},
		{[]string{"--rollback-records="}, "--migration-rollback"},
		{[]string{"--rollback-records=archfit"}, "--rollback-records"},
		{[]string{"--admission-budget=3s"}, "--admission-budget"},
		{[]string{"--workers=0"}, "--workers"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps"},
	} {
		err := ParseAndValidate(append(append([]string(nil), base...), tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.flag)
		}
	}
	// Without rollback, the records may be off too; Disabled needs neither.
	for _, ok := range [][]string{
		{"--rollback-records=", "--migration-rollback=false"},
		{"--rollback-records=", "--migration-mode=Disabled"},
		{"--migration-mode=Enabled", "--migration-expect-scale-up=false"},
	} {
		if err := ParseAndValidate(append(append([]string(nil), base...), ok...)); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
}

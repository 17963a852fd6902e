package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildBinary builds this command as `go build` does, without -trimpath
// (see the Makefile's K8S_LDFLAGS), into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		gobin = "go"
	}
	bin := filepath.Join(t.TempDir(), "archfit")
	start := time.Now()
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build took %s", time.Since(start).Round(time.Second))
	return bin
}

// runBinary runs bin with args in dir and returns its exit code, stdout and
// stderr.
func runBinary(t *testing.T, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case ctx.Err() != nil:
		t.Fatalf("archfit %v: %v\nstderr:\n%s", args, ctx.Err(), stderr.String())
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("archfit %v: %v", args, err)
	}
	return 0, "", ""
}

// The built binary, run in an empty directory far from the checkout, runs
// the demo from what it embeds, and every failure reaches stderr with a
// non-zero exit, without --verbose.
func TestBinaryRunsFromAnyDirectory(t *testing.T) {
	bin := buildBinary(t)
	wd := t.TempDir()

	t.Run("demo", func(t *testing.T) {
		start := time.Now()
		code, stdout, stderr := runBinary(t, bin, wd, "demo", "--runs", "archfit", "--size", "3")
		t.Logf("archfit demo took %s", time.Since(start).Round(time.Second))
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "RUN ") || !strings.Contains(stdout, "\narchfit ") || !strings.Contains(stdout, "archfit-scheduler") {
			t.Errorf("no results table with the archfit run:\n%s", stdout)
		}
	})

	// A cluster that is not there: a closed loopback port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://`+closed+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
current-context: gone
`), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		causes []string // each on stderr, the first exactly once
	}{
		// The demo used to exit 1 without a word: it silences klog, which
		// component-base's cli.Run logged runtime errors to.
		{"demo fails", []string{"demo", "--size", "1"}, exitFailure, []string{"archfit: demo: --size 1: want at least 3 pods"}},
		{"report fails", []string{"report", "--kubeconfig", kubeconfig}, exitFailure, []string{"archfit: report: ", closed, "connection refused"}},
		{"bad flag value", []string{"demo", "--size", "x"}, exitUsage, []string{`archfit: demo: invalid argument "x" for "--size"`}},
		{"unknown flag", []string{"report", "--no-such-flag"}, exitUsage, []string{"archfit: report: unknown flag: --no-such-flag"}},
		{"unknown command", []string{"no-such-command"}, exitUsage, []string{`archfit: unknown command "no-such-command"`}},
		{"too few args", []string{"inspect"}, exitUsage, []string{"archfit: inspect: requires at least 1 arg(s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, bin, wd, tc.args...)
			if code != tc.code {
				t.Errorf("archfit %v: exit %d, want %d", tc.args, code, tc.code)
			}
			for _, c := range tc.causes {
				if !strings.Contains(stderr, c) {
					t.Errorf("archfit %v: no %q on stderr", tc.args, c)
				}
			}
			if n := strings.Count(stderr, tc.causes[0]); n > 1 {
				t.Errorf("archfit %v: the cause is on stderr %d times, want once", tc.args, n)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
		})
	}
}

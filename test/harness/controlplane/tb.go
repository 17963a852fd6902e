package controlplane

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// processTB adapts the control-plane test helpers, which take a test
// handle, to a long-running program: cleanups run at Stop, failures are
// errors instead of test failures, logs go to a function (or nowhere).
type processTB struct {
	name string
	dir  string
	logf func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	msgs     []string
	n        int
}

// failNow unwinds a helper that gave up; Start recovers it.
type failNow struct{}

func (t *processTB) Attr(string, string)      {}
func (t *processTB) Chdir(string)             { t.Fatal("Chdir is not supported outside tests") }
func (t *processTB) Helper()                  {}
func (t *processTB) Name() string             { return t.name }
func (t *processTB) Skipped() bool            { return false }
func (t *processTB) Skip(args ...any)         { t.Fatal(args...) }
func (t *processTB) Skipf(f string, a ...any) { t.Fatalf(f, a...) }
func (t *processTB) SkipNow()                 { t.FailNow() }
func (t *processTB) Setenv(k, v string)       { _ = os.Setenv(k, v) }
func (t *processTB) Log(args ...any)          { t.logf("%s", fmt.Sprint(args...)) }
func (t *processTB) Logf(f string, a ...any)  { t.logf(f, a...) }

func (t *processTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *processTB) Error(args ...any)         { t.record(fmt.Sprint(args...)) }
func (t *processTB) Errorf(f string, a ...any) { t.record(fmt.Sprintf(f, a...)) }
func (t *processTB) Fail()                     { t.record("failed") }
func (t *processTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *processTB) FailNow()                  { t.Fail(); panic(failNow{}) }
func (t *processTB) Fatal(args ...any)         { t.Error(args...); panic(failNow{}) }
func (t *processTB) Fatalf(f string, a ...any) { t.Errorf(f, a...); panic(failNow{}) }

func (t *processTB) record(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	t.msgs = append(t.msgs, msg)
	t.logf("%s", msg)
}

func (t *processTB) errors() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprint(t.msgs)
}

func (t *processTB) TempDir() string {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	d := filepath.Join(t.dir, fmt.Sprintf("tmp%03d", n))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// stop runs the cleanups, newest first.
func (t *processTB) stop() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

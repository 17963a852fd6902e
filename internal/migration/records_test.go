package migration

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func recordsMap(t *testing.T, byDigest map[string][]Record, raw map[string]string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "archfit", Name: "archfit-rollbacks"}, Data: map[string]string{}}
	for d, rs := range byDigest {
		b, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[Key(d)] = string(b)
	}
	for k, v := range raw {
		cm.Data[k] = v
	}
	return cm
}

func TestKey(t *testing.T) {
	k := Key(digestA)
	if k != "sha256-"+strings.TrimPrefix(digestA, "sha256:") {
		t.Fatalf("Key = %q", k)
	}
	if DigestOfKey(k) != digestA {
		t.Fatalf("DigestOfKey(%q) = %q, want %q", k, DigestOfKey(k), digestA)
	}
}

func TestRecordsSet(t *testing.T) {
	var r Records
	if got := r.DeniedArchitectures(digestA); got != nil || r.All() != nil || r.Has(digestA, "arm64") {
		t.Fatalf("before any Set: denied %v, all %v", got, r.All())
	}
	cm := recordsMap(t, map[string][]Record{
		digestA: {{Arch: "arm64", Reason: ReasonExecFormatError, Image: "app:1", Workload: "Deployment/shop/web"}, {Arch: "s390x", Reason: ReasonArchCrashLoop}},
		digestB: {{Arch: "amd64", Reason: ReasonArchCrashLoop}},
	}, nil)
	if err := r.Set(cm); err != nil {
		t.Fatal(err)
	}
	if got := r.DeniedArchitectures(digestA); !slices.Equal(got, []string{"arm64", "s390x"}) {
		t.Errorf("denied for A = %v", got)
	}
	if got := r.DeniedArchitectures(digestB); !slices.Equal(got, []string{"amd64"}) {
		t.Errorf("denied for B = %v", got)
	}
	if got := r.DeniedArchitectures("sha256:other"); got != nil {
		t.Errorf("denied for a digest without records = %v", got)
	}
	if !r.Has(digestA, "arm64") || r.Has(digestA, "amd64") {
		t.Error("Has disagrees with the records")
	}
	if all := r.All(); len(all) != 2 || all[digestA][0].Workload != "Deployment/shop/web" {
		t.Errorf("All = %+v", all)
	}

	// Removing a key clears its record: Set replaces, it does not merge.
	delete(cm.Data, Key(digestB))
	if err := r.Set(cm); err != nil {
		t.Fatal(err)
	}
	if got := r.DeniedArchitectures(digestB); got != nil {
		t.Errorf("a removed key still denies %v", got)
	}
	if err := r.Set(nil); err != nil || r.DeniedArchitectures(digestA) != nil || len(r.All()) != 0 {
		t.Errorf("Set(nil) = %v, left %v", err, r.All())
	}
}

// A malformed entry is reported, and the well-formed ones still apply.
func TestRecordsMalformed(t *testing.T) {
	cm := recordsMap(t, map[string][]Record{digestA: {{Arch: "arm64"}}}, map[string]string{
		"sha256:" + strings.Repeat("c", 64): `[{"arch":"arm64"}]`, // a key may not hold ':', nor is that the format
		"notes":                             `[]`,
		Key(digestB):                        `{"arch": "amd64"}`, // an object, not a list
	})
	var r Records
	err := r.Set(cm)
	if err == nil {
		t.Fatal("malformed records accepted")
	}
	for _, want := range []string{"archfit/archfit-rollbacks", "notes", Key(digestB), "sha256:cccc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if !r.Has(digestA, "arm64") {
		t.Error("the well-formed record was dropped with the malformed ones")
	}
	if r.DeniedArchitectures(digestB) != nil {
		t.Error("a malformed record was taken for a denial")
	}

	all, err := ParseRecords(cm)
	if err == nil || len(all) != 1 {
		t.Fatalf("ParseRecords = %v, %v; want the one good record and an error", all, err)
	}
	if all, err := ParseRecords(nil); err != nil || len(all) != 0 {
		t.Fatalf("ParseRecords(nil) = %v, %v", all, err)
	}
}

func TestSplitName(t *testing.T) {
	for in, want := range map[string][3]string{
		"archfit/archfit-rollbacks": {"archfit", "archfit-rollbacks", "true"},
		"":                          {"", "", "false"},
		"archfit":                   {"archfit", "", "false"},
		"/name":                     {"", "name", "false"},
		"ns/":                       {"ns", "", "false"},
	} {
		ns, name, ok := SplitName(in)
		if ns != want[0] || name != want[1] || (ok != (want[2] == "true")) {
			t.Errorf("SplitName(%q) = %q, %q, %v; want %v", in, ns, name, ok, want)
		}
	}
}

func TestAddRecord(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	rec := Record{Arch: "arm64", Reason: ReasonExecFormatError, Image: "app:1", Workload: "Deployment/shop/web"}
	wrote, err := AddRecord(ctx, client, "archfit", "archfit-rollbacks", digestA, rec)
	if err != nil || !wrote {
		t.Fatalf("first record: wrote %v, %v", wrote, err)
	}
	again := rec
	again.Reason = ReasonArchCrashLoop
	if wrote, err := AddRecord(ctx, client, "archfit", "archfit-rollbacks", digestA, again); err != nil || wrote {
		t.Fatalf("the same arch again: wrote %v, %v; want it kept as it was", wrote, err)
	}
	if wrote, err := AddRecord(ctx, client, "archfit", "archfit-rollbacks", digestA, Record{Arch: "s390x"}); err != nil || !wrote {
		t.Fatalf("another arch: wrote %v, %v", wrote, err)
	}
	cm, err := client.CoreV1().ConfigMaps("archfit").Get(ctx, "archfit-rollbacks", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := ParseRecords(cm)
	if err != nil {
		t.Fatal(err)
	}
	rs := all[digestA]
	if len(rs) != 2 || rs[0].Reason != ReasonExecFormatError || rs[1].Arch != "s390x" || rs[0].Time.IsZero() {
		t.Fatalf("records = %+v", rs)
	}
}

func TestWatchRecords(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(recordsMap(t, map[string][]Record{digestA: {{Arch: "arm64"}}}, nil))
	var r Records
	errs := make(chan error, 4)
	f, synced, err := WatchRecords(client, "archfit", "archfit-rollbacks", &r, func(err error) { errs <- err })
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	defer func() {
		cancel()
		f.Shutdown()
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the initial list", func() bool { return synced() && r.Has(digestA, "arm64") })

	if _, err := AddRecord(ctx, client, "archfit", "archfit-rollbacks", digestB, Record{Arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	waitFor("the added record", func() bool { return r.Has(digestB, "amd64") })

	cm, err := client.CoreV1().ConfigMaps("archfit").Get(ctx, "archfit-rollbacks", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["bad"] = "x"
	if _, err := client.CoreV1().ConfigMaps("archfit").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "bad") {
			t.Errorf("onError heard %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a malformed entry was not reported")
	}

	if err := client.CoreV1().ConfigMaps("archfit").Delete(ctx, "archfit-rollbacks", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the deletion", func() bool { return r.DeniedArchitectures(digestA) == nil })
}

// A runtime may report the index's, the platform manifest's or the
// config's digest as imageID: each must find the record, whatever key it
// is stored under, and only for the record's arch.
func TestRecordsMatchEveryDigestForm(t *testing.T) {
	const (
		index    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		manifest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
		config   = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
		amdMan   = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	)
	for _, key := range []string{index, manifest, config} {
		t.Run(key[7:11], func(t *testing.T) {
			var r Records
			cm := recordsMap(t, map[string][]Record{key: {{Arch: "arm64", Reason: ReasonExecFormatError, Digests: []string{index, manifest, config}}}}, nil)
			if err := r.Set(cm); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{index, manifest, config} {
				if !r.Has(d, "arm64") {
					t.Errorf("record under %s: %s does not find it", key, d)
				}
				if r.Has(d, "amd64") {
					t.Errorf("record under %s: %s denies amd64 too", key, d)
				}
				k, rec, ok := r.Lookup(d, "arm64")
				if !ok || k != key || rec.Reason != ReasonExecFormatError {
					t.Errorf("Lookup(%s) = %q, %+v, %v; want the record under %s", d, k, rec, ok, key)
				}
			}
			if r.Has(amdMan, "arm64") {
				t.Error("another platform's manifest digest finds the record")
			}
			if got := r.DeniedArchitectures(index); !slices.Equal(got, []string{"arm64"}) {
				t.Errorf("denied for the index = %v, want [arm64] once", got)
			}
			if inc := r.Incomplete(); len(inc) != 0 {
				t.Errorf("Incomplete = %v for a record with its digests", inc)
			}
		})
	}
	var r Records
	r.Add(manifest, Record{Arch: "arm64", Image: "app:1"})
	if inc := r.Incomplete(); len(inc[manifest]) != 1 {
		t.Fatalf("Incomplete = %v, want the record without digests", inc)
	}
	if r.Has(index, "arm64") {
		t.Fatal("before its digests are known, the index digest finds the record")
	}
	r.Add(manifest, Record{Arch: "arm64", Image: "app:1", Digests: []string{index, manifest, config}})
	if !r.Has(index, "arm64") || len(r.All()[manifest]) != 1 || len(r.Incomplete()) != 0 {
		t.Fatalf("after Add with digests: all %+v", r.All())
	}
}

func TestSetDigests(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	if _, err := AddRecord(ctx, cs, "archfit", "archfit-rollbacks", digestA, Record{Arch: "arm64", Image: "app:1"}); err != nil {
		t.Fatal(err)
	}
	wrote, err := SetDigests(ctx, cs, "archfit", "archfit-rollbacks", digestA, "arm64", []string{digestB, digestA})
	if err != nil || !wrote {
		t.Fatalf("SetDigests = %v, %v", wrote, err)
	}
	cm, err := cs.CoreV1().ConfigMaps("archfit").Get(ctx, "archfit-rollbacks", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := ParseRecords(cm)
	if err != nil {
		t.Fatal(err)
	}
	if got := all[digestA]; len(got) != 1 || !slices.Equal(got[0].Digests, []string{digestB, digestA}) || got[0].Image != "app:1" {
		t.Fatalf("record after SetDigests: %+v", got)
	}
	// Once set, they are kept; a cleared record is not brought back.
	if wrote, err := SetDigests(ctx, cs, "archfit", "archfit-rollbacks", digestA, "arm64", []string{digestA}); wrote || err != nil {
		t.Fatalf("second SetDigests = %v, %v; want nothing written", wrote, err)
	}
	if wrote, err := SetDigests(ctx, cs, "archfit", "archfit-rollbacks", digestB, "arm64", []string{digestB}); wrote || err != nil {
		t.Fatalf("SetDigests of a key that is not there = %v, %v", wrote, err)
	}
}

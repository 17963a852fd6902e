package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
)

var (
	d1 = "sha256:" + strings.Repeat("a", 64)
	d2 = "sha256:" + strings.Repeat("b", 64)
	d3 = "sha256:" + strings.Repeat("c", 64)
	t1 = metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	t2 = metav1.NewTime(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	t3 = metav1.NewTime(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
)

func node(name, arch string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if arch != "" {
		n.Labels[imageplatform.LabelArch] = arch
	}
	return n
}

func controller(kind, name, uid string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}}
}

func objectMeta(ns, name, uid string, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Annotations: annotations}
}

type podOpt func(*corev1.Pod)

func pod(ns, name, ownerKind, ownerName, ownerUID, nodeName string, cpus []string, opts ...podOpt) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: controller(ownerKind, ownerName, ownerUID)},
		Spec: corev1.PodSpec{NodeName: nodeName}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for i, c := range cpus {
		ctr := corev1.Container{Name: "c" + string(rune('0'+i)), Image: "app"}
		if c != "" {
			ctr.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(c)}
		}
		p.Spec.Containers = append(p.Spec.Containers, ctr)
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func terminating(p *corev1.Pod) { p.DeletionTimestamp = &t1 }
func succeeded(p *corev1.Pod)   { p.Status.Phase = corev1.PodSucceeded }

func running(digest string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c0", ImageID: "reg.example/app@" + digest}}
	}
}

// migrationFixture is a cluster mid-migration, priced at 0.05 per amd64
// vCPU-hour and 0.04 per arm64 one: a vCPU on arm64 saves 0.01 × 730 =
// 7.30 a month.
func migrationFixture() (*Report, *cluster) {
	rep := &Report{Currency: "USD", PricePerVCPU: map[string]float64{"amd64": 0.05, "arm64": 0.04, "s390x": 0.01},
		RollbackRecords: DefaultRollbackRecords,
		Rows: []Row{
			{Namespace: "plain", Kind: "Deployment", Name: "idle", Arm64Ready: "yes"},
			{Namespace: "plain", Kind: "Deployment", Name: "other", Arm64Ready: "yes"},
			{Namespace: "plain", Kind: "StatefulSet", Name: "cache", Arm64Ready: "yes"},
			{Namespace: "shop", Kind: "DaemonSet", Name: "agent", Arm64Ready: "yes"},
			{Namespace: "shop", Kind: "Deployment", Name: "api", Arm64Ready: "unknown"},
			{Namespace: "shop", Kind: "Deployment", Name: "web", Arm64Ready: "yes"},
			{Namespace: "shop", Kind: "StatefulSet", Name: "db", Arm64Ready: "yes"},
		}}
	one := []string{"1"}
	c := &cluster{
		nodes: []corev1.Node{node("amd-1", "amd64"), node("arm-1", "arm64"), node("noarch", "")},
		namespaces: []corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{migration.TargetAnnotation: "10%"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		},
		deployments: []appsv1.Deployment{
			{ObjectMeta: objectMeta("shop", "web", "dep-web", map[string]string{
				migration.TargetAnnotation: "20%, 50% after 7d, 100% after 7d",
				migration.StepAnnotation:   "1 2026-03-01T00:00:00Z 20%, 50% after 7d, 100% after 7d",
				migration.PausedAnnotation: "rollback: ExecFormatError on arm64",
			})},
			{ObjectMeta: objectMeta("shop", "api", "dep-api", nil)},
			{ObjectMeta: objectMeta("plain", "idle", "dep-idle", nil)},
			{ObjectMeta: objectMeta("plain", "other", "dep-other", nil)},
		},
		statefulSets: []appsv1.StatefulSet{
			{ObjectMeta: objectMeta("shop", "db", "ss-db", map[string]string{migration.TargetAnnotation: "100%"})},
			{ObjectMeta: objectMeta("plain", "cache", "ss-cache", map[string]string{migration.TargetAnnotation: "fast"})},
		},
		replicaSets: []appsv1.ReplicaSet{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "rs-web-1", OwnerReferences: controller("Deployment", "web", "dep-web")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-2", UID: "rs-web-2", OwnerReferences: controller("Deployment", "web", "dep-web")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-1", UID: "rs-api-1", OwnerReferences: controller("Deployment", "api", "dep-api")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "plain", Name: "other-1", UID: "rs-other-1", OwnerReferences: controller("Deployment", "other", "dep-other")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "lone", UID: "rs-lone"}},
		},
		pods: []corev1.Pod{
			pod("shop", "w1", "ReplicaSet", "web-1", "rs-web-1", "arm-1", one),
			pod("shop", "w2", "ReplicaSet", "web-1", "rs-web-1", "arm-1", []string{""}), // no request: priced as 100m
			pod("shop", "w3", "ReplicaSet", "web-1", "rs-web-1", "amd-1", []string{"500m"}),
			pod("shop", "w4", "ReplicaSet", "web-1", "rs-web-1", "amd-1", []string{"250m"}, running(d1)), // rolled back from arm64
			pod("shop", "w5", "ReplicaSet", "web-2", "rs-web-2", "amd-1", []string{"200m", "300m"}),
			pod("shop", "w6", "ReplicaSet", "web-1", "rs-web-1", "arm-1", one, terminating),
			pod("shop", "w7", "ReplicaSet", "web-1", "rs-web-1", "", one),
			pod("shop", "w8", "ReplicaSet", "web-1", "rs-web-1", "amd-1", one, succeeded),
			pod("shop", "w9", "ReplicaSet", "web-1", "rs-web-1", "noarch", one),
			pod("shop", "w10", "ReplicaSet", "web-1", "stale-uid", "arm-1", one),
			pod("shop", "w11", "ReplicaSet", "web-1", "rs-web-1", "gone", one),
			pod("shop", "a1", "ReplicaSet", "api-1", "rs-api-1", "amd-1", one),
			pod("shop", "a2", "ReplicaSet", "api-1", "rs-api-1", "arm-1", []string{"2"}),
			pod("shop", "db-0", "StatefulSet", "db", "ss-db", "arm-1", []string{"2"}),
			pod("shop", "db-1", "StatefulSet", "db", "ss-db", "amd-1", []string{"1500m"}),
			pod("shop", "l1", "ReplicaSet", "lone", "rs-lone", "arm-1", one),
			pod("shop", "ag1", "DaemonSet", "agent", "ds-agent", "arm-1", one),
			pod("plain", "o1", "ReplicaSet", "other-1", "rs-other-1", "amd-1", one),
		},
		records: map[string][]migration.Record{
			d1: {{Arch: "arm64", Reason: migration.ReasonExecFormatError, Message: "exec format error", Image: "reg/web:1", Workload: "Deployment/shop/web", Time: t2}},
			d2: {{Arch: "arm64", Reason: migration.ReasonArchCrashLoop, Image: "reg/idle:1", Workload: "Deployment/plain/idle", Time: t1},
				{Arch: "s390x", Reason: migration.ReasonExecFormatError, Image: "reg/idle:1", Workload: "Deployment/plain/idle", Time: t3}},
			d3: {{Arch: "arm64", Reason: migration.ReasonExecFormatError, Image: "reg/lone:1", Workload: "ReplicaSet/shop/lone", Time: t3}},
		},
	}
	return rep, c
}

func TestMigrate(t *testing.T) {
	rep, c := migrationFixture()
	rep.migrate(c)

	type view struct {
		target, targetErr bool
		fromNS            bool
		percent           int
		paused            string
		arm64, total      int
		saved, toGain     float64
		rollbacks         []string // digest arch
	}
	got := map[string]*view{}
	for _, r := range rep.Rows {
		k := r.Kind + "/" + r.Namespace + "/" + r.Name
		if r.Migration == nil {
			got[k] = nil
			continue
		}
		m := r.Migration
		v := &view{target: m.Target != "", targetErr: m.TargetError != "", fromNS: m.TargetFromNamespace, percent: m.TargetPercent,
			paused: m.Paused, arm64: m.ARM64Pods, total: m.Pods, saved: m.SavedMonthly, toGain: m.ToGainMonthly}
		for _, rb := range m.Rollbacks {
			v.rollbacks = append(v.rollbacks, rb.Digest+" "+rb.Arch)
		}
		got[k] = v
	}
	want := map[string]*view{
		// w1 (1 vCPU) and w2 (0.1) on arm64 save 1.1 × 7.30; w3 (0.5) and
		// w5 (0.2 + 0.3) would gain 1.0 × 7.30; w4 counts but runs d1,
		// rolled back from arm64, so gains nothing; w6–w11 are terminating,
		// unbound, finished, on a node of no or unknown arch, or owned by a
		// stale ReplicaSet, and do not count.
		"Deployment/shop/web": {target: true, percent: 50, paused: "rollback: ExecFormatError on arm64",
			arm64: 2, total: 5, saved: 8.03, toGain: 7.30, rollbacks: []string{d1 + " arm64"}},
		// The namespace's target; images unknown, so nothing to gain.
		"Deployment/shop/api": {target: true, fromNS: true, percent: 10, arm64: 1, total: 2, saved: 14.60},
		// Its own 100% overrides the namespace's.
		"StatefulSet/shop/db":  {target: true, percent: 100, arm64: 1, total: 2, saved: 14.60, toGain: 10.95},
		"DaemonSet/shop/agent": nil,
		// A rollback for every arch that names it, in time order.
		"Deployment/plain/idle":   {rollbacks: []string{d2 + " arm64", d2 + " s390x"}},
		"Deployment/plain/other":  {total: 1, toGain: 7.30},
		"StatefulSet/plain/cache": {target: true, targetErr: true},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s:\n got  %+v\n want %+v", k, got[k], w)
		}
	}
	var all []string
	for _, rb := range rep.Rollbacks {
		all = append(all, rb.Digest+" "+rb.Arch+" "+rb.Workload)
	}
	wantAll := []string{d2 + " arm64 Deployment/plain/idle", d1 + " arm64 Deployment/shop/web",
		d2 + " s390x Deployment/plain/idle", d3 + " arm64 ReplicaSet/shop/lone"}
	if !reflect.DeepEqual(all, wantAll) {
		t.Errorf("rollbacks:\n got  %q\n want %q", all, wantAll)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", rep.Warnings)
	}
}

func TestMigrateWithoutARM64Price(t *testing.T) {
	rep, c := migrationFixture()
	delete(rep.PricePerVCPU, "arm64")
	rep.migrate(c)
	for _, r := range rep.Rows {
		if m := r.Migration; m != nil && (m.SavedMonthly != 0 || m.ToGainMonthly != 0) {
			t.Errorf("%s/%s: saved %v, to gain %v without an arm64 price, want 0", r.Namespace, r.Name, m.SavedMonthly, m.ToGainMonthly)
		}
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "no price per vCPU") {
		t.Errorf("warnings = %q, want the missing price", rep.Warnings)
	}
}

func TestRollbackRecords(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	good := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "archfit", Name: "archfit-rollbacks"}, Data: map[string]string{
		migration.Key(d1): `[{"arch":"arm64","reason":"ExecFormatError","image":"reg/web:1","workload":"Deployment/shop/web","time":"2026-03-02T10:00:00Z"}]`}}
	bad := good.DeepCopy()
	bad.Data["oops"] = "{"
	for _, tc := range []struct {
		name        string
		cm          *corev1.ConfigMap
		err         error
		records     int
		warn, fails bool
	}{
		{name: "missing: none yet", err: apierrors.NewNotFound(gr, "archfit-rollbacks")},
		{name: "forbidden: a warning", err: apierrors.NewForbidden(gr, "archfit-rollbacks", errors.New("no RBAC")), warn: true},
		{name: "other errors fail", err: apierrors.NewInternalError(errors.New("etcd")), fails: true},
		{name: "records", cm: good, records: 1},
		{name: "malformed key: the rest and a warning", cm: bad, records: 1, warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, warn, err := rollbackRecords(DefaultRollbackRecords, tc.cm, tc.err)
			if (err != nil) != tc.fails || (warn != "") != tc.warn || len(recs) != tc.records {
				t.Errorf("got %d records, warning %q, error %v", len(recs), warn, err)
			}
			if tc.records > 0 && (recs[d1][0].Workload != "Deployment/shop/web" || !recs[d1][0].Time.Equal(&t2)) {
				t.Errorf("record = %+v", recs[d1])
			}
		})
	}
}

func TestWriteMigrationTable(t *testing.T) {
	rep, c := migrationFixture()
	rep.migrate(c)
	rep.Warnings = []string{"namespaces' targets not read: forbidden"}
	var b bytes.Buffer
	if err := rep.WriteMigrationTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = strings.Join(f, " ")
		}
	}
	for first, want := range map[string]string{
		"WORKLOAD":                "WORKLOAD TARGET NOW(%) ARM64/TOTAL SAVED USD/MO TO GAIN USD/MO ROLLBACKS",
		"Deployment/shop/web":     "Deployment/shop/web 20%, 50% after 7d, 100% after 7d (in force 50%; paused: rollback: ExecFormatError on arm64) 40 2/5 8.03 7.30 1",
		"Deployment/shop/api":     "Deployment/shop/api 10% (in force 10%; from namespace) 50 1/2 14.60 0.00 0",
		"StatefulSet/plain/cache": "StatefulSet/plain/cache fast (invalid) - 0/0 0.00 0.00 0",
		"Deployment/plain/idle":   "Deployment/plain/idle none - 0/0 0.00 0.00 2",
		d3:                        d3 + " arm64 ExecFormatError ReplicaSet/shop/lone 2026-03-03T10:00:00Z",
	} {
		if lines[first] != want {
			t.Errorf("line %s:\n got  %q\n want %q\n%s", first, lines[first], want, out)
		}
	}
	for _, absent := range []string{"Deployment/plain/other", "DaemonSet/shop/agent"} {
		if _, ok := lines[absent]; ok {
			t.Errorf("%s has no target and no rollback and should not be listed:\n%s", absent, out)
		}
	}
	for _, want := range []string{
		"\nMigration\n",
		"\nRollback records (ConfigMap archfit/archfit-rollbacks)\n",
		`  kubectl -n archfit patch configmap archfit-rollbacks --type json -p '[{"op":"remove","path":"/data/sha256-` + strings.Repeat("b", 64) + `"}]'` + "\n",
		"\nwarning: namespaces' targets not read: forbidden\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// One command per digest, though d2 has two records.
	if n := strings.Count(out, "kubectl "); n != 3 {
		t.Errorf("%d clear commands, want 3 (one per digest):\n%s", n, out)
	}

	b.Reset()
	if err := (&Report{Rows: []Row{{Kind: "Deployment", Migration: &Migration{Pods: 3}}}}).WriteMigrationTable(&b); err != nil || b.Len() != 0 {
		t.Errorf("a report without targets or rollbacks wrote %q (%v), want nothing", b.String(), err)
	}
}

func TestMigrationJSON(t *testing.T) {
	rep, c := migrationFixture()
	rep.migrate(c)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Workloads []struct {
			Name      string         `json:"name"`
			Migration map[string]any `json:"migration"`
		} `json:"workloads"`
		Rollbacks []map[string]any `json:"rollbacks"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rollbacks) != 4 || doc.Rollbacks[0]["digest"] != d2 || doc.Rollbacks[0]["workload"] != "Deployment/plain/idle" || doc.Rollbacks[0]["time"] != "2026-03-01T10:00:00Z" {
		t.Errorf("rollbacks = %v", doc.Rollbacks)
	}
	for _, w := range doc.Workloads {
		if w.Name == "web" {
			m := w.Migration
			if m["target"] != "20%, 50% after 7d, 100% after 7d" || m["targetPercent"] != 50.0 || m["arm64Pods"] != 2.0 || m["pods"] != 5.0 ||
				m["savedMonthly"] != 8.03 || m["toGainMonthly"] != 7.3 || len(m["rollbacks"].([]any)) != 1 {
				t.Errorf("web's migration = %v", m)
			}
		}
		if w.Name == "agent" && w.Migration != nil {
			t.Errorf("a DaemonSet has no migration: %v", w.Migration)
		}
	}
}

// The plan: a node whose pods can all go to arm64 is one to empty; a node
// that keeps an amd64-only pod is not, nor is a pod whose image has an
// arm64 rollback record (in any digest form) movable.
func TestPlan(t *testing.T) {
	ready := func(name, it string) corev1.Node {
		n := node(name, "amd64")
		n.Labels["node.kubernetes.io/instance-type"] = it
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		return n
	}
	const armManifest = "sha256:" + "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	rep := &Report{Currency: "USD", Rows: []Row{
		{Namespace: "shop", Kind: "Deployment", Name: "web", Arm64Ready: "yes", Migration: &Migration{}},
		{Namespace: "shop", Kind: "Deployment", Name: "legacy", Arm64Ready: "no", Migration: &Migration{}},
		{Namespace: "shop", Kind: "Deployment", Name: "liar", Arm64Ready: "yes", Migration: &Migration{}},
	}}
	c := &cluster{
		nodes: []corev1.Node{ready("amd-1", "m6i.large"), ready("amd-2", "m6i.large"), ready("amd-3", "m6i.large")},
		deployments: []appsv1.Deployment{{ObjectMeta: objectMeta("shop", "web", "dep-web", nil)}, {ObjectMeta: objectMeta("shop", "legacy", "dep-legacy", nil)},
			{ObjectMeta: objectMeta("shop", "liar", "dep-liar", nil)}},
		replicaSets: []appsv1.ReplicaSet{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "rs-web", OwnerReferences: controller("Deployment", "web", "dep-web")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "legacy-1", UID: "rs-legacy", OwnerReferences: controller("Deployment", "legacy", "dep-legacy")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "liar-1", UID: "rs-liar", OwnerReferences: controller("Deployment", "liar", "dep-liar")}},
		},
		pods: []corev1.Pod{
			pod("shop", "legacy-a", "ReplicaSet", "legacy-1", "rs-legacy", "amd-1", []string{"600m"}),
			pod("shop", "web-a", "ReplicaSet", "web-1", "rs-web", "amd-1", []string{"600m"}),
			pod("shop", "web-b", "ReplicaSet", "web-1", "rs-web", "amd-2", []string{"600m"}),
			pod("shop", "web-c", "ReplicaSet", "web-1", "rs-web", "amd-2", []string{"600m"}),
			pod("shop", "liar-a", "ReplicaSet", "liar-1", "rs-liar", "amd-3", []string{"600m"}, running(armManifest)),
		},
		// Keyed by the index digest; the pod reports the arm64 manifest's.
		records: map[string][]migration.Record{d1: {{Arch: "arm64", Digests: []string{d1, armManifest}}}},
	}
	rep.plan(c, cost.New(cost.DefaultTable(), cost.DefaultArchitectureWeights(), ""))
	p := rep.Plan
	if p == nil || len(p.Nodes) != 1 || p.Nodes[0].Node != "amd-2" || !reflect.DeepEqual(p.Nodes[0].Pods, []string{"shop/web-b", "shop/web-c"}) {
		t.Fatalf("plan %+v, want amd-2 alone emptied (amd-1 keeps legacy, amd-3 keeps liar)", p)
	}
	table := cost.DefaultTable().InstanceTypes
	amd, arm := table["m6i.large"].HourlyPrice, table["m6g.large"].HourlyPrice
	if p.NowMonthly != round(3*amd*HoursPerMonth) || p.AfterMonthly != round((2*amd+arm)*HoursPerMonth) || p.Nodes[0].SavingMonthly != round((amd-arm)*HoursPerMonth) {
		t.Fatalf("plan %+v, want now %v, after %v", p, round(3*amd*HoursPerMonth), round((2*amd+arm)*HoursPerMonth))
	}
	if p.BoundMonthly > p.AfterMonthly {
		t.Fatalf("bound %v above after %v", p.BoundMonthly, p.AfterMonthly)
	}
	var out bytes.Buffer
	if err := rep.WriteMigrationTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Plan (the nodes' cost per month", "amd-2", money(p.NowMonthly), money(p.AfterMonthly), money(p.BoundMonthly)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table output lacks %q:\n%s", want, out.String())
		}
	}
}

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/archfit/archfit/cmd/archfit/report"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/internal/migration"
	"github.com/archfit/archfit/test/harness/registrytest"
)

func reportScenario(t *testing.T, cp *controlPlane) {
	cs := cp.client
	ctx := context.Background()
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	private := registrytest.New()
	t.Cleanup(private.Close)
	for _, err := range []error{
		second(reg.PushIndex("app/web:1", []string{"linux/amd64", "linux/arm64"}, false, true)),
		second(reg.PushImage("app/db:1", "linux/amd64", false)),
		second(reg.PushImage("app/migrate:1", "linux/arm64", false)),
		second(private.PushIndex("team/api:1", []string{"linux/amd64", "linux/arm64"}, true, false)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	private.RequireBasicAuth("robot", "hunter2")
	// The only nodes when this runs: m6i.large 0.096/2 = 0.048 and
	// m7g.large 0.0816/2 = 0.0408 per vCPU-hour.
	createNode(t, cs, "report", "report-amd", "amd64", instanceType("m6i.large"))
	createNode(t, cs, "report", "report-arm", "arm64", instanceType("m7g.large"))

	createNamespace(t, cs, "shop")
	createNamespace(t, cs, "private")
	web, db, mig := reg.Host+"/app/web:1", reg.Host+"/app/db:1", reg.Host+"/app/migrate:1"
	spec := func(image, cpu string, init ...string) corev1.PodTemplateSpec {
		s := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}
		for _, i := range init {
			s.InitContainers = append(s.InitContainers, corev1.Container{Name: "init", Image: i})
		}
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: s}
	}
	three, two := int32(3), int32(2)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{Replicas: &three, Selector: sel, Template: spec(web, "500m")}}, metav1.CreateOptions{}))
	must(cs.AppsV1().StatefulSets("shop").Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.StatefulSetSpec{Replicas: &two, Selector: sel, Template: spec(db, "1")}}, metav1.CreateOptions{}))
	must(cs.AppsV1().DaemonSets("shop").Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: spec(web, "100m", db)}}, metav1.CreateOptions{}))
	jobSpec := spec(mig, "250m")
	jobSpec.Spec.RestartPolicy = corev1.RestartPolicyNever
	must(cs.BatchV1().Jobs("shop").Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate"}, Spec: batchv1.JobSpec{Parallelism: &two, Template: jobSpec}}, metav1.CreateOptions{}))
	cronSpec := spec(web, "1")
	cronSpec.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj, err := cs.BatchV1().CronJobs("shop").Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}, Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: cronSpec}}}}, metav1.CreateOptions{})
	must(cj, err)
	// A Job the CronJob started: reported through the CronJob, not twice.
	must(cs.BatchV1().Jobs("shop").Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-123", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "batch/v1", Kind: "CronJob", Name: "nightly", UID: cj.UID}}}, Spec: batchv1.JobSpec{Template: cronSpec}}, metav1.CreateOptions{}))
	// A bare pod whose registry does not answer.
	must(cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"}, Spec: spec("127.0.0.1:1/tools/debug:1", "100m").Spec}, metav1.CreateOptions{}))
	// A private image, readable with the namespace's pull secret.
	must(cs.CoreV1().Secrets("private").Create(ctx, dockerConfigSecret("private", "robot-pull", private.Host, "robot", "hunter2"), metav1.CreateOptions{}))
	apiSpec := spec(private.Host+"/team/api:1", "2")
	apiSpec.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "robot-pull"}}
	one := int32(1)
	must(cs.AppsV1().Deployments("private").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: sel, Template: apiSpec}}, metav1.CreateOptions{}))

	r, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(reg.Host, private.Host, "127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	rep, err := report.Run(ctx, report.Options{Client: cs, Resolver: r, Prices: cost.New(cost.DefaultTable(), nil, ""), UsePullSecrets: true, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, row := range rep.Rows {
		if row.Namespace != "shop" && row.Namespace != "private" {
			continue
		}
		got[row.Namespace+"/"+row.Kind+"/"+row.Name] = fmt.Sprintf("replicas=%d cpu=%.2f ready=%s blocked=%v errors=%d cheapest=%s monthly=%.2f amd64=%.2f",
			row.Replicas, row.CPU, row.Arm64Ready, row.BlockingImages, len(row.ImageErrors), row.CheapestArch, row.ProjectedMonthly, row.AMD64Monthly)
	}
	want := map[string]string{
		"shop/Deployment/web":    "replicas=3 cpu=1.50 ready=yes blocked=[] errors=0 cheapest=arm64 monthly=44.68 amd64=52.56",
		"shop/StatefulSet/db":    fmt.Sprintf("replicas=2 cpu=2.00 ready=no blocked=[%s] errors=0 cheapest=amd64 monthly=70.08 amd64=70.08", db),
		"shop/DaemonSet/agent":   fmt.Sprintf("replicas=1 cpu=0.10 ready=no blocked=[%s] errors=0 cheapest=amd64 monthly=3.50 amd64=3.50", db),
		"shop/Job/migrate":       "replicas=2 cpu=0.50 ready=yes blocked=[] errors=0 cheapest=arm64 monthly=14.89 amd64=17.52",
		"shop/CronJob/nightly":   "replicas=1 cpu=1.00 ready=yes blocked=[] errors=0 cheapest=arm64 monthly=29.78 amd64=35.04",
		"shop/Pod/debug":         "replicas=1 cpu=0.10 ready=unknown blocked=[] errors=1 cheapest=amd64 monthly=3.50 amd64=3.50",
		"private/Deployment/api": "replicas=1 cpu=2.00 ready=yes blocked=[] errors=0 cheapest=arm64 monthly=59.57 amd64=70.08",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got  %s\n want %s", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rows = %v, want exactly %d (the CronJob's own Job is not listed)", got, len(want))
	}
	for _, n := range rep.Namespaces {
		if n.Namespace == "shop" && (n.Workloads != 6 || n.Arm64Ready != 3) {
			t.Errorf("shop rollup = %+v, want 6 workloads, 3 arm64-ready", n)
		}
	}
	if rep.PriceSource["arm64"] != "node report-arm" || rep.PriceSource["amd64"] != "node report-amd" {
		t.Errorf("prices should come from the cluster's nodes: %v", rep.PriceSource)
	}
	if !strings.Contains(progress.String(), "resolving images") {
		t.Error("no progress was shown")
	}
	// Here, while report-amd and report-arm are still the only nodes.
	t.Run("migration", func(t *testing.T) { reportMigrationScenario(t, cp) })
}

// reportMigrationScenario checks the report's migration view of a
// Deployment mid-ramp: its target, its pods' arches through its
// ReplicaSet, the savings at report-amd's and report-arm's prices (0.048 −
// 0.0408 = 0.0072 per vCPU-hour, 5.256 per vCPU-month) and its rollback
// records.
func reportMigrationScenario(t *testing.T, cp *controlPlane) {
	cs := cp.client
	ctx := context.Background()
	reg := registrytest.New()
	t.Cleanup(reg.Close)
	digest, err := reg.PushIndex("app/web:1", []string{"linux/amd64", "linux/arm64"}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	image := reg.Host + "/app/web:1"
	ns := "ramp"
	createNamespace(t, cs, ns)

	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}}}
	dep, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
		migration.TargetAnnotation: "25%, 50% after 7d",
		migration.StepAnnotation:   "1 2026-03-01T00:00:00Z 25%, 50% after 7d",
		migration.PausedAnnotation: "rollback: ExecFormatError on arm64",
	}}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No controller-manager runs here: the ReplicaSet the Deployment
	// controller would make, by hand.
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Scenarios after this one run the Deployment, ReplicaSet and
	// migration controllers over every namespace: leave them nothing here.
	t.Cleanup(func() {
		now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
		_ = cs.AppsV1().Deployments(ns).Delete(ctx, dep.Name, now)
		_ = cs.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, now)
		_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, now, metav1.ListOptions{})
	})
	replica := func(name string, opts ...podOpt) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: *tmpl.Spec.DeepCopy()}
		p.Spec.SchedulerName = "none" // the unbound one stays unbound
		for _, o := range append([]podOpt{ownedBy("ReplicaSet", rs.Name, string(rs.UID))}, opts...) {
			o(p)
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	replica("web-arm", onNode("report-arm"))
	replica("web-amd-1", onNode("report-amd"))
	replica("web-amd-2", onNode("report-amd"))
	replica("web-pending")
	replica("web-leaving", onNode("report-arm"))
	// A bound pod is deleted gracefully: with no kubelet to confirm, it
	// stays, terminating.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-leaving", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-leaving", metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("web-leaving should be terminating: %v, %v", p, err)
	}

	at := metav1.NewTime(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	data := map[string]string{}
	for d, recs := range map[string][]migration.Record{
		digest:                              {{Arch: "arm64", Reason: migration.ReasonExecFormatError, Message: "exec /app: exec format error", Image: image, Workload: "Deployment/ramp/web", Time: at}},
		"sha256:" + strings.Repeat("0", 64): {{Arch: "arm64", Reason: migration.ReasonArchCrashLoop, Image: reg.Host + "/app/other:1", Workload: "StatefulSet/elsewhere/other", Time: at}},
	} {
		b, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		data[migration.Key(d)] = string(b)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rollbacks"}, Data: data}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r, err := imageplatform.NewRegistryResolver(imageplatform.WithInsecureRegistries(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Run(ctx, report.Options{Client: cs, Resolver: r, Prices: cost.New(cost.DefaultTable(), nil, ""), Namespace: ns, RollbackRecords: ns + "/rollbacks"})
	if err != nil {
		t.Fatal(err)
	}
	var m *report.Migration
	for _, row := range rep.Rows {
		if row.Kind == "Deployment" && row.Name == "web" {
			if row.Arm64Ready != "yes" {
				t.Errorf("web arm64Ready = %q, want yes", row.Arm64Ready)
			}
			m = row.Migration
		}
	}
	if m == nil {
		t.Fatalf("no migration view for Deployment/ramp/web: %+v", rep.Rows)
	}
	// web-arm on arm64 saves 0.5 × 5.256; web-amd-1 and -2 would gain
	// 1.0 × 5.256; web-pending (unbound) and web-leaving (terminating) do
	// not count.
	got := fmt.Sprintf("target=%q percent=%d paused=%q arm64=%d/%d saved=%.2f toGain=%.2f",
		m.Target, m.TargetPercent, m.Paused, m.ARM64Pods, m.Pods, m.SavedMonthly, m.ToGainMonthly)
	want := `target="25%, 50% after 7d" percent=50 paused="rollback: ExecFormatError on arm64" arm64=1/3 saved=2.63 toGain=5.26`
	if got != want {
		t.Errorf("migration:\n got  %s\n want %s", got, want)
	}
	if len(m.Rollbacks) != 1 || m.Rollbacks[0].Digest != digest || m.Rollbacks[0].Arch != "arm64" ||
		m.Rollbacks[0].Reason != migration.ReasonExecFormatError || m.Rollbacks[0].Image != image || !m.Rollbacks[0].Time.Equal(&at) {
		t.Errorf("web's rollbacks = %+v, want the one record for %s", m.Rollbacks, digest)
	}
	if len(rep.Rollbacks) != 2 || rep.RollbackRecords != "ramp/rollbacks" {
		t.Errorf("report rollbacks from %q = %+v, want both records", rep.RollbackRecords, rep.Rollbacks)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", rep.Warnings)
	}
}

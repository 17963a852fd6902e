package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/cmd/archfit/report"
	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
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
}

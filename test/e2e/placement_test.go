//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/archfit/archfit/test/harness/testcerts"
)

// placementWebhook is the MutatingWebhookConfiguration manifests/base
// installs for archfit-placement.
const (
	placementWebhook = "archfit-placement"
	placementGate    = "archfit.dev/image-platforms"
)

// startPlacement runs archfit-placement as its Deployment would, from the
// image, with its ServiceAccount's token and the installed webhook
// configuration pointed at it on loopback, and returns once the API server
// sends it pods. Everything the CA cases need from placement goes through
// here.
//
// extra flags replace the Deployment's flag of the same name, or are added.
func (c *cluster) startPlacement(t *testing.T, extra ...string) {
	t.Helper()
	ctx := context.Background()
	bin := filepath.Join(c.bins, "archfit-placement")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("archfit's image lacks archfit-placement (cmd/archfit-images/imagebuild.DefaultPackages): %v", err)
	}
	dep, err := c.cs.AppsV1().Deployments("archfit").Get(ctx, "archfit-placement", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("manifests/base installed no Deployment archfit/archfit-placement: %v", err)
	}

	tlsDir := filepath.Join(c.dir, "placement-tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := testcerts.NewCA("archfit-placement-e2e")
	if err != nil {
		t.Fatal(err)
	}
	_, certFile, keyFile, err := ca.WriteFiles(tlsDir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	kc := c.serviceAccountKubeconfig(t, dep.Spec.Template.Spec.ServiceAccountName)
	webhookAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	replace := map[string]string{"--webhook-address": webhookAddr, "--metrics-address": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--tls-cert-file": certFile, "--tls-private-key-file": keyFile, "--kubeconfig": kc}
	ctr := dep.Spec.Template.Spec.Containers[0]
	var args []string
	for _, a := range ctr.Args {
		flag, _, _ := strings.Cut(a, "=")
		switch {
		case a == "--in-cluster":
			args = append(args, "--kubeconfig="+kc)
			delete(replace, "--kubeconfig")
		case replace[flag] != "":
			args = append(args, flag+"="+replace[flag])
			delete(replace, flag)
		default:
			args = append(args, a)
		}
	}
	if v, ok := replace["--kubeconfig"]; ok {
		args = append(args, "--kubeconfig="+v)
		delete(replace, "--kubeconfig")
	}
	if len(replace) != 0 {
		t.Fatalf("the archfit-placement Deployment no longer sets %v", replace)
	}
	args = append(args, "--insecure-registry="+c.reg.Host)
	for _, x := range extra {
		name, _, _ := strings.Cut(x, "=")
		kept := args[:0]
		for _, a := range args {
			if f, _, _ := strings.Cut(a, "="); f != name {
				kept = append(kept, a)
			}
		}
		args = append(kept, x)
	}

	// The Deployment's environment, with what the downward API would give
	// a pod of it: the binary may take its namespace (leases, Events) from
	// there.
	envArgs := []string{}
	for _, ev := range ctr.Env {
		v := ev.Value
		if ev.ValueFrom != nil && ev.ValueFrom.FieldRef != nil {
			switch ev.ValueFrom.FieldRef.FieldPath {
			case "metadata.namespace":
				v = dep.Namespace
			case "metadata.name":
				v = "archfit-placement-e2e"
			}
		}
		envArgs = append(envArgs, ev.Name+"="+v)
	}
	p := start(t, c.dir, "archfit-placement", "env", append(append(envArgs, bin), args...)...)
	c.placement = p

	// Up once its webhook serves anything at all over TLS.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("exited: %v", p.err)
		}
		_, _, err := get("https://"+webhookAddr+"/", "")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("archfit-placement's webhook never answered on %s: %v\n%s", webhookAddr, err, p.tail(40))
	}

	// The installed configuration names the Service; on loopback the API
	// server calls the process by URL instead, same path, trusting our CA.
	mwc, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, placementWebhook, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("manifests/base installed no MutatingWebhookConfiguration %s: %v", placementWebhook, err)
	}
	for i := range mwc.Webhooks {
		cc := &mwc.Webhooks[i].ClientConfig
		path := "/"
		if cc.Service != nil && cc.Service.Path != nil {
			path = *cc.Service.Path
		}
		url := "https://" + webhookAddr + path
		cc.Service, cc.URL, cc.CABundle = nil, &url, ca.CertPEM
	}
	if _, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The API server picks the change up asynchronously: a dry-run create
	// (webhooks must declare no side effects on dry run) shows when pods
	// go through placement.
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "placement-probe", Namespace: "default"}, Spec: corev1.PodSpec{
		SchedulerName: "archfit-scheduler",
		Containers:    []corev1.Container{{Name: "app", Image: c.reg.Host + "/app/multi:1"}},
	}}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := c.cs.CoreV1().Pods(probe.Namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("affinity %v, gates %v", got.Spec.Affinity, got.Spec.SchedulingGates)
		gated := false
		for _, g := range got.Spec.SchedulingGates {
			gated = gated || g.Name == placementGate
		}
		return requiredArches(got) != nil || gated, nil
	})
	if err != nil {
		t.Fatalf("pods do not go through archfit-placement: %v (last: %s)\n%s", err, last, p.tail(40))
	}
}

package manifests

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	placementapp "github.com/archfit/archfit/internal/placement/app"
)

func TestBasePlacement(t *testing.T) {
	objs := build(t, "base")
	var d appsv1.Deployment
	objs.get(t, "Deployment", "archfit", "archfit-placement", &d)
	checkHardened(t, &d)
	checkPDB(t, objs, &d)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if err := placementapp.ParseAndValidate(c.Args); err != nil {
		t.Fatalf("archfit-placement refuses the Deployment's args: %v", err)
	}

	svc := checkServed(t, objs, &d, "webhook-address", "archfit-placement-tls")

	// The webhook configuration calls that Service, on the handler's path,
	// for exactly the pods the flags put in scope, and never blocks.
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	objs.get(t, "MutatingWebhookConfiguration", "", "archfit-placement", &mwc)
	if len(mwc.Webhooks) != 2 {
		t.Fatalf("%d webhooks, want by-scheduler and by-namespace", len(mwc.Webhooks))
	}
	sched, _ := flagValue(c.Args, "scheduler-name")
	nsSel, _ := flagValue(c.Args, "namespace-selector")
	nsKey, nsVal, _ := strings.Cut(nsSel, "=")
	podNS := "archfit" // POD_NAMESPACE, always skipped
	skip, _ := flagValue(c.Args, "skip-namespaces")
	for _, w := range mwc.Webhooks {
		s := w.ClientConfig.Service
		if s == nil || s.Name != svc.Name || s.Namespace != svc.Namespace || s.Path == nil || *s.Path != placementapp.WebhookPath || s.Port == nil || *s.Port != 443 {
			t.Errorf("%s: clientConfig %+v does not reach the Service's 443 on %s", w.Name, w.ClientConfig.Service, placementapp.WebhookPath)
		}
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
			t.Errorf("%s: failurePolicy must be Ignore: an outage must not block pod creation", w.Name)
		}
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
			t.Errorf("%s: timeoutSeconds %v; admission must stay short", w.Name, w.TimeoutSeconds)
		}
		if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects must be None (dry-run requests are answered the same way)", w.Name)
		}
		if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) || !slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
			t.Errorf("%s: rules %+v, want pod CREATE only", w.Name, w.Rules)
		}
		// Never kube-system or archfit's own namespace.
		sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		for _, ns := range append(strings.Split(skip, ","), podNS) {
			if sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns, nsKey: nsVal}) {
				t.Errorf("%s: namespaceSelector admits %s", w.Name, ns)
			}
		}
		var conds []string
		for _, mc := range w.MatchConditions {
			conds = append(conds, mc.Expression)
		}
		switch w.Name {
		case "by-scheduler.placement.archfit.dev":
			if !slices.Contains(conds, "object.spec.schedulerName == '"+sched+"'") {
				t.Errorf("%s: matchConditions %q do not select --scheduler-name %s", w.Name, conds, sched)
			}
			if !sel.Matches(labels.Set{"kubernetes.io/metadata.name": "team-a"}) {
				t.Errorf("%s: does not reach an ordinary namespace", w.Name)
			}
		case "by-namespace.placement.archfit.dev":
			if !sel.Matches(labels.Set{"kubernetes.io/metadata.name": "team-a", nsKey: nsVal}) || sel.Matches(labels.Set{"kubernetes.io/metadata.name": "team-a"}) {
				t.Errorf("%s: namespaceSelector does not match --namespace-selector %s exactly", w.Name, nsSel)
			}
		default:
			t.Errorf("unexpected webhook %s", w.Name)
		}
	}

	// The shipped mode is DryRun: moves are an operator's decision.
	if mode, _ := flagValue(c.Args, "migration-mode"); mode != "DryRun" {
		t.Errorf("--migration-mode=%q, want DryRun on install", mode)
	}

	// RBAC: update pods, watch namespaces, its Lease, Events; and for
	// migration: watch nodes and taint the one it empties, patch workloads,
	// evict, the records.
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: spec.ServiceAccountName, Namespace: "archfit"}
	var cr rbacv1.ClusterRole
	objs.get(t, "ClusterRole", "", "archfit-placement", &cr)
	for _, g := range []struct{ group, res, verb string }{
		{"", "pods", "update"}, {"", "pods", "watch"}, {"", "pods", "list"}, {"", "namespaces", "watch"}, {"events.k8s.io", "events", "create"},
		{"", "nodes", "watch"}, {"", "nodes", "patch"}, {"", "pods/eviction", "create"},
		{"apps", "deployments", "patch"}, {"apps", "statefulsets", "patch"}, {"apps", "replicasets", "patch"},
		{"apps", "deployments", "watch"}, {"apps", "statefulsets", "watch"}, {"apps", "replicasets", "watch"},
	} {
		if !grants(cr.Rules, g.group, g.res, "", g.verb) {
			t.Errorf("ClusterRole archfit-placement cannot %s %s", g.verb, g.res)
		}
	}
	if !boundTo(objs, "ClusterRoleBinding", cr.Name, sa, "") {
		t.Error("the ClusterRole is not bound to archfit-placement")
	}
	leaseNS, _ := flagValue(c.Args, "leader-elect-resource-namespace")
	leaseName := placementapp.NewOptions().LeaderElectName
	var role rbacv1.Role
	objs.get(t, "Role", leaseNS, "archfit-placement-leader-election", &role)
	if !grants(role.Rules, "coordination.k8s.io", "leases", leaseName, "update") || !grants(role.Rules, "coordination.k8s.io", "leases", "", "create") {
		t.Errorf("cannot hold Lease %s/%s", leaseNS, leaseName)
	}
	if !boundTo(objs, "RoleBinding", role.Name, sa, leaseNS) {
		t.Error("the leader election Role is not bound to archfit-placement")
	}
	records, _ := flagValue(c.Args, "rollback-records")
	recNS, recName, _ := strings.Cut(records, "/")
	if recNS != leaseNS {
		t.Fatalf("--rollback-records %q: the test expects them in %s", records, leaseNS)
	}
	for _, verb := range []string{"get", "list", "watch", "create", "update"} {
		if !grants(role.Rules, "", "configmaps", recName, verb) {
			t.Errorf("cannot %s the rollback records ConfigMap %s", verb, records)
		}
	}
}

func TestCertManagerPlacement(t *testing.T) {
	objs := build(t, "overlays/cert-manager")
	var cert struct {
		Metadata struct{ Namespace, Name string } `json:"metadata"`
		Spec     struct {
			SecretName string   `json:"secretName"`
			DNSNames   []string `json:"dnsNames"`
		} `json:"spec"`
	}
	objs.get(t, "Certificate", "archfit", "archfit-placement", &cert)
	if cert.Spec.SecretName != "archfit-placement-tls" {
		t.Errorf("the Certificate writes %q, placement mounts archfit-placement-tls", cert.Spec.SecretName)
	}
	if !slices.Contains(cert.Spec.DNSNames, "archfit-placement.archfit.svc") {
		t.Errorf("dnsNames %v lack archfit-placement.archfit.svc, the host kube-apiserver dials", cert.Spec.DNSNames)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	objs.get(t, "MutatingWebhookConfiguration", "", "archfit-placement", &mwc)
	if got := mwc.Annotations["cert-manager.io/inject-ca-from"]; got != "archfit/archfit-placement" {
		t.Errorf("inject-ca-from = %q, want archfit/archfit-placement", got)
	}
}

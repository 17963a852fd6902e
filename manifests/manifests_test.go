package manifests

import (
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/component-base/logs"
	"k8s.io/klog/v2/ktesting"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	"github.com/archfit/archfit/expander"
	expanderapp "github.com/archfit/archfit/expander/app"
	"github.com/archfit/archfit/plugins/apis/config"
	_ "github.com/archfit/archfit/plugins/apis/config/scheme"
	"github.com/archfit/archfit/plugins/apis/config/validation"
	"github.com/archfit/archfit/plugins/archfit"
)

// objects is a kustomize build's output with typed look-ups.
type objects []*unstructured.Unstructured

func (o objects) get(t *testing.T, kind, ns, name string, into any) {
	t.Helper()
	for _, u := range o {
		if u.GetKind() == kind && u.GetNamespace() == ns && u.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
				t.Fatalf("%s %s/%s: %v", kind, ns, name, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s/%s in the build", kind, ns, name)
}

// configMap finds a generated ConfigMap by its name before kustomize's hash
// suffix, and checks that the hash is there (so a content change rolls the
// Deployment).
func (o objects) configMap(t *testing.T, ns, prefix string) *corev1.ConfigMap {
	t.Helper()
	for _, u := range o {
		if u.GetKind() == "ConfigMap" && u.GetNamespace() == ns && strings.HasPrefix(u.GetName(), prefix+"-") {
			var cm corev1.ConfigMap
			o.get(t, "ConfigMap", ns, u.GetName(), &cm)
			return &cm
		}
	}
	t.Fatalf("no generated ConfigMap %s/%s-<hash>", ns, prefix)
	return nil
}

func build(t *testing.T, dir string) objects {
	t.Helper()
	objs, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func compose(t *testing.T, resources, components []string) objects {
	t.Helper()
	objs, err := Compose(resources, components)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func flagValue(args []string, name string) (string, bool) {
	v, ok := "", false
	for _, a := range args {
		if after, found := strings.CutPrefix(a, "--"+name+"="); found {
			v, ok = after, true // the last occurrence wins, as with pflag
		}
	}
	return v, ok
}

func TestEveryTargetAndComponentBuilds(t *testing.T) {
	for _, dir := range Targets() {
		t.Run(dir, func(t *testing.T) {
			if objs := build(t, dir); len(objs) < 10 {
				t.Fatalf("only %d objects", len(objs))
			}
		})
	}
	for _, c := range Components() {
		t.Run(c, func(t *testing.T) {
			res := []string{"base"}
			if c == "components/cluster-autoscaler" {
				res = []string{"../test/testdata/manifests/cluster-autoscaler"}
			}
			compose(t, res, []string{c})
		})
	}
	// Every component together, as a full install would be.
	compose(t, []string{"overlays/cert-manager"}, []string{"components/servicemonitor", "components/pull-secrets"})
}

// checkSchedulerConfig is what the scheduler does with its --config at
// start-up: kube-scheduler's strict loader and validation, then ArchFit's.
func checkSchedulerConfig(t *testing.T, body string) (*schedconfig.KubeSchedulerConfiguration, *config.ArchFitArgs, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	logger, _ := ktesting.NewTestContext(t)
	cfg, err := options.LoadConfigFromFile(logger, p)
	if err != nil {
		return nil, nil, err
	}
	if err := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		return nil, nil, err
	}
	var args *config.ArchFitArgs
	for _, prof := range cfg.Profiles {
		for _, pc := range prof.PluginConfig {
			if a, ok := pc.Args.(*config.ArchFitArgs); ok && pc.Name == archfit.Name {
				if err := validation.ValidateArchFitArgs(nil, a); err != nil {
					return nil, nil, err
				}
				args = a
			}
		}
	}
	return cfg, args, nil
}

// schedulerFlags parses the container's args with archfit-scheduler's own
// command, so an unknown or misspelt flag fails here.
func schedulerFlags(t *testing.T, args []string) {
	t.Helper()
	cmd := schedapp.NewSchedulerCommand(schedapp.WithPlugin(archfit.Name, archfit.New))
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("archfit-scheduler %v: %v", args, err)
	}
}

func expanderOptions(t *testing.T, args []string) {
	t.Helper()
	cmd := expanderapp.NewCommand()
	logs.AddFlags(cmd.PersistentFlags()) // as component-base's cli.Run does in main
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("archfit-expander %v: %v", args, err)
	}
}

func mountedFile(t *testing.T, spec corev1.PodSpec, c corev1.Container, file string) corev1.Volume {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path.Dir(file) == m.MountPath {
			for _, v := range spec.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
		}
	}
	t.Fatalf("%s is not in a mounted volume of container %s", file, c.Name)
	return corev1.Volume{}
}

func checkHardened(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	s := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("%s: replicas %v, want 2", d.Name, d.Spec.Replicas)
	}
	if s.Affinity == nil || s.Affinity.PodAntiAffinity == nil {
		t.Fatalf("%s: no pod anti-affinity", d.Name)
	}
	spread := false
	for _, term := range s.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.PodAffinityTerm.LabelSelector)
		if err == nil && term.PodAffinityTerm.TopologyKey == "kubernetes.io/hostname" && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			spread = true
		}
	}
	if !spread {
		t.Errorf("%s: anti-affinity does not spread its own pods across nodes", d.Name)
	}
	if s.SecurityContext == nil || s.SecurityContext.RunAsNonRoot == nil || !*s.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot is not set", d.Name)
	}
	for _, c := range s.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s/%s: want a read-only root filesystem and no privilege escalation, got %+v", d.Name, c.Name, sc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s/%s: no resource requests", d.Name, c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s/%s: want liveness and readiness probes", d.Name, c.Name)
		}
		want := "archfit:dev"
		if d.Name == "archfit-scheduler" {
			// kube-scheduler's build for one minor, never newer than the
			// API server: the newest minor's by default.
			want = "archfit:dev-k8s1.37"
		}
		if c.Image != want {
			t.Errorf("%s/%s: image %q, want the kustomize-managed %s", d.Name, c.Name, c.Image, want)
		}
	}
}

func checkPDB(t *testing.T, objs objects, d *appsv1.Deployment) {
	t.Helper()
	var pdb policyv1.PodDisruptionBudget
	objs.get(t, "PodDisruptionBudget", d.Namespace, d.Name, &pdb)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("PodDisruptionBudget %s does not select the Deployment's pods (%v)", pdb.Name, err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget %s: minAvailable %v, want 1", pdb.Name, pdb.Spec.MinAvailable)
	}
}

func probePort(t *testing.T, c corev1.Container, p *corev1.Probe) int32 {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("%s: probe is not an HTTP GET", c.Name)
	}
	for _, port := range c.Ports {
		if port.Name == p.HTTPGet.Port.String() || port.ContainerPort == p.HTTPGet.Port.IntVal {
			return port.ContainerPort
		}
	}
	t.Fatalf("%s: probe port %s is not a container port", c.Name, p.HTTPGet.Port.String())
	return 0
}

func boundTo(objs objects, kind, roleName string, sa rbacv1.Subject, ns string) bool {
	for _, u := range objs {
		if u.GetKind() != kind || u.GetNamespace() != ns {
			continue
		}
		var ref rbacv1.RoleRef
		var subjects []rbacv1.Subject
		switch kind {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b) != nil {
				continue
			}
			ref, subjects = b.RoleRef, b.Subjects
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &b) != nil {
				continue
			}
			ref, subjects = b.RoleRef, b.Subjects
		}
		if ref.Name == roleName && slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == sa.Kind && s.Name == sa.Name && s.Namespace == sa.Namespace
		}) {
			return true
		}
	}
	return false
}

func TestBaseScheduler(t *testing.T) {
	objs := build(t, "base")
	var ns corev1.Namespace
	objs.get(t, "Namespace", "", "archfit", &ns)

	var d appsv1.Deployment
	objs.get(t, "Deployment", "archfit", "archfit-scheduler", &d)
	checkHardened(t, &d)
	checkPDB(t, objs, &d)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/archfit-scheduler" {
		t.Errorf("command %v", c.Command)
	}
	schedulerFlags(t, c.Args)

	// The probes hit kube-scheduler's own health endpoints on its secure
	// port (10259 unless --secure-port says otherwise).
	if _, set := flagValue(c.Args, "secure-port"); set {
		t.Fatal("--secure-port is set; the probes assume 10259")
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if probePort(t, c, p) != 10259 || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("probe %+v is not on the scheduler's HTTPS port 10259", p.HTTPGet)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probe paths %s, %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}

	// --config names a key of the mounted, generated ConfigMap, and that key
	// is a config the scheduler accepts.
	cfgPath, ok := flagValue(c.Args, "config")
	if !ok {
		t.Fatal("no --config")
	}
	vol := mountedFile(t, spec, c, cfgPath)
	cm := objs.configMap(t, "archfit", "archfit-scheduler-config")
	if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Name {
		t.Fatalf("--config volume %+v is not the ConfigMap %s", vol, cm.Name)
	}
	body, ok := cm.Data[path.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cm.Name, path.Base(cfgPath))
	}
	shipped, err := os.ReadFile(filepath.Join("..", "scheduler-config", path.Base(cfgPath)))
	if err != nil || string(shipped) != body {
		t.Fatalf("the ConfigMap's %s is not scheduler-config/'s file (%v)", path.Base(cfgPath), err)
	}
	for key, data := range cm.Data {
		if _, _, err := checkSchedulerConfig(t, data); err != nil {
			t.Errorf("ConfigMap key %s: %v", key, err)
		}
	}
	cfg, args, err := checkSchedulerConfig(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if args == nil || args.UsePullSecrets {
		t.Errorf("the base must not read pull secrets: %+v", args)
	}

	// RBAC: kube-scheduler's roles, and the lease the config names.
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: spec.ServiceAccountName, Namespace: "archfit"}
	var acct corev1.ServiceAccount
	objs.get(t, "ServiceAccount", "archfit", sa.Name, &acct)
	for _, role := range []string{"system:kube-scheduler", "system:volume-scheduler"} {
		if !boundTo(objs, "ClusterRoleBinding", role, sa, "") {
			t.Errorf("%s is not bound to %s", sa.Name, role)
		}
	}
	if !boundTo(objs, "RoleBinding", "extension-apiserver-authentication-reader", sa, "kube-system") {
		t.Error("the scheduler cannot read the API server's client CA for its secure port")
	}
	le := cfg.LeaderElection
	if !le.LeaderElect {
		t.Fatal("leader election is off in the deployed config")
	}
	var role rbacv1.Role
	objs.get(t, "Role", le.ResourceNamespace, "archfit-scheduler-leader-election", &role)
	if !grants(role.Rules, "coordination.k8s.io", "leases", le.ResourceName, "update") ||
		!grants(role.Rules, "coordination.k8s.io", "leases", "", "create") {
		t.Errorf("the Role does not let the scheduler hold lease %s/%s: %+v", le.ResourceNamespace, le.ResourceName, role.Rules)
	}
	if !boundTo(objs, "RoleBinding", role.Name, sa, le.ResourceNamespace) {
		t.Errorf("%s is not bound to %s", sa.Name, role.Name)
	}

	// Migration: the plugin watches Deployments (a workload's target) and
	// the rollback records its args name; kube-scheduler waits for every
	// informer it starts, so a missing grant stops all scheduling.
	var mig rbacv1.ClusterRole
	objs.get(t, "ClusterRole", "", "archfit-scheduler-migration", &mig)
	if !grants(mig.Rules, "apps", "deployments", "", "watch") || !grants(mig.Rules, "apps", "deployments", "", "list") || !boundTo(objs, "ClusterRoleBinding", mig.Name, sa, "") {
		t.Error("the scheduler cannot list and watch Deployments")
	}
	recNS, recName, _ := strings.Cut(args.RollbackRecords, "/")
	var rec rbacv1.Role
	objs.get(t, "Role", recNS, "archfit-scheduler-rollback-records", &rec)
	for _, verb := range []string{"get", "list", "watch"} {
		if !grants(rec.Rules, "", "configmaps", recName, verb) {
			t.Errorf("the scheduler cannot %s the rollback records %s", verb, args.RollbackRecords)
		}
	}
	if !boundTo(objs, "RoleBinding", rec.Name, sa, recNS) {
		t.Error("the rollback records Role is not bound to the scheduler")
	}
}

func grants(rules []rbacv1.PolicyRule, group, resource, name, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) &&
			slices.Contains(r.Verbs, verb) && (len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

// A typo in scheduler-config/ reaches the ConfigMap and must fail the same
// checks the test above passes.
func TestSchedulerConfigTypoFails(t *testing.T) {
	cm := build(t, "base").configMap(t, "archfit", "archfit-scheduler-config")
	body := cm.Data["archfit-scheduler.yaml"]
	for name, tc := range map[string]struct{ from, to string }{
		"misspelt ArchFit field":     {"fallbackArchitectures:", "fallbackArchitecture:"},
		"misspelt scheduler field":   {"  - schedulerName:", "  - schedulerNam:"},
		"ArchFit value out of range": {"lookupBudget: 100ms", "lookupBudget: 1h"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := strings.Replace(body, tc.from, tc.to, 1)
			if bad == body {
				t.Fatalf("%q is not in the deployed config", tc.from)
			}
			if _, _, err := checkSchedulerConfig(t, bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// checkServed checks what every archfit server's Deployment must get
// right: its Service of the same name selects its pods and port 443
// reaches the address flag, its probes are on --metrics-address, and its
// TLS files come from tlsSecret. It returns the Service.
func checkServed(t *testing.T, objs objects, d *appsv1.Deployment, addrFlag, tlsSecret string) corev1.Service {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	var svc corev1.Service
	objs.get(t, "Service", d.Namespace, d.Name, &svc)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Fatalf("the Service does not select %s's pods", d.Name)
	}
	addr, _ := flagValue(c.Args, addrFlag)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--%s %q: %v", addrFlag, addr, err)
	}
	var target string
	for _, p := range svc.Spec.Ports {
		if p.Port == 443 {
			target = p.TargetPort.String()
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return (p.Name == target || itoa(p.ContainerPort) == target) && itoa(p.ContainerPort) == port
	}) {
		t.Errorf("Service port 443 -> %q does not reach --%s %s", target, addrFlag, addr)
	}
	metricsAddr, _ := flagValue(c.Args, "metrics-address")
	_, metricsPort, _ := net.SplitHostPort(metricsAddr)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if itoa(probePort(t, c, p)) != metricsPort {
			t.Errorf("probe %+v is not on --metrics-address %s", p.HTTPGet, metricsAddr)
		}
	}
	cert, _ := flagValue(c.Args, "tls-cert-file")
	key, _ := flagValue(c.Args, "tls-private-key-file")
	v := mountedFile(t, spec, c, cert)
	if v.Secret == nil || v.Secret.SecretName != tlsSecret || mountedFile(t, spec, c, key).Name != v.Name {
		t.Errorf("TLS files %s, %s are not from Secret %s: %+v", cert, key, tlsSecret, v)
	}
	return svc
}

func TestBaseExpander(t *testing.T) {
	objs := build(t, "base")
	var d appsv1.Deployment
	objs.get(t, "Deployment", "archfit", "archfit-expander", &d)
	checkHardened(t, &d)
	checkPDB(t, objs, &d)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	expanderOptions(t, c.Args)

	checkServed(t, objs, &d, "grpc-address", "archfit-expander-tls")

	// The policy file is the generated ConfigMap and parses as a policy.
	pf, _ := flagValue(c.Args, "policy-file")
	pv := mountedFile(t, spec, c, pf)
	cm := objs.configMap(t, "archfit", "archfit-expander-policy")
	if pv.ConfigMap == nil || pv.ConfigMap.Name != cm.Name {
		t.Fatalf("--policy-file volume %+v is not ConfigMap %s", pv, cm.Name)
	}
	if _, err := expander.ParsePolicy([]byte(cm.Data[path.Base(pf)])); err != nil {
		t.Errorf("the deployed policy does not parse: %v", err)
	}

	// RBAC: the priority ConfigMap the expander watches by default, and
	// Events.
	defaults := expanderapp.NewCommand().Flags()
	cmNS := defaults.Lookup("priority-configmap-namespace").DefValue
	cmName := defaults.Lookup("priority-configmap-name").DefValue
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: spec.ServiceAccountName, Namespace: "archfit"}
	var role rbacv1.Role
	objs.get(t, "Role", cmNS, "archfit-expander-priorities", &role)
	for _, verb := range []string{"get", "list", "watch"} {
		if !grants(role.Rules, "", "configmaps", cmName, verb) {
			t.Errorf("cannot %s ConfigMap %s/%s", verb, cmNS, cmName)
		}
	}
	if !boundTo(objs, "RoleBinding", role.Name, sa, cmNS) {
		t.Error("the priorities Role is not bound to the expander")
	}
	recNS, recName, _ := strings.Cut(defaults.Lookup("rollback-records").DefValue, "/")
	var rec rbacv1.Role
	objs.get(t, "Role", recNS, "archfit-expander-rollback-records", &rec)
	for _, verb := range []string{"get", "list", "watch"} {
		if !grants(rec.Rules, "", "configmaps", recName, verb) {
			t.Errorf("the expander cannot %s the rollback records %s/%s", verb, recNS, recName)
		}
	}
	if !boundTo(objs, "RoleBinding", rec.Name, sa, recNS) {
		t.Error("the rollback records Role is not bound to the expander")
	}
	var cr rbacv1.ClusterRole
	objs.get(t, "ClusterRole", "", "archfit-expander", &cr)
	if !grants(cr.Rules, "events.k8s.io", "events", "", "create") || !boundTo(objs, "ClusterRoleBinding", cr.Name, sa, "") {
		t.Error("the expander cannot create Events")
	}
	// Secrets are opt-in: nothing in the base grants them.
	for _, u := range objs {
		if u.GetKind() == "ClusterRole" || u.GetKind() == "Role" {
			var r rbacv1.ClusterRole
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r)
			if grants(r.Rules, "", "secrets", "x", "get") || grants(r.Rules, "", "secrets", "x", "list") {
				t.Errorf("%s %s grants Secrets in the base", u.GetKind(), u.GetName())
			}
		}
	}
}

func TestPullSecretsComponent(t *testing.T) {
	objs := compose(t, []string{"base"}, []string{"components/pull-secrets"})
	var sched, exp appsv1.Deployment
	objs.get(t, "Deployment", "archfit", "archfit-scheduler", &sched)
	objs.get(t, "Deployment", "archfit", "archfit-expander", &exp)
	sc := sched.Spec.Template.Spec.Containers[0]
	cfgPath, _ := flagValue(sc.Args, "config")
	cm := objs.configMap(t, "archfit", "archfit-scheduler-config")
	_, args, err := checkSchedulerConfig(t, cm.Data[path.Base(cfgPath)])
	if err != nil {
		t.Fatalf("%s: %v", cfgPath, err)
	}
	if args == nil || !args.UsePullSecrets {
		t.Errorf("--config %s does not turn usePullSecrets on", cfgPath)
	}
	ec := exp.Spec.Template.Spec.Containers[0]
	expanderOptions(t, ec.Args)
	if !slices.Contains(ec.Args, "--use-pull-secrets") {
		t.Errorf("expander args %v lack --use-pull-secrets", ec.Args)
	}
	var cr rbacv1.ClusterRole
	objs.get(t, "ClusterRole", "", "archfit-pull-secrets", &cr)
	for _, res := range []string{"secrets", "serviceaccounts"} {
		for _, verb := range []string{"get", "list", "watch"} {
			if !grants(cr.Rules, "", res, "", verb) {
				t.Errorf("cannot %s %s", verb, res)
			}
		}
	}
	for _, d := range []appsv1.Deployment{sched, exp} {
		sa := rbacv1.Subject{Kind: "ServiceAccount", Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: "archfit"}
		if !boundTo(objs, "ClusterRoleBinding", cr.Name, sa, "") {
			t.Errorf("%s is not bound to %s", sa.Name, cr.Name)
		}
	}
}

func TestCertManagerOverlay(t *testing.T) {
	objs := build(t, "overlays/cert-manager")
	var cert struct {
		Spec struct {
			SecretName string   `json:"secretName"`
			DNSNames   []string `json:"dnsNames"`
			IssuerRef  struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"issuerRef"`
		} `json:"spec"`
	}
	objs.get(t, "Certificate", "archfit", "archfit-expander", &cert)
	if cert.Spec.SecretName != "archfit-expander-tls" {
		t.Errorf("the Certificate writes %q, the expander mounts archfit-expander-tls", cert.Spec.SecretName)
	}
	var svc corev1.Service
	objs.get(t, "Service", "archfit", "archfit-expander", &svc)
	if host := svc.Name + "." + svc.Namespace + ".svc"; !slices.Contains(cert.Spec.DNSNames, host) {
		t.Errorf("dnsNames %v lack %s, the host CA dials", cert.Spec.DNSNames, host)
	}
	var issuer struct {
		Spec struct {
			CA *struct {
				SecretName string `json:"secretName"`
			} `json:"ca"`
		} `json:"spec"`
	}
	objs.get(t, cert.Spec.IssuerRef.Kind, "archfit", cert.Spec.IssuerRef.Name, &issuer)
	if issuer.Spec.CA == nil {
		t.Fatalf("issuer %s is not a CA issuer, so the TLS Secret's ca.crt would not be a stable trust root", cert.Spec.IssuerRef.Name)
	}
	var ca struct {
		Spec struct {
			IsCA       bool   `json:"isCA"`
			SecretName string `json:"secretName"`
		} `json:"spec"`
	}
	objs.get(t, "Certificate", "archfit", "archfit-expander-ca", &ca)
	if !ca.Spec.IsCA || ca.Spec.SecretName != issuer.Spec.CA.SecretName {
		t.Errorf("the CA issuer's Secret %q is not issued by a CA Certificate: %+v", issuer.Spec.CA.SecretName, ca.Spec)
	}
}

func TestServiceMonitorComponent(t *testing.T) {
	objs := compose(t, []string{"base"}, []string{"components/servicemonitor"})
	for _, name := range []string{"archfit-scheduler", "archfit-expander", "archfit-placement"} {
		var sm struct {
			Spec struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				Endpoints []struct {
					Port string `json:"port"`
				} `json:"endpoints"`
			} `json:"spec"`
		}
		objs.get(t, "ServiceMonitor", "archfit", name, &sm)
		// A Service the monitor selects must expose the named port.
		matched := false
		for _, u := range objs {
			if u.GetKind() != "Service" || u.GetNamespace() != "archfit" {
				continue
			}
			if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(u.GetLabels())) {
				continue
			}
			var svc corev1.Service
			objs.get(t, "Service", "archfit", u.GetName(), &svc)
			for _, p := range svc.Spec.Ports {
				if len(sm.Spec.Endpoints) == 1 && p.Name == sm.Spec.Endpoints[0].Port {
					matched = true
				}
			}
		}
		if !matched {
			t.Errorf("ServiceMonitor %s selects no Service with port %v", name, sm.Spec.Endpoints)
		}
	}
	var cr rbacv1.ClusterRole
	objs.get(t, "ClusterRole", "", "archfit-metrics-reader", &cr)
	if len(cr.Rules) != 1 || !slices.Contains(cr.Rules[0].NonResourceURLs, "/metrics") {
		t.Errorf("archfit-metrics-reader: %+v", cr.Rules)
	}
}

// The CA patch, applied to a cluster-autoscaler Deployment shaped like the
// upstream examples, points CA at the Service the base creates.
func TestClusterAutoscalerComponent(t *testing.T) {
	objs := compose(t, []string{"../test/testdata/manifests/cluster-autoscaler"}, []string{"components/cluster-autoscaler"})
	var ca appsv1.Deployment
	objs.get(t, "Deployment", "kube-system", "cluster-autoscaler", &ca)
	c := ca.Spec.Template.Spec.Containers[0]
	argv := append(append([]string{}, c.Command...), c.Args...)
	if v, _ := flagValue(argv, "expander"); v != "grpc,priority" {
		t.Errorf("effective --expander = %q, want grpc,priority (argv %v)", v, argv)
	}
	if !slices.Contains(argv, "--cloud-provider=aws") {
		t.Errorf("CA's own flags were lost: %v", argv)
	}
	url, _ := flagValue(argv, "grpc-expander-url")
	certFile, _ := flagValue(argv, "grpc-expander-cert")
	v := mountedFile(t, ca.Spec.Template.Spec, c, certFile)
	if v.ConfigMap == nil || v.ConfigMap.Name != "archfit-expander-ca" {
		t.Errorf("--grpc-expander-cert %s is not from ConfigMap archfit-expander-ca: %+v", certFile, v)
	}
	base := build(t, "base")
	var svc corev1.Service
	base.get(t, "Service", "archfit", "archfit-expander", &svc)
	if want := svc.Name + "." + svc.Namespace + ".svc:443"; url != want {
		t.Errorf("--grpc-expander-url = %q, want %q", url, want)
	}
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

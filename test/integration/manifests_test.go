package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/archfit/archfit/manifests"
)

// manifestsScenario applies every kustomize target with server-side apply,
// dry-run and strict field validation, to the real kube-apiserver: the API
// server's own validation and admission (RBAC references, Pod templates,
// PodDisruptionBudgets, priority classes) judge what an operator would
// apply. cert-manager's and the Prometheus operator's kinds are served by
// the minimal CRDs in test/testdata/crds (see its README).
func manifestsScenario(t *testing.T, cp *controlPlane) {
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cp.client.Discovery()))
	sa := &manifests.Applier{Dynamic: dyn, Mapper: mapper, FieldManager: "archfit-manifests-test"}

	// Prerequisites, applied for real: the CRDs, and the namespace, which
	// admission requires to exist even for a dry-run of what lives in it.
	for _, f := range []string{"cert-manager.yaml", "prometheus-operator.yaml"} {
		for _, crd := range readObjects(t, filepath.Join("..", "testdata", "crds", f)) {
			if err := sa.Apply(ctx, crd, false); err != nil {
				t.Fatal(err)
			}
			waitEstablished(t, dyn, crd.GetName())
		}
	}
	mapper.Reset()
	base, err := manifests.Build("../../manifests/base")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range base {
		if o.GetKind() == "Namespace" {
			if err := sa.Apply(ctx, o, false); err != nil {
				t.Fatal(err)
			}
		}
	}

	targets := map[string]func() ([]*unstructured.Unstructured, error){}
	for _, dir := range manifests.Targets() {
		targets[dir] = func() ([]*unstructured.Unstructured, error) {
			return manifests.Build(filepath.Join("..", "..", "manifests", dir))
		}
	}
	for _, c := range manifests.Components() {
		res := "../../manifests/base"
		if c == "components/cluster-autoscaler" {
			res = "../testdata/manifests/cluster-autoscaler"
		}
		targets["base+"+c] = func() ([]*unstructured.Unstructured, error) {
			return manifests.Compose([]string{res}, []string{filepath.Join("..", "..", "manifests", c)})
		}
	}
	for name, build := range targets {
		t.Run(name, func(t *testing.T) {
			objs, err := build()
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if err := sa.Apply(ctx, o, true); err != nil {
					t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}

	// The dry-run must be able to say no, or the passes above mean nothing.
	t.Run("the dry-run rejects broken objects", func(t *testing.T) {
		objs, err := manifests.Build("../../manifests/overlays/cert-manager")
		if err != nil {
			t.Fatal(err)
		}
		find := func(kind, name string) *unstructured.Unstructured {
			for _, o := range objs {
				if o.GetKind() == kind && o.GetName() == name {
					return o.DeepCopy()
				}
			}
			t.Fatalf("no %s %s", kind, name)
			return nil
		}
		for name, tc := range map[string]struct {
			obj    *unstructured.Unstructured
			mutate func(o map[string]any)
			want   string
		}{
			"misspelt field in the scheduler's container": {find("Deployment", "archfit-scheduler"), func(o map[string]any) {
				c := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				c["securityContext"].(map[string]any)["readOnlyRootFileSystem"] = true
			}, "readOnlyRootFileSystem"},
			"the expander's probe on a port it does not name": {find("Deployment", "archfit-expander"), func(o map[string]any) {
				c := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				c["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["port"] = "no-such-port-name-here"
			}, "port"},
			"a Certificate key algorithm cert-manager lacks": {find("Certificate", "archfit-expander"), func(o map[string]any) {
				o["spec"].(map[string]any)["privateKey"].(map[string]any)["algorithm"] = "DSA"
			}, "algorithm"},
		} {
			t.Run(name, func(t *testing.T) {
				tc.mutate(tc.obj.Object)
				err := sa.Apply(ctx, tc.obj, true)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a rejection mentioning %q", err, tc.want)
				}
			})
		}
	})
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

func apiextensionsGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

func waitEstablished(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	gvr := apiextensionsGVR()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crd, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if cm, ok := c.(map[string]any); ok && cm["type"] == "Established" && cm["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not established: %v", name, err)
	}
}

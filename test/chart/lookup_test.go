package chart

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// fakeAPI is just enough of kube-apiserver for Helm's lookup of Secrets:
// discovery of v1 and GET of one Secret.
type fakeAPI struct {
	mu      sync.Mutex
	secrets map[string]map[string]any // namespace/name
	gets    int
}

func newFakeAPI(t *testing.T) (*fakeAPI, *rest.Config) {
	f := &fakeAPI{secrets: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, &rest.Config{Host: srv.URL}
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	write := func(code int, v any) { w.WriteHeader(code); _ = json.NewEncoder(w).Encode(v) }
	notFound := func() {
		write(http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": r.URL.Path + " not found"})
	}
	switch p := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); {
	case r.URL.Path == "/api":
		write(200, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}})
	case r.URL.Path == "/api/v1":
		write(200, map[string]any{"kind": "APIResourceList", "groupVersion": "v1", "resources": []any{
			map[string]any{"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret", "verbs": []string{"get", "list"}},
		}})
	case r.Method == http.MethodGet && len(p) == 6 && p[0] == "api" && p[1] == "v1" && p[2] == "namespaces" && p[4] == "secrets":
		f.mu.Lock()
		f.gets++
		s, ok := f.secrets[p[3]+"/"+p[5]]
		f.mu.Unlock()
		if !ok {
			notFound()
			return
		}
		write(200, s)
	default:
		notFound()
	}
}

func (f *fakeAPI) put(s map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[at(s, "metadata", "namespace").(string)+"/"+at(s, "metadata", "name").(string)] = s
}

func (f *fakeAPI) remove(ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, ns+"/"+name)
}

// helm upgrade keeps the self-signed CA and certificates: the chart reads
// the Secrets back with lookup instead of generating new ones.
func TestSelfSignedSurvivesUpgrade(t *testing.T) {
	api, cfg := newFakeAPI(t)
	o := Options{Lookup: cfg}
	names := []string{"archfit-expander-ca", "archfit-expander-tls", "archfit-placement-tls"}
	data := func(r rendered, name string) map[string]any {
		d, _ := r.get(t, "Secret", "archfit", name)["data"].(map[string]any)
		return d
	}
	caBundles := func(r rendered) []any {
		var out []any
		for _, w := range asList(r.get(t, "MutatingWebhookConfiguration", "", "archfit-placement")["webhooks"]) {
			out = append(out, at(w, "clientConfig", "caBundle"))
		}
		return out
	}

	install := renderObjects(t, o)
	if api.gets == 0 {
		t.Fatal("the chart never looked the Secrets up")
	}
	for _, n := range names {
		api.put(install.get(t, "Secret", "archfit", n))
	}

	upgrade := renderObjects(t, o)
	for _, n := range names {
		if !equalJSON(data(install, n), data(upgrade, n)) {
			t.Errorf("%s regenerated on upgrade", n)
		}
	}
	if !equalJSON(caBundles(install), caBundles(upgrade)) {
		t.Error("webhook caBundle changed on upgrade")
	}
	if !equalJSON(install.get(t, "ConfigMap", "kube-system", "archfit-expander-ca")["data"], upgrade.get(t, "ConfigMap", "kube-system", "archfit-expander-ca")["data"]) {
		t.Error("CA's ConfigMap changed on upgrade")
	}

	// A deleted serving Secret is reissued by the same CA; the other stays.
	api.remove("archfit", "archfit-placement-tls")
	reissued := renderObjects(t, o)
	caPEM := secretData(t, install.get(t, "Secret", "archfit", "archfit-expander-ca"), "tls.crt")
	if equalJSON(data(install, "archfit-placement-tls"), data(reissued, "archfit-placement-tls")) {
		t.Error("archfit-placement-tls not reissued after deletion")
	}
	checkServing(t, reissued.get(t, "Secret", "archfit", "archfit-placement-tls"), caPEM, "archfit-placement.archfit.svc")
	if !equalJSON(data(install, "archfit-expander-tls"), data(reissued, "archfit-expander-tls")) {
		t.Error("archfit-expander-tls changed when only archfit-placement-tls was deleted")
	}
	if !equalJSON(caBundles(install), caBundles(reissued)) {
		t.Error("caBundle changed when a serving certificate was reissued")
	}

	// A new CA (archfit-expander-ca deleted) reissues both serving
	// certificates under it, and the webhook and CA's ConfigMap follow.
	api.remove("archfit", "archfit-expander-ca")
	rotated := renderObjects(t, o)
	newCA := secretData(t, rotated.get(t, "Secret", "archfit", "archfit-expander-ca"), "tls.crt")
	if string(newCA) == string(caPEM) {
		t.Fatal("CA kept after its Secret was deleted")
	}
	checkServing(t, rotated.get(t, "Secret", "archfit", "archfit-expander-tls"), newCA, "archfit-expander.archfit.svc")
	checkServing(t, rotated.get(t, "Secret", "archfit", "archfit-placement-tls"), newCA, "archfit-placement.archfit.svc")
	for _, b := range caBundles(rotated) {
		if b != base64.StdEncoding.EncodeToString(newCA) {
			t.Error("caBundle is not the new CA")
		}
	}
	if got, _ := at(rotated.get(t, "ConfigMap", "kube-system", "archfit-expander-ca"), "data", "ca.crt").(string); strings.TrimSpace(got) != strings.TrimSpace(string(newCA)) {
		t.Error("CA's ConfigMap is not the new CA")
	}
}

// With cert-manager, CA's trust ConfigMap is written from the issued
// Secret's ca.crt once it exists.
func TestCertManagerCAConfigMapFromLookup(t *testing.T) {
	api, cfg := newFakeAPI(t)
	o := Options{Lookup: cfg, Set: []string{"tls.mode=certManager"}}
	if r := renderObjects(t, o); r.has("ConfigMap", "kube-system", "archfit-expander-ca") {
		t.Fatal("CA's ConfigMap before cert-manager issued anything")
	}
	// Any CA will do: take one the self-signed mode generates.
	caPEM := secretData(t, renderObjects(t, Options{}).get(t, "Secret", "archfit", "archfit-expander-ca"), "tls.crt")
	api.put(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": "archfit-expander-tls", "namespace": "archfit"},
		"data":     map[string]any{"ca.crt": base64.StdEncoding.EncodeToString(caPEM), "tls.crt": "", "tls.key": ""}})
	r := renderObjects(t, o)
	if got, _ := at(r.get(t, "ConfigMap", "kube-system", "archfit-expander-ca"), "data", "ca.crt").(string); strings.TrimSpace(got) != strings.TrimSpace(string(caPEM)) {
		t.Errorf("CA's ConfigMap ca.crt %q", got)
	}
	if r.has("Secret", "archfit", "archfit-expander-tls") {
		t.Error("the chart renders cert-manager's Secret")
	}
}

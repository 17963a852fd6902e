package scheme

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
)

const doc = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: archfit-scheduler
  pluginConfig:
  - name: ArchFit
    args:
      unknownImagePolicy: Deny
      insecureRegistries: ["registry.local:5000"]
      requestTimeout: 3s
      lookupBudget: 200ms
      architectureWeights: {arm64: 0.7, amd64: 1}
`

func decode(t *testing.T, b []byte) *schedconfig.KubeSchedulerConfiguration {
	t.Helper()
	codecs := serializer.NewCodecFactory(Scheme, serializer.EnableStrict)
	obj, _, err := codecs.UniversalDecoder().Decode(b, nil, nil)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T", obj)
	}
	return cfg
}

func argsOf(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration) *config.ArchFitArgs {
	t.Helper()
	for _, p := range cfg.Profiles {
		for _, pc := range p.PluginConfig {
			if a, ok := pc.Args.(*config.ArchFitArgs); ok {
				return a
			}
		}
	}
	t.Fatal("no ArchFitArgs in the decoded configuration")
	return nil
}

// Args written as v1 decode into the internal type with the inlined
// resolver settings filled, defaults applied to what was left out; encoded
// back to v1 and decoded again, they are unchanged.
func TestSchemeRoundTrip(t *testing.T) {
	got := argsOf(t, decode(t, []byte(doc)))
	want := v1.DefaultArchFitArgs()
	want.UnknownImagePolicy = "Deny"
	want.InsecureRegistries = []string{"registry.local:5000"}
	want.RequestTimeout = metav1.Duration{Duration: 3 * time.Second}
	want.LookupBudget = metav1.Duration{Duration: 200 * time.Millisecond}
	want.ArchitectureWeights = map[string]float64{"arm64": 0.7, "amd64": 1}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b metav1.TypeMeta) bool { return true })); d != "" {
		t.Fatalf("decoded args (-want +got):\n%s", d)
	}

	codecs := serializer.NewCodecFactory(Scheme)
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeYAML)
	if !ok {
		t.Fatal("no YAML serializer")
	}
	enc := codecs.EncoderForVersion(info.Serializer, v1.SchemeGroupVersion)
	out, err := runtime.Encode(enc, decode(t, []byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"unknownImagePolicy: Deny", "requestTimeout: 3s", "tagTTL: 1h0m0s", "lookupBudget: 200ms"} {
		if !strings.Contains(string(out), field) {
			t.Errorf("encoded v1 lacks %q at the args' top level:\n%s", field, out)
		}
	}
	again := argsOf(t, decode(t, out))
	if d := cmp.Diff(got, again, cmp.Comparer(func(a, b metav1.TypeMeta) bool { return true })); d != "" {
		t.Fatalf("round trip changed the args (-first +again):\n%s", d)
	}
}

// Strict decoding reaches the inlined settings: a typo in one is an error.
func TestInlinedSettingsDecodeStrictly(t *testing.T) {
	bad := strings.Replace(doc, "requestTimeout: 3s", "requestTimeot: 3s", 1)
	codecs := serializer.NewCodecFactory(Scheme, serializer.EnableStrict)
	_, _, err := codecs.UniversalDecoder().Decode([]byte(bad), nil, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown field "requestTimeot"`) {
		t.Fatalf("err = %v, want the unknown field named", err)
	}
}

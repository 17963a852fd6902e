package imageplatform_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	ip "github.com/archfit/archfit/internal/imageplatform"
)

// table resolves images from a fixed map; errors stand for any failure.
func table(m map[string][]string) func(context.Context, string) ip.Result {
	return func(_ context.Context, image string) ip.Result {
		ps, ok := m[image]
		if !ok {
			return ip.Result{Image: image, Source: ip.SourceUnknown, Err: errors.New("registry down")}
		}
		var out []ip.Platform
		for _, s := range ps {
			p, err := ip.ParsePlatform(s)
			if err != nil {
				panic(err)
			}
			out = append(out, p)
		}
		return ip.Result{Image: image, Platforms: out, Source: ip.SourceIndex}
	}
}

func TestEvaluatePod(t *testing.T) {
	images := table(map[string][]string{
		"multi":   {"linux/amd64", "linux/arm64"},
		"amd":     {"linux/amd64"},
		"arm":     {"linux/arm64/v8"},
		"armv7":   {"linux/arm/v7"},
		"windows": {"windows/amd64"},
	})
	fallback := ip.PodPolicy{Unknown: ip.PolicyFallback, FallbackArchitectures: []string{"amd64"}}
	withArchAffinity := func(p *corev1.Pod, op corev1.NodeSelectorOperator, vals ...string) *corev1.Pod {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: ip.LabelArch, Operator: op, Values: vals},
			}}},
		}}}
		return p
	}
	tests := []struct {
		name          string
		pod           *corev1.Pod
		policy        ip.PodPolicy
		want          string
		wantUnknown   int
		overrideError bool
	}{
		{name: "multi-arch image", pod: st.MakePod().Container("multi").Obj(), policy: fallback, want: "linux/amd64,linux/arm64"},
		{name: "amd64-only container narrows", pod: st.MakePod().Container("multi").Container("amd").Obj(), policy: fallback, want: "linux/amd64"},
		{name: "amd64-only init container narrows", pod: withInit(st.MakePod().Container("multi").Obj(), "amd"), policy: fallback, want: "linux/amd64"},
		{name: "ephemeral container counts", pod: func() *corev1.Pod {
			p := st.MakePod().Container("multi").Obj()
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "arm"}}}
			return p
		}(), policy: fallback, want: "linux/arm64"},
		{name: "no common platform", pod: st.MakePod().Container("amd").Container("arm").Obj(), policy: fallback, want: "none"},
		{name: "arm v7 is arch arm", pod: st.MakePod().Container("armv7").Obj(), policy: fallback, want: "linux/arm"},
		{name: "windows keeps its OS", pod: st.MakePod().Container("windows").Obj(), policy: fallback, want: "windows/amd64"},
		{name: "unknown image, Fallback", pod: st.MakePod().Container("missing").Container("multi").Obj(), policy: fallback, want: "linux/amd64", wantUnknown: 1},
		{name: "unknown image, Fallback to arm64", pod: st.MakePod().Container("missing").Obj(), policy: ip.PodPolicy{Unknown: ip.PolicyFallback, FallbackArchitectures: []string{"arm64"}}, want: "linux/arm64", wantUnknown: 1},
		{name: "unknown image, AllowAll", pod: st.MakePod().Container("missing").Container("multi").Obj(), policy: ip.PodPolicy{Unknown: ip.PolicyAllowAll}, want: "linux/amd64,linux/arm64", wantUnknown: 1},
		{name: "unknown only image, AllowAll is unconstrained", pod: st.MakePod().Container("missing").Obj(), policy: ip.PodPolicy{Unknown: ip.PolicyAllowAll}, want: "any", wantUnknown: 1},
		{name: "unknown image, Deny", pod: st.MakePod().Container("missing").Container("multi").Obj(), policy: ip.PodPolicy{Unknown: ip.PolicyDeny}, want: "none", wantUnknown: 1},
		{name: "nodeSelector on arch", pod: st.MakePod().Container("multi").NodeSelector(map[string]string{ip.LabelArch: "amd64"}).Obj(), policy: fallback, want: "linux/amd64"},
		{name: "beta nodeSelector on arch", pod: st.MakePod().Container("multi").NodeSelector(map[string]string{ip.LabelArchBeta: "arm64"}).Obj(), policy: fallback, want: "linux/arm64"},
		{name: "required affinity In amd64", pod: withArchAffinity(st.MakePod().Container("multi").Obj(), corev1.NodeSelectorOpIn, "amd64"), policy: fallback, want: "linux/amd64"},
		{name: "required affinity NotIn arm64", pod: withArchAffinity(st.MakePod().Container("multi").Obj(), corev1.NodeSelectorOpNotIn, "arm64"), policy: fallback, want: "linux/amd64"},
		{name: "affinity on another key is ignored", pod: st.MakePod().Container("multi").NodeAffinityIn("topology.kubernetes.io/zone", []string{"a"}, st.NodeSelectorTypeMatchExpressions).Obj(), policy: fallback, want: "linux/amd64,linux/arm64"},
		{name: "AllowAll unknown plus affinity uses the known universe", pod: withArchAffinity(st.MakePod().Container("missing").Obj(), corev1.NodeSelectorOpIn, "arm64"), policy: ip.PodPolicy{Unknown: ip.PolicyAllowAll}, want: "linux/arm64,windows/arm64", wantUnknown: 1},
		{name: "override annotation", pod: st.MakePod().Container("missing").Annotation(ip.PlatformsAnnotation, "linux/arm64, linux/amd64").Obj(), policy: ip.PodPolicy{Unknown: ip.PolicyDeny}, want: "linux/amd64,linux/arm64"},
		{name: "malformed override is unknown, not a crash", pod: st.MakePod().Container("multi").Annotation(ip.PlatformsAnnotation, "linux").Obj(), policy: fallback, want: "linux/amd64", wantUnknown: 1, overrideError: true},
		{name: "no containers", pod: st.MakePod().Obj(), policy: fallback, want: "any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ip.EvaluatePod(context.Background(), tt.pod, tt.policy, images)
			if d := got.Describe(); d != tt.want {
				t.Errorf("allowed = %s, want %s", d, tt.want)
			}
			if len(got.Unknown) != tt.wantUnknown {
				t.Errorf("unknown = %d, want %d", len(got.Unknown), tt.wantUnknown)
			}
			if (got.OverrideErr != nil) != tt.overrideError || (tt.overrideError && !errors.Is(got.OverrideErr, ip.ErrInvalidOverride)) {
				t.Errorf("override error = %v, want error: %v", got.OverrideErr, tt.overrideError)
			}
		})
	}
}

func withInit(p *corev1.Pod, image string) *corev1.Pod {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "init", Image: image})
	return p
}

func TestBlockingImages(t *testing.T) {
	images := table(map[string][]string{"multi": {"linux/amd64", "linux/arm64"}, "legacy/db:5": {"linux/amd64"}})
	pp := ip.EvaluatePod(context.Background(), st.MakePod().Container("multi").Container("legacy/db:5").Obj(), ip.PodPolicy{Unknown: ip.PolicyFallback, FallbackArchitectures: []string{"amd64"}}, images)
	if got := fmt.Sprint(pp.BlockingImages("linux", "arm64")); got != "[legacy/db:5]" {
		t.Fatalf("blocking images = %s", got)
	}
	if pp.AllowsArch("arm64") || !pp.Allows("linux", "amd64") || pp.Allows("windows", "amd64") {
		t.Fatalf("allows is wrong for %s", pp.Describe())
	}
}

func TestNodePlatform(t *testing.T) {
	tests := []struct {
		name           string
		node           *corev1.Node
		wantOS, wantAr string
		wantOK         bool
	}{
		{"GA labels", st.MakeNode().Name("n").Label(ip.LabelArch, "arm64").Label(ip.LabelOS, "linux").Obj(), "linux", "arm64", true},
		{"beta labels", st.MakeNode().Name("n").Label(ip.LabelArchBeta, "amd64").Label(ip.LabelOSBeta, "windows").Obj(), "windows", "amd64", true},
		{"status fallback", func() *corev1.Node {
			n := st.MakeNode().Name("n").Obj()
			n.Status.NodeInfo.Architecture, n.Status.NodeInfo.OperatingSystem = "arm64", "linux"
			return n
		}(), "linux", "arm64", true},
		{"nothing known", st.MakeNode().Name("n").Obj(), "linux", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os, arch, ok := ip.NodePlatform(tt.node)
			if os != tt.wantOS || arch != tt.wantAr || ok != tt.wantOK {
				t.Errorf("got %s/%s %v, want %s/%s %v", os, arch, ok, tt.wantOS, tt.wantAr, tt.wantOK)
			}
		})
	}
}

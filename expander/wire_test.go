package expander

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/expander/protos"
	"github.com/archfit/archfit/internal/imageplatform"
)

// testdata holds request and response bytes captured from
// cluster-autoscaler 1.36.1's own gRPC expander client (see its README).
const testdata = "../test/testdata/ca-grpc"

func readCaptured(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every encoding CA has used decodes into the same options, pods and nodes.
func TestCapturedRequestsDecodeAlike(t *testing.T) {
	files := []string{
		"request-ca1.35plus.bin",
		"request-ca1.36.1-captured.bin",
		"request-legacy-ca1.24-1.34.1.bin",
		"request-dual-ca1.34.2-1.34.5.bin",
	}
	wantPod := &corev1.Pod{}
	if err := wantPod.Unmarshal(readCaptured(t, "pod-web-0.pb")); err != nil {
		t.Fatal(err)
	}
	wantNodes := map[string]string{}
	for _, g := range []string{"ng-arm64", "ng-amd64"} {
		n := &corev1.Node{}
		if err := n.Unmarshal(readCaptured(t, "node-"+g+".pb")); err != nil {
			t.Fatal(err)
		}
		wantNodes[g] = n.Labels["kubernetes.io/arch"]
	}
	if wantNodes["ng-arm64"] != "arm64" || wantNodes["ng-amd64"] != "amd64" {
		t.Fatalf("template node labels: %v", wantNodes)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			req := &protos.BestOptionsRequest{}
			if err := proto.Unmarshal(readCaptured(t, f), req); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			opts, pods, err := decode(req)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(opts) != 2 || opts[0].src.NodeGroupId != "ng-arm64" || opts[1].src.NodeGroupId != "ng-amd64" {
				t.Fatalf("options = %v", opts)
			}
			if len(pods) != 1 {
				t.Fatalf("distinct pods = %d, want 1 (the same pod in both options)", len(pods))
			}
			p := pods[0].pod
			if p.Namespace != wantPod.Namespace || p.Name != wantPod.Name || p.UID != wantPod.UID ||
				p.Spec.Containers[0].Image != "nginx:1.27" || p.Spec.Containers[0].Resources.Requests.Cpu().String() != "500m" {
				t.Errorf("pod = %s/%s %s %v", p.Namespace, p.Name, p.UID, p.Spec.Containers)
			}
			for _, o := range opts {
				if o.arch != wantNodes[o.src.NodeGroupId] || o.os != "linux" {
					t.Errorf("%s: template platform %s/%s, want linux/%s", o.src.NodeGroupId, o.os, o.arch, wantNodes[o.src.NodeGroupId])
				}
				if o.node.Labels["cluster-autoscaler.kubernetes.io/template-node"] != "true" {
					t.Errorf("%s: not a template node: %v", o.src.NodeGroupId, o.node.Labels)
				}
				if len(o.pods) != 1 || o.pods[0] != pods[0] {
					t.Errorf("%s: pods not shared", o.src.NodeGroupId)
				}
			}
		})
	}
}

// Declaring fields 2 and 4 as bytes must read what CA ≤ 1.34.5 puts there,
// and a server preferring 3/5 must see the same thing from the dual form.
func TestLegacyAndDualFieldsAreUsed(t *testing.T) {
	legacy := &protos.BestOptionsRequest{}
	if err := proto.Unmarshal(readCaptured(t, "request-legacy-ca1.24-1.34.1.bin"), legacy); err != nil {
		t.Fatal(err)
	}
	if len(legacy.NodeBytesMap) != 0 || len(legacy.NodeMap) != 2 || len(legacy.Options[0].PodBytes) != 0 || len(legacy.Options[0].Pod) != 1 {
		t.Fatalf("legacy request should use only fields 2 and 4: %d %d %d %d", len(legacy.NodeBytesMap), len(legacy.NodeMap), len(legacy.Options[0].PodBytes), len(legacy.Options[0].Pod))
	}
	dual := &protos.BestOptionsRequest{}
	if err := proto.Unmarshal(readCaptured(t, "request-dual-ca1.34.2-1.34.5.bin"), dual); err != nil {
		t.Fatal(err)
	}
	if len(dual.NodeBytesMap) != 2 || len(dual.NodeMap) != 2 || len(dual.Options[0].PodBytes) != 1 || len(dual.Options[0].Pod) != 1 {
		t.Fatal("dual request should carry both encodings")
	}
}

func TestCapturedResponseDecodes(t *testing.T) {
	resp := &protos.BestOptionsResponse{}
	if err := proto.Unmarshal(readCaptured(t, "response-ng-arm64.bin"), resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Options) != 1 || resp.Options[0].NodeGroupId != "ng-arm64" {
		t.Fatalf("response = %v", resp)
	}
	// And our encoding of the same answer is byte-identical.
	b, err := proto.Marshal(&protos.BestOptionsResponse{Options: []*protos.Option{{NodeGroupId: "ng-arm64"}}})
	if err != nil || string(b) != string(readCaptured(t, "response-ng-arm64.bin")) {
		t.Fatalf("our encoding differs: %x vs %x (%v)", b, readCaptured(t, "response-ng-arm64.bin"), err)
	}
}

// tinyPod and tinyNode carry just what decode and the rule read: a
// container with an image and a CPU request, and the node's platform labels.
func tinyPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: image,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
		}}},
	}
}

func tinyNode(arch string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   "n",
		Labels: map[string]string{imageplatform.LabelOS: "linux", imageplatform.LabelArch: arch},
	}}
}

func marshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireEncoding is which of CA's request layouts a test request uses.
type wireEncoding int

const (
	encodingNew    wireEncoding = iota // CA 1.35+: nodeBytesMap and podBytes (fields 3 and 5)
	encodingLegacy                     // CA 1.24–1.34.1: nodeMap and pod (fields 2 and 4)
	encodingDual                       // CA 1.34.2–1.34.5: both
	encodingStale                      // both, the legacy fields holding other objects
)

// Bits of FuzzDecode's shape argument.
const (
	shapeEncoding    = 3      // the low two bits: a wireEncoding
	shapeSharedPod   = 1 << 2 // the second option carries the first option's pod
	shapeNoNodeB     = 1 << 3 // the request has no template node for the second group
	shapeCorruptPodB = 1 << 4 // the second option's pod is not a Pod
	shapeOneOption   = 1 << 5
)

// FuzzDecode builds requests from fuzzed fields, in every encoding CA has
// used, and checks what decode makes of each against what it was built to
// hold: an error wrapping ErrInvalidRequest exactly when a group ID is
// empty, a group has no template node or a pod is not a Pod; otherwise the
// request's options in order, each with its own group's template node and
// its pod, read from the new fields when both are set, and each distinct
// pod decoded once.
//
// It fuzzes fields rather than bytes, from one- and two-option requests:
// seeded with captured multi-KB requests, or mutating the bytes of small
// ones, the engine spent its time minimizing, or in the protobuf decoders'
// own branches, instead of in decode.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(encodingNew), "ng-arm64", "ng-amd64", "arm64", "nginx:1.27")
	f.Add(uint8(encodingLegacy|shapeSharedPod), "ng-arm64", "ng-amd64", "arm64", "nginx:1.27")
	f.Add(uint8(encodingDual|shapeOneOption), "ng-arm64", "", "arm64", "reg.example/app:1")
	f.Add(uint8(encodingStale), "ng-a", "ng-b", "amd64", "nginx")
	f.Add(uint8(encodingNew|shapeNoNodeB), "ng-a", "ng-b", "amd64", "nginx")
	f.Add(uint8(encodingNew|shapeCorruptPodB), "ng", "ng", "", "")
	// Stale legacy fields differ from the new ones, so a decode that read
	// them instead would show it in the arch and the image.
	legacyNode := marshal(f, tinyNode("s390x"))
	legacyPod := marshal(f, tinyPod("legacy", "legacy:1"))
	f.Fuzz(func(t *testing.T, shape uint8, groupA, groupB, arch, image string) {
		if !utf8.ValidString(groupA) || !utf8.ValidString(groupB) {
			return // proto3 strings: CA could not send these
		}
		enc := wireEncoding(shape & shapeEncoding)
		podA := marshal(t, tinyPod("a", image))
		podB := marshal(t, tinyPod("b", image))
		if shape&shapeSharedPod != 0 {
			podB = podA
		}
		if shape&shapeCorruptPodB != 0 {
			podB = []byte{0x0a, 0x05} // metadata of 5 bytes, then nothing
		}

		req := &protos.BestOptionsRequest{NodeMap: map[string][]byte{}, NodeBytesMap: map[string][]byte{}}
		wantArch := map[string]string{}
		addOption := func(group string, pod []byte) {
			o := &protos.Option{NodeGroupId: group, NodeCount: 1}
			switch {
			case enc == encodingLegacy:
				o.Pod = [][]byte{pod}
			case enc == encodingStale:
				o.PodBytes, o.Pod = [][]byte{pod}, [][]byte{legacyPod}
			case enc == encodingDual:
				o.PodBytes, o.Pod = [][]byte{pod}, [][]byte{pod}
			default:
				o.PodBytes = [][]byte{pod}
			}
			req.Options = append(req.Options, o)
		}
		addNode := func(group, arch string) {
			node := marshal(t, tinyNode(arch))
			switch {
			case enc == encodingLegacy:
				req.NodeMap[group] = node
			case enc == encodingStale:
				req.NodeBytesMap[group], req.NodeMap[group] = node, legacyNode
			case enc == encodingDual:
				req.NodeBytesMap[group], req.NodeMap[group] = node, node
			default:
				req.NodeBytesMap[group] = node
			}
			wantArch[group] = arch
		}
		addOption(groupA, podA)
		addNode(groupA, arch)
		if shape&shapeOneOption == 0 {
			addOption(groupB, podB)
			if shape&shapeNoNodeB == 0 {
				addNode(groupB, arch+"-b")
			}
		}
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		got := &protos.BestOptionsRequest{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}

		wantErr := false
		for _, o := range req.Options {
			_, ok := wantArch[o.NodeGroupId]
			wantErr = wantErr || o.NodeGroupId == "" || !ok
		}
		wantErr = wantErr || len(req.Options) > 1 && shape&shapeCorruptPodB != 0
		wantPods := 2
		if len(req.Options) == 1 || shape&(shapeSharedPod|shapeCorruptPodB) == shapeSharedPod {
			wantPods = 1
		}

		opts, pods, err := decode(got)
		if wantErr {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("decode = %d options, %v; want ErrInvalidRequest", len(opts), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(opts) != len(req.Options) || len(pods) != wantPods {
			t.Fatalf("decoded %d options and %d distinct pods, want %d and %d", len(opts), len(pods), len(req.Options), wantPods)
		}
		for i, o := range opts {
			id := req.Options[i].NodeGroupId
			if o.src.NodeGroupId != id || o.arch != wantArch[id] || len(o.pods) != 1 {
				t.Fatalf("option %d: %q, arch %q, %d pods; want %q, arch %q, 1 pod", i, o.src.NodeGroupId, o.arch, len(o.pods), id, wantArch[id])
			}
			if img := o.pods[0].pod.Spec.Containers[0].Image; img != image || o.cpu != 0.5 {
				t.Fatalf("option %q: pod image %q, %v CPU; want %q, 0.5", id, img, o.cpu, image)
			}
		}
	})
}

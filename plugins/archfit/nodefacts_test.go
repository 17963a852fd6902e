package archfit

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/archfit/archfit/internal/cost"
	"github.com/archfit/archfit/internal/imageplatform"
)

func pricedNode(name, arch, hourly string) *corev1.Node {
	n := archNode(name, arch, "")
	n.Annotations = map[string]string{"archfit.dev/hourly-price": hourly}
	return n
}

// One publication answers every price question: the node's own price,
// whether a platform's nodes all cost the same, and the cheapest other
// platform for the saving estimate.
func TestNodeFactsPublication(t *testing.T) {
	facts := newFactsCache(cost.New(cost.DefaultTable(), nil, "archfit.dev/hourly-price"), 1000)
	arm1, arm2 := pricedNode("arm1", "arm64", "0.16"), pricedNode("arm2", "arm64", "0.16")
	amd1, amd2 := pricedNode("amd1", "amd64", "0.20"), pricedNode("amd2", "amd64", "0.30")
	nodes := []fwk.NodeInfo{nodeInfo(arm1), nodeInfo(arm2), nodeInfo(amd1), nodeInfo(amd2)}
	arm, amd := imageplatform.OSArch{OS: "linux", Arch: "arm64"}, imageplatform.OSArch{OS: "linux", Arch: "amd64"}
	both := imageplatform.PodPlatforms{Allowed: []imageplatform.OSArch{amd, arm}}
	armOnly := imageplatform.PodPlatforms{Allowed: []imageplatform.OSArch{arm}}

	if a, _ := facts.cheapestOther("linux", "amd64", &both); a != "" {
		t.Fatalf("before any publication: cheapest other %q, want none", a)
	}
	now := time.Unix(1000, 0)
	facts.publish(nodes, now) // the first cycle publishes without a miss
	if got := facts.get(amd2).microPerVCPU; got != 150000 {
		t.Fatalf("amd2 costs %d µ/vCPU-hour, want 150000 (0.30 over 2 vCPU)", got)
	}
	if !facts.uniformPrice(arm) || facts.uniformPrice(amd) {
		t.Fatalf("uniform: arm64 %v amd64 %v, want true false", facts.uniformPrice(arm), facts.uniformPrice(amd))
	}
	if a, p := facts.cheapestOther("linux", "amd64", &both); a != "arm64" || p != 0.08 {
		t.Fatalf("cheapest other than amd64: %q at %v, want arm64 at 0.08", a, p)
	}
	if a, p := facts.cheapestOther("linux", "arm64", &both); a != "amd64" || p != 0.1 {
		t.Fatalf("cheapest other than arm64: %q at %v, want amd64 at 0.1 (the cheaper amd64 node)", a, p)
	}
	if a, _ := facts.cheapestOther("linux", "amd64", &armOnly); a != "arm64" {
		t.Fatalf("arm64-only pod: %q, want arm64", a)
	}
	if a, _ := facts.cheapestOther("linux", "arm64", &armOnly); a != "" {
		t.Fatalf("arm64-only pod on arm64: %q, want none (it could use nothing else)", a)
	}

	// A node leaving is noticed at the next cycle a second later, though no
	// lookup missed: the publication follows the cluster, not the cache.
	facts.publish(nodes[:3], now.Add(500*time.Millisecond))
	if facts.uniformPrice(amd) {
		t.Fatal("republished within a second")
	}
	facts.publish(nodes[:3], now.Add(2*time.Second))
	if !facts.uniformPrice(amd) {
		t.Fatal("amd64 still not uniform after amd2 left")
	}
	// A relabelled node is a new Node object: a miss, then a republish.
	cheap := pricedNode("amd1", "amd64", "0.10")
	if got := facts.get(cheap).microPerVCPU; got != 50000 {
		t.Fatalf("relabelled amd1 costs %d, want 50000", got)
	}
	facts.publish([]fwk.NodeInfo{nodeInfo(arm1), nodeInfo(arm2), nodeInfo(cheap)}, now.Add(4*time.Second))
	if a, p := facts.cheapestOther("linux", "arm64", &both); a != "amd64" || p != 0.05 {
		t.Fatalf("after the price change: %q at %v, want amd64 at 0.05", a, p)
	}
}

package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// Mix is the share of pods per image kind, in percent.
type Mix struct{ Multi, AMD64, ARM64 int }

// ParseMix reads "multi:70,amd64:20,arm64:10".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return m, fmt.Errorf("--mix %q: want kind:percent pairs such as multi:70,amd64:20,arm64:10", s)
		}
		switch k {
		case "multi":
			m.Multi = n
		case "amd64":
			m.AMD64 = n
		case "arm64":
			m.ARM64 = n
		default:
			return m, fmt.Errorf("--mix: unknown kind %q (want multi, amd64, arm64)", k)
		}
	}
	if m.Multi+m.AMD64+m.ARM64 != 100 {
		return m, fmt.Errorf("--mix %q: percentages add up to %d, want 100", s, m.Multi+m.AMD64+m.ARM64)
	}
	return m, nil
}

// image is one image the demo pushes, and the kind of pod it belongs to.
type image struct {
	repoTag   string
	platforms []string
	docker    bool // a Docker manifest list rather than an OCI index
	attest    bool // BuildKit attestation entries
	hub       bool // referenced by its Docker Hub short name (served by the mirror)
	// failsOn are platforms the index claims whose binaries are built for
	// another arch, so that they die with exec format error there: a
	// broken cross-build, which no registry lookup can tell.
	failsOn []string
}

// The field's mix: multi-arch images from upstream (some with attestations,
// some as Docker manifest lists), a legacy amd64-only service, an
// arm64-only edge image, and a vendor's index that claims arm64 wrongly.
var images = map[string]image{
	"web":     {repoTag: "library/nginx:1.27", platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, attest: true, hub: true},
	"api":     {repoTag: "team/api:2.4", platforms: []string{"linux/amd64", "linux/arm64"}, docker: true},
	"train":   {repoTag: "ml/trainer:0.9", platforms: []string{"linux/amd64", "linux/arm64/v8"}, attest: true},
	"billing": {repoTag: "legacy/billing:7", platforms: []string{"linux/amd64"}},
	"reports": {repoTag: "legacy/reports:3", platforms: []string{"linux/amd64"}},
	"sensor":  {repoTag: "edge/sensor-gw:1", platforms: []string{"linux/arm64"}},
	// The migration run's liar: an index for amd64 and arm64 whose arm64
	// entry holds amd64 binaries.
	"liar": {repoTag: "vendor/ledger:5", platforms: []string{"linux/amd64", "linux/arm64"}, failsOn: []string{"linux/arm64"}},
}

// workload is one Deployment or Job.
type workload struct {
	name     string
	image    string // key in images
	job      bool
	replicas int
	cpu      string
	memory   string
}

// plan splits size pods over the mix: per kind about two thirds in
// Deployments and the rest in Jobs that arrive later, one after another
// (the batch bursts that trigger scale-ups).
func plan(size int, m Mix) []workload {
	share := func(pct int) int { return (size*pct + 50) / 100 }
	// Multi-arch takes the remainder, so rounding never loses or adds a pod.
	amd := share(m.AMD64)
	arm := min(share(m.ARM64), size-amd)
	multi := max(size-amd-arm, 0)
	var out []workload
	add := func(w workload) {
		if w.replicas > 0 {
			out = append(out, w)
		}
	}
	// multi-arch: web and api Deployments, a training Job.
	mDeploy := multi * 2 / 3
	add(workload{name: "web", image: "web", replicas: (mDeploy + 1) / 2, cpu: "500m", memory: "512Mi"})
	add(workload{name: "api", image: "api", replicas: mDeploy / 2, cpu: "500m", memory: "1Gi"})
	// amd64-only: billing Deployment, reports Job.
	aDeploy := amd * 2 / 3
	add(workload{name: "billing", image: "billing", replicas: aDeploy, cpu: "500m", memory: "1Gi"})
	// arm64-only: the edge gateway.
	add(workload{name: "sensor-gw", image: "sensor", replicas: arm, cpu: "250m", memory: "256Mi"})
	// Batch Jobs, in the order they arrive: multi-arch training, the
	// amd64-only reports, multi-arch ETL.
	mJobs := multi - mDeploy
	add(workload{name: "train", image: "train", job: true, replicas: (mJobs + 1) / 2, cpu: "1", memory: "2Gi"})
	add(workload{name: "reports", image: "reports", job: true, replicas: amd - aDeploy, cpu: "1", memory: "1Gi"})
	add(workload{name: "etl", image: "api", job: true, replicas: mJobs / 2, cpu: "1", memory: "2Gi"})
	return out
}

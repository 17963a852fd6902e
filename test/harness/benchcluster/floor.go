package benchcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"sigs.k8s.io/yaml"
)

// FloorProfile is the default profile plus NoopScore: what kube-scheduler
// charges for one more Score plugin before the plugin does any work. Its
// cost against the default profile's, on pods both place correctly, is
// what any plugin that scores nodes pays, ArchFit included; the gap
// between it and archfit-scheduler is ArchFit's own cost (less what its
// narrowing saves the framework).
const FloorProfile = "noop-score-scheduler"

// NoopScoreName is NoopScore's plugin name.
const NoopScoreName = "NoopScore"

// NoopScore scores every node 0 and normalises nothing. It has a
// ScoreExtensions, as ArchFit does, so the framework's normalisation step
// is counted too.
type NoopScore struct{}

var _ fwk.ScorePlugin = NoopScore{}

// NewNoopScore is NoopScore's plugin factory.
func NewNoopScore(context.Context, runtime.Object, fwk.Handle) (fwk.Plugin, error) {
	return NoopScore{}, nil
}

// Name implements fwk.Plugin.
func (NoopScore) Name() string { return NoopScoreName }

// Score implements fwk.ScorePlugin.
func (NoopScore) Score(context.Context, fwk.CycleState, *corev1.Pod, fwk.NodeInfo) (int64, *fwk.Status) {
	return 0, nil
}

// ScoreExtensions implements fwk.ScorePlugin.
func (p NoopScore) ScoreExtensions() fwk.ScoreExtensions { return p }

// NormalizeScore implements fwk.ScoreExtensions.
func (NoopScore) NormalizeScore(context.Context, fwk.CycleState, *corev1.Pod, fwk.NodeScoreList) *fwk.Status {
	return nil
}

// WithFloorProfile adds FloorProfile to a KubeSchedulerConfiguration
// document; the scheduler must also register NoopScore (NewNoopScore).
func WithFloorProfile(config []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil, err
	}
	profiles, ok := doc["profiles"].([]any)
	if !ok {
		return nil, fmt.Errorf("the scheduler configuration has no profiles")
	}
	doc["profiles"] = append(profiles, map[string]any{"schedulerName": FloorProfile,
		"plugins": map[string]any{"multiPoint": map[string]any{"enabled": []any{map[string]any{"name": NoopScoreName}}}}})
	return yaml.Marshal(doc)
}

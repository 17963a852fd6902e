// +k8s:deepcopy-gen=package

// Package config holds the internal (hub) types of archfit's scheduler
// plugin args and of the resolver configuration the expander and placement
// share, registered into kube-scheduler's scheme as scheduler-plugins does.
// The versioned types users write live in ./v1. zz_generated.*.go are
// written by `make generate` (k8s.io/code-generator).
package config

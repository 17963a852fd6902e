// Package schedulerconfig ships archfit's KubeSchedulerConfiguration files.
// They are embedded so that the demo runs exactly the files operators
// deploy, and tested with kube-scheduler's own strict loader.
package schedulerconfig

import "embed"

// Files holds every *.yaml in this directory.
//
//go:embed *.yaml
var Files embed.FS

// SecondaryProfile is the archfit-scheduler profile file's name.
const SecondaryProfile = "archfit-scheduler.yaml"

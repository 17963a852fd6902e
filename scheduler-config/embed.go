// Package schedulerconfig ships archfit's KubeSchedulerConfiguration files.
// They are embedded so that the demo runs exactly the files operators
// deploy, and tested with kube-scheduler's own strict loader.
package schedulerconfig

import (
	"embed"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Files holds every *.yaml in this directory.
//
//go:embed *.yaml
var Files embed.FS

// SecondaryProfile is the archfit-scheduler profile file's name.
const SecondaryProfile = "archfit-scheduler.yaml"

// pluginName is the ArchFit plugin's name in the profiles' pluginConfig. It
// is written here rather than imported, so that the plugin's own tests can
// use this package; config_test.go checks it against the plugin's Name.
const pluginName = "ArchFit"

// ForLoopbackRegistry is the shipped archfit-scheduler profile with
// registryHost allowed over plain HTTP and as the Docker Hub mirror, plus a
// default-scheduler profile for comparison in the same scheduler: what the
// demo, the plugin's cycle benchmark and make bench run against an
// in-process registry.
func ForLoopbackRegistry(registryHost string) ([]byte, error) {
	b, err := Files.ReadFile(SecondaryProfile)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	profiles, _ := doc["profiles"].([]any)
	found := false
	for _, p := range profiles {
		pm, _ := p.(map[string]any)
		pcs, _ := pm["pluginConfig"].([]any)
		for _, pc := range pcs {
			pcm, _ := pc.(map[string]any)
			if pcm["name"] != pluginName {
				continue
			}
			args, ok := pcm["args"].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: the %s pluginConfig has no args", SecondaryProfile, pluginName)
			}
			args["insecureRegistries"] = []any{registryHost}
			args["dockerHubMirror"] = registryHost
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s has no %s args", SecondaryProfile, pluginName)
	}
	doc["profiles"] = append(profiles, map[string]any{"schedulerName": "default-scheduler"})
	return yaml.Marshal(doc)
}

// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/archfit/archfit/plugins/apis/config
// +k8s:defaulter-gen=TypeMeta
// +k8s:defaulter-gen-input=github.com/archfit/archfit/plugins/apis/config/v1

// Package v1 holds the versioned ArchFitArgs that users write in a
// KubeSchedulerConfiguration (apiVersion kubescheduler.config.k8s.io/v1,
// kind ArchFitArgs), and the ResolverConfig inlined in it. Field names are
// a contract: scripts outside this repository set them. zz_generated.*.go
// are written by `make generate` (k8s.io/code-generator).
package v1

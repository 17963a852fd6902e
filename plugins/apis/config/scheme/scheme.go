// Package scheme registers archfit's plugin args into kube-scheduler's own
// scheme. Import it (for its side effect) wherever a scheduler is built, so
// a KubeSchedulerConfiguration naming ArchFitArgs decodes strictly.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"

	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
)

// Scheme is kube-scheduler's scheme, with archfit's types added.
var Scheme = kubeschedulerscheme.Scheme

func init() {
	AddToScheme(Scheme)
}

// AddToScheme adds every version of archfit's args to a scheme.
func AddToScheme(s *runtime.Scheme) {
	utilruntime.Must(config.AddToScheme(s))
	utilruntime.Must(v1.AddToScheme(s))
}

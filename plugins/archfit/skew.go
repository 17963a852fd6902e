package archfit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/archfit/archfit/internal/k8sbuild"
)

// serverVersionTimeout bounds the one /version call at start, so that a
// slow API server delays the scheduler's start by at most this much
// rather than hanging it.
const serverVersionTimeout = 10 * time.Second

// checkAPIServerVersion refuses to start against a kube-apiserver older
// than the Kubernetes minor this binary is built on: such a scheduler
// would wait forever for informers of APIs the server does not serve and
// place nothing, without a word (k8sbuild explains). When the version
// cannot be read it starts anyway, and says so: fail-open, because the
// scheduler's own informers then report what is wrong.
func checkAPIServerVersion(ctx context.Context, cs kubernetes.Interface) error {
	if cs == nil {
		return nil
	}
	info, err := serverVersion(ctx, cs)
	if err != nil {
		klog.FromContext(ctx).Info("Could not read kube-apiserver's version; starting without the version skew check", "err", err)
		return nil
	}
	built, ok := k8sbuild.Built()
	warning, err := k8sbuild.CheckServer(built, ok, info)
	if err != nil {
		return err
	}
	if warning != "" {
		klog.FromContext(ctx).Info("Version skew", "warning", warning)
	}
	return nil
}

func serverVersion(ctx context.Context, cs kubernetes.Interface) (*version.Info, error) {
	d := cs.Discovery()
	rc := d.RESTClient()
	if rc == nil {
		// client-go's fake discovery has no REST client and answers at once.
		return d.ServerVersion()
	}
	ctx, cancel := context.WithTimeout(ctx, serverVersionTimeout)
	defer cancel()
	body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("kube-apiserver /version: %w", err)
	}
	return &info, nil
}

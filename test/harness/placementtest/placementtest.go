// Package placementtest runs archfit-placement in process behind the
// shipped MutatingWebhookConfiguration, pointed at loopback: for the
// integration tests, the benchmarks and the demo. Nothing here is a fake:
// kube-apiserver calls the real webhook over TLS.
package placementtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeconv "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/archfit/archfit/internal/placement"
	placementapp "github.com/archfit/archfit/internal/placement/app"
	"github.com/archfit/archfit/manifests"
	"github.com/archfit/archfit/test/harness/testcerts"
)

// Server is archfit-placement run in this process, as cmd/archfit-placement
// runs it, on a fixed loopback address so that the webhook configuration
// keeps pointing at it across restarts.
type Server struct {
	Addr        string
	MetricsAddr string
	CAPEM       []byte
	config      *rest.Config
	certFile    string
	keyFile     string
	stop        func() error
}

// NewServer picks a loopback address and writes a serving certificate for
// it into dir. It does not start the server.
func NewServer(config *rest.Config, dir string) (*Server, error) {
	ca, err := testcerts.NewCA("archfit-placement-test-ca")
	if err != nil {
		return nil, err
	}
	_, certFile, keyFile, err := ca.WriteFiles(dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	return &Server{Addr: addr, CAPEM: ca.CertPEM, config: config, certFile: certFile, keyFile: keyFile}, nil
}

// Up starts placement with the shipped defaults, changed where the caller
// must (change may be nil).
func (s *Server) Up(ctx context.Context, change func(*placementapp.Options)) error {
	if s.stop != nil {
		return fmt.Errorf("archfit-placement is already up")
	}
	o := placementapp.NewOptions()
	o.Config = s.config
	o.WebhookAddress, o.MetricsAddress = s.Addr, "127.0.0.1:0"
	o.TLSCertFile, o.TLSKeyFile = s.certFile, s.keyFile
	o.LeaderElectNamespace = "archfit"
	// Short, so a replica stopping does not hold the controller from the
	// next one for long.
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 500*time.Millisecond
	o.ShutdownGrace = 5 * time.Second
	if change != nil {
		change(o)
	}
	var err error
	for i := 0; i < 20; i++ { // the previous server's port may take a moment to free
		if _, s.MetricsAddr, s.stop, err = placementapp.Start(ctx, o); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return err
}

// Down stops the server gracefully, if it runs, and returns Run's error.
func (s *Server) Down() error {
	if s.stop == nil {
		return nil
	}
	err := s.stop()
	s.stop = nil
	return err
}

// WebhookConfiguration is the shipped MutatingWebhookConfiguration from
// manifests/base, calling url with caPEM as its CA instead of the Service.
// It comes from the manifests compiled into the binary, so the demo runs
// from any directory (manifests' tests check that copy against the files).
func WebhookConfiguration(webhookURL string, caPEM []byte) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	objs, err := manifests.BuildEmbedded("base")
	if err != nil {
		return nil, err
	}
	for _, u := range objs {
		if u.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := runtimeconv.DefaultUnstructuredConverter.FromUnstructured(u.Object, &mwc); err != nil {
			return nil, err
		}
		for i := range mwc.Webhooks {
			mwc.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &webhookURL, CABundle: caPEM}
		}
		return &mwc, nil
	}
	return nil, fmt.Errorf("no MutatingWebhookConfiguration in manifests/base")
}

// Install creates the shipped webhook configuration pointed at the server
// and waits until kube-apiserver calls it: a probe pod created in probeNS
// with probeImage comes back placed or gated.
func (s *Server) Install(ctx context.Context, cs kubernetes.Interface, probeNS, probeImage string) error {
	mwc, err := WebhookConfiguration((&url.URL{Scheme: "https", Host: s.Addr, Path: placementapp.WebhookPath}).String(), s.CAPEM)
	if err != nil {
		return err
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		return err
	}
	return WaitCalled(ctx, cs, probeNS, probeImage, true)
}

// Uninstall deletes the webhook configuration and waits until kube-apiserver
// no longer calls it.
func Uninstall(ctx context.Context, cs kubernetes.Interface, probeNS, probeImage string) error {
	if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "archfit-placement", metav1.DeleteOptions{}); err != nil {
		return err
	}
	return WaitCalled(ctx, cs, probeNS, probeImage, false)
}

// WaitCalled creates probe pods (archfit-scheduler's, so in scope, and
// deleted at once) until kube-apiserver's informer has caught up with the
// configuration: until they come back placed (want) or untouched (!want).
func WaitCalled(ctx context.Context, cs kubernetes.Interface, ns, image string, want bool) error {
	i := 0
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		i++
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"}, Spec: corev1.PodSpec{
			SchedulerName: "archfit-scheduler", NodeSelector: map[string]string{"archfit.test/scenario": "nowhere"},
			Containers: []corev1.Container{{Name: "c", Image: image}}}}
		got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		_ = cs.CoreV1().Pods(ns).Delete(ctx, got.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		called := got.Annotations[placement.Annotation] != "" || placement.HasGate(got)
		return called == want, nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver did not %s the placement webhook after %d probes: %w", map[bool]string{true: "call", false: "stop calling"}[want], i, err)
	}
	return nil
}

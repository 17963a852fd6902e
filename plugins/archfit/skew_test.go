package archfit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"

	"github.com/archfit/archfit/internal/k8sbuild"
)

// TestNewRefusesAnOlderAPIServer runs against whichever minor this test
// binary is built on (the main module's, or a cmd/archfit-scheduler/k8s1.*
// build's), so each build checks its own refusal.
func TestNewRefusesAnOlderAPIServer(t *testing.T) {
	built, ok := k8sbuild.Built()
	if !ok {
		t.Skip("a test binary records no modules: run it as make test does, with the Makefile's K8S_LDFLAGS")
	}
	server := func(minor int) *version.Info {
		return &version.Info{Major: "1", Minor: fmt.Sprint(minor), GitVersion: fmt.Sprintf("v1.%d.2", minor)}
	}
	tests := []struct {
		name    string
		server  *version.Info
		refused bool
	}{
		{"one minor older", server(built.Minor - 1), true},
		{"two minors older", server(built.Minor - 2), true},
		{"same minor", server(built.Minor), false},
		{"one minor newer", server(built.Minor + 1), false},
		{"managed offering's suffix, older", &version.Info{Major: "1", Minor: fmt.Sprintf("%d+", built.Minor-1), GitVersion: fmt.Sprintf("v1.%d.8-eks-1234", built.Minor-1)}, true},
		{"unknown: built without version ldflags", &version.Info{GitVersion: "v0.0.0-master+$Format:%H$"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cs := clientsetfake.NewClientset()
			cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = tt.server
			fh, err := frameworkruntime.NewFramework(ctx, nil, &schedconfig.KubeSchedulerProfile{SchedulerName: "archfit-scheduler"},
				frameworkruntime.WithClientSet(cs), frameworkruntime.WithInformerFactory(informers.NewSharedInformerFactory(cs, 0)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(ctx, defaultArgs(nil), fh)
			var newer *k8sbuild.ErrSchedulerNewer
			if !tt.refused {
				if errors.As(err, &newer) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.As(err, &newer) {
				t.Fatalf("err = %v, want a refusal naming the build to run", err)
			}
			srv, _ := k8sbuild.FromServer(tt.server)
			for _, want := range []string{"built on Kubernetes " + built.MinorString(), "kube-apiserver is " + srv.MinorString(), "k8s" + srv.MinorString() + " build"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

package k8sbuild

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/version"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		deps []*debug.Module
		want Version
		ok   bool
	}{
		{"required", []*debug.Module{{Path: "k8s.io/api", Version: "v0.37.1"}, {Path: KubernetesModule, Version: "v1.37.1"}}, Version{1, 37, "v1.37.1"}, true},
		{"replaced", []*debug.Module{{Path: KubernetesModule, Version: "v1.37.1", Replace: &debug.Module{Path: KubernetesModule, Version: "v1.35.4"}}}, Version{1, 35, "v1.35.4"}, true},
		{"replaced by a directory", []*debug.Module{{Path: KubernetesModule, Version: "v1.36.3", Replace: &debug.Module{Path: "../kubernetes"}}}, Version{1, 36, "v1.36.3"}, true},
		{"staging only", []*debug.Module{{Path: "k8s.io/apimachinery", Version: "v0.37.1"}, {Path: "k8s.io/client-go", Version: "v0.37.1", Replace: &debug.Module{Path: "k8s.io/client-go", Version: "v0.36.3"}}}, Version{1, 36, "v1.36.3"}, true},
		{"absent", []*debug.Module{{Path: "k8s.io/api", Version: "v0.37.1"}}, Version{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fromBuildInfo(&debug.BuildInfo{Deps: tt.deps})
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBuiltIsThisModulesKubernetes(t *testing.T) {
	v, ok := Built()
	if !ok {
		t.Skip("a test binary records no modules: run it as make test does, with the Makefile's K8S_LDFLAGS")
	}
	if v.Major != 1 || v.Minor < 35 {
		t.Fatalf("Built() = %+v, %v; want a 1.35 or newer release", v, ok)
	}
}

func TestFromServer(t *testing.T) {
	tests := []struct {
		info *version.Info
		want string
		ok   bool
	}{
		{&version.Info{Major: "1", Minor: "35", GitVersion: "v1.35.4"}, "1.35", true},
		{&version.Info{Major: "1", Minor: "34+", GitVersion: "v1.34.2-eks-b1a2c3"}, "1.34", true},
		{&version.Info{GitVersion: "v1.36.1"}, "1.36", true},
		{&version.Info{GitVersion: "v0.0.0-master+$Format:%H$"}, "", false},
		{&version.Info{}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := FromServer(tt.info)
		if ok != tt.ok || (ok && got.MinorString() != tt.want) {
			t.Errorf("FromServer(%+v) = %v, %v; want %s, %v", tt.info, got.MinorString(), ok, tt.want, tt.ok)
		}
	}
}

func TestCheckServer(t *testing.T) {
	built := Version{1, 37, "v1.37.1"}
	srv := func(minor string) *version.Info {
		return &version.Info{Major: "1", Minor: minor, GitVersion: "v1." + minor + ".0"}
	}
	tests := []struct {
		name        string
		info        *version.Info
		builtOK     bool
		wantErr     bool
		wantWarning bool
	}{
		{"older server", srv("35"), true, true, false},
		{"same", srv("37"), true, false, false},
		{"one newer", srv("38"), true, false, false},
		{"two newer", srv("39"), true, false, true},
		{"unknown server", &version.Info{GitVersion: "v0.0.0-master"}, true, false, false},
		{"unknown build", srv("35"), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warning, err := CheckServer(built, tt.builtOK, tt.info)
			var newer *ErrSchedulerNewer
			if tt.wantErr != errors.As(err, &newer) {
				t.Fatalf("err = %v, want refusal %v", err, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "Run the k8s1.35 build (image tag suffix -k8s1.35") {
				t.Errorf("refusal %q does not name the build to run", err)
			}
			if (warning != "") != tt.wantWarning {
				t.Errorf("warning = %q, want one: %v", warning, tt.wantWarning)
			}
		})
	}
}

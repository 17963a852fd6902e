// Package k8sbuild tells which Kubernetes minor a binary was compiled
// against, from the module versions Go records in it, and checks a
// kube-apiserver's version against it.
//
// kube-scheduler must never be newer than its API server: a 1.37
// kube-scheduler against a 1.35 kube-apiserver starts informers for APIs
// 1.35 does not serve (resource.k8s.io/v1 DeviceTaintRule), waits for them
// forever, schedules nothing and never says why. archfit-scheduler is built
// once per supported minor (cmd/archfit-scheduler/k8s1.*), and refuses to
// start against an older API server, naming the build to run instead.
//
// The version is read from the binary's build information first, so that a
// `go install` build, which sets no -ldflags, knows it too.
package k8sbuild

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/version"
	componentversion "k8s.io/component-base/version"
)

// KubernetesModule is the module whose version a build is said to be on.
const KubernetesModule = "k8s.io/kubernetes"

// stagingModules stand in for k8s.io/kubernetes in a binary that links none
// of its packages; each is released as v0.MINOR.PATCH beside v1.MINOR.PATCH.
// apimachinery is last because this package links it.
var stagingModules = []string{"k8s.io/kube-scheduler", "k8s.io/client-go", "k8s.io/apimachinery"}

// Version is a Kubernetes release a binary was built on, or an API server
// runs.
type Version struct {
	Major, Minor int
	// Full is the release as written, e.g. v1.35.4.
	Full string
}

func (v Version) String() string { return v.Full }

// MinorString is "1.35".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Built returns the Kubernetes release this binary was compiled against:
// k8s.io/kubernetes's version after any replace directive, as Go records it
// in the binary; else the version -ldflags wrote into
// k8s.io/component-base/version (the Makefile's K8S_LDFLAGS, which make
// test passes too: Go records no modules in a test binary); else a staging
// module's. ok is false when none says.
func Built() (v Version, ok bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v, ok := fromBuildInfo(bi); ok {
			return v, true
		}
	}
	if v, err := Parse(componentversion.Get().GitVersion); err == nil && v.Major > 0 {
		return v, true
	}
	return Version{}, false
}

func fromBuildInfo(bi *debug.BuildInfo) (Version, bool) {
	versions := map[string]string{}
	for _, m := range bi.Deps {
		if m.Replace != nil && m.Replace.Version != "" {
			versions[m.Path] = m.Replace.Version
		} else {
			versions[m.Path] = m.Version
		}
	}
	if v, err := Parse(versions[KubernetesModule]); err == nil {
		return v, true
	}
	for _, p := range stagingModules {
		if rest, ok := strings.CutPrefix(versions[p], "v0."); ok {
			if v, err := Parse("v1." + rest); err == nil {
				return v, true
			}
		}
	}
	return Version{}, false
}

// Parse reads a release such as v1.35.4, 1.35 or v1.36.0-rc.1.
func Parse(s string) (Version, error) {
	t := strings.TrimPrefix(s, "v")
	parts := strings.SplitN(t, ".", 3)
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("kubernetes version %q: want vMAJOR.MINOR[.PATCH]", s)
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return Version{}, fmt.Errorf("kubernetes version %q: major: %w", s, err)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return Version{}, fmt.Errorf("kubernetes version %q: minor: %w", s, err)
	}
	return Version{Major: major, Minor: minor, Full: s}, nil
}

// FromServer reads an API server's /version. Managed offerings write the
// minor with a suffix ("35+" on EKS and GKE); gitVersion is the fallback
// when major or minor are empty. ok is false when neither says: an API
// server built without version ldflags reports v0.0.0-master.
func FromServer(info *version.Info) (Version, bool) {
	if info == nil {
		return Version{}, false
	}
	major, errMajor := strconv.Atoi(strings.TrimRight(info.Major, "+"))
	minor, errMinor := strconv.Atoi(strings.TrimRight(info.Minor, "+"))
	if errMajor == nil && errMinor == nil && major > 0 {
		return Version{Major: major, Minor: minor, Full: info.GitVersion}, true
	}
	v, err := Parse(info.GitVersion)
	if err != nil || v.Major == 0 {
		return Version{}, false
	}
	return v, true
}

// ErrSchedulerNewer is returned by CheckServer for an API server older than
// the build. Its message names both minors and the build to run.
type ErrSchedulerNewer struct {
	Built, Server Version
}

func (e *ErrSchedulerNewer) Error() string {
	return fmt.Sprintf("archfit-scheduler is built on Kubernetes %s (%s) but kube-apiserver is %s (%s): "+
		"kube-scheduler must never be newer than its API server, and this one would wait forever for APIs %s does not serve. "+
		"Run the k8s%s build (image tag suffix -k8s%s; the Helm chart picks it from the cluster's version)",
		e.Built.MinorString(), e.Built.Full, e.Server.MinorString(), e.Server.Full, e.Server.MinorString(),
		e.Server.MinorString(), e.Server.MinorString())
}

// CheckServer compares an API server's version with the build. It returns
// an *ErrSchedulerNewer when the server is an older minor; a warning (and
// no error) when the server is more than one minor newer, which the skew
// policy does not cover but which usually works; and nothing when either
// version is unknown, since refusing then would stop a working scheduler
// on an API server that hides its version.
func CheckServer(built Version, builtOK bool, info *version.Info) (warning string, err error) {
	server, ok := FromServer(info)
	if !ok || !builtOK {
		return "", nil
	}
	if server.Major < built.Major || (server.Major == built.Major && server.Minor < built.Minor) {
		return "", &ErrSchedulerNewer{Built: built, Server: server}
	}
	if server.Major == built.Major && server.Minor > built.Minor+1 {
		return fmt.Sprintf("archfit-scheduler is built on Kubernetes %s but kube-apiserver is %s: "+
			"the skew policy allows the scheduler one minor behind; run the newest archfit-scheduler build not newer than %s",
			built.MinorString(), server.MinorString(), server.MinorString()), nil
	}
	return "", nil
}

package migration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestDigestOf(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/library/app@" + digestA:             digestA,
		"docker-pullable://app@" + digestA:             digestA,
		"registry:5000/team/app@" + digestA:            digestA,
		digestA:                                        digestA,
		"app@sha256:abc":                               "",
		"sha256:" + strings.Repeat("a", 63):            "",
		"docker.io/library/app:1.0":                    "",
		"":                                             "",
		"app@sha512:" + strings.Repeat("a", 64):        "",
		"docker.io/library/app@" + digestA + "trailer": "",
	} {
		if got := DigestOf(in); got != want {
			t.Errorf("DigestOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// status is a container status of image app with digestA.
func status(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Image: "app:1", ImageID: "docker.io/library/app@" + digestA}
}

func TestExecFormatErrors(t *testing.T) {
	runc := `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app": exec format error: unknown`
	terminated := status("main")
	terminated.State.Terminated = &corev1.ContainerStateTerminated{Reason: "StartError", Message: runc, ExitCode: 128}
	last := status("sidecar")
	last.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}
	last.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", Message: "exec /app: exec format error", ExitCode: 1}
	waiting := status("init")
	waiting.State.Waiting = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: "exec /init: exec format error"}
	healthy := status("fine")
	healthy.State.Running = &corev1.ContainerStateRunning{}
	other := status("other")
	other.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", Message: "panic: nil map", ExitCode: 2}

	pod := &corev1.Pod{}
	pod.Name = "web-1"
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{waiting}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{terminated, last, healthy, other}

	got := ExecFormatErrors(pod, "arm64")
	want := map[string]string{"init": "exec /init: exec format error", "main": runc, "sidecar": "exec /app: exec format error"}
	if len(got) != len(want) {
		t.Fatalf("found %d containers, want %d: %+v", len(got), len(want), got)
	}
	for _, f := range got {
		if want[f.Container] != f.Message || f.Arch != "arm64" || f.Reason != ReasonExecFormatError || f.Digest != digestA || f.Image != "app:1" || f.Pod != pod {
			t.Errorf("finding %+v", f)
		}
	}
	if got := ExecFormatErrors(&corev1.Pod{}, "arm64"); len(got) != 0 {
		t.Errorf("a pod without statuses: %+v", got)
	}
}

// loopPod is a pod of arch whose one container crash-loops (restarts
// times), or runs Ready.
func loopPod(name, arch string, restarts int32) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name = name
	p.Spec.NodeName = arch + "-node"
	st := status("app")
	st.RestartCount = restarts
	if restarts > 0 {
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 139}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	} else {
		st.State.Running = &corev1.ContainerStateRunning{}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
	return p
}

func TestArchCrashLoops(t *testing.T) {
	archOf := func(p *corev1.Pod) string { return strings.TrimSuffix(p.Spec.NodeName, "-node") }
	notReady := loopPod("amd-starting", "amd64", 0)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	unknown := loopPod("nowhere", "", 5)
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		want []string // pod names found
	}{
		{"crash loop on arm64 only, amd64 healthy", []*corev1.Pod{loopPod("arm-1", "arm64", 5), loopPod("arm-2", "arm64", 3), loopPod("amd-1", "amd64", 0)}, []string{"arm-1", "arm-2"}},
		{"crash loops on both arches: the app's own bug", []*corev1.Pod{loopPod("arm-1", "arm64", 5), loopPod("amd-1", "amd64", 5), loopPod("amd-2", "amd64", 0)}, nil},
		{"no replica elsewhere to compare with", []*corev1.Pod{loopPod("arm-1", "arm64", 5)}, nil},
		{"the amd64 replica is not Ready", []*corev1.Pod{loopPod("arm-1", "arm64", 5), notReady}, nil},
		{"too few restarts", []*corev1.Pod{loopPod("arm-1", "arm64", 2), loopPod("amd-1", "amd64", 0)}, nil},
		{"a pod of unknown arch is left out", []*corev1.Pod{unknown, loopPod("amd-1", "amd64", 0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ArchCrashLoops(tc.pods, archOf, 3)
			var names []string
			for _, f := range got {
				names = append(names, f.Pod.Name)
				if f.Arch != "arm64" || f.Reason != ReasonArchCrashLoop || f.Container != "app" || f.Digest != digestA || f.Message != "Error: exit code 139" {
					t.Errorf("finding %+v", f)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("found %v, want %v", names, tc.want)
			}
		})
	}
}

package migration

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Finding is a container found not to run on its node's arch.
type Finding struct {
	Pod       *corev1.Pod
	Container string
	Image     string
	Digest    string
	Arch      string
	Reason    string
	Message   string
}

// execFormat is what runc reports, through containerd or CRI-O, when the
// kernel refuses a binary built for another arch: "exec /app: exec format
// error", or with a StartError "... unable to start container process:
// exec: \"/app\": exec format error: unknown".
const execFormat = "exec format error"

// ExecFormatErrors finds the containers of a pod on a node of arch whose
// current or last state says exec format error, as kubelet writes it.
func ExecFormatErrors(pod *corev1.Pod, arch string) []Finding {
	var out []Finding
	for _, st := range allStatuses(pod) {
		msg := ""
		for _, s := range []corev1.ContainerState{st.State, st.LastTerminationState} {
			switch {
			case s.Terminated != nil && strings.Contains(s.Terminated.Message, execFormat):
				msg = s.Terminated.Message
			case s.Waiting != nil && strings.Contains(s.Waiting.Message, execFormat):
				msg = s.Waiting.Message
			}
			if msg != "" {
				break
			}
		}
		if msg == "" {
			continue
		}
		out = append(out, Finding{Pod: pod, Container: st.Name, Image: st.Image, Digest: DigestOf(st.ImageID),
			Arch: arch, Reason: ReasonExecFormatError, Message: msg})
	}
	return out
}

// CrashLooping lists the containers of a pod in CrashLoopBackOff with at
// least restarts restarts.
func CrashLooping(pod *corev1.Pod, restarts int32) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, st := range allStatuses(pod) {
		if st.State.Waiting != nil && st.State.Waiting.Reason == "CrashLoopBackOff" && st.RestartCount >= restarts {
			out = append(out, st)
		}
	}
	return out
}

// Healthy is a pod that is Ready and crash-looping in no container.
func Healthy(pod *corev1.Pod, restarts int32) bool {
	if len(CrashLooping(pod, restarts)) > 0 {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ArchCrashLoops finds a workload's containers that crash-loop on one arch
// while its replicas on another arch run healthy: the pattern of an app
// that is broken on that arch only. pods are the workload's bound pods and
// archOf gives each one's node arch. Crash loops on every arch are the
// app's own bug, not the arch's, and find nothing.
func ArchCrashLoops(pods []*corev1.Pod, archOf func(*corev1.Pod) string, restarts int32) []Finding {
	crashing := map[string][]Finding{}
	healthy := map[string]bool{}
	for _, p := range pods {
		arch := archOf(p)
		if arch == "" {
			continue
		}
		loops := CrashLooping(p, restarts)
		for _, st := range loops {
			msg := ""
			if t := st.LastTerminationState.Terminated; t != nil {
				msg = t.Reason + ": exit code " + strconv.Itoa(int(t.ExitCode))
			}
			crashing[arch] = append(crashing[arch], Finding{Pod: p, Container: st.Name, Image: st.Image,
				Digest: DigestOf(st.ImageID), Arch: arch, Reason: ReasonArchCrashLoop, Message: msg})
		}
		if len(loops) == 0 && Healthy(p, restarts) {
			healthy[arch] = true
		}
	}
	var out []Finding
	for arch, fs := range crashing {
		others := false
		for a := range healthy {
			if a != arch && len(crashing[a]) == 0 {
				others = true
			}
		}
		if others {
			out = append(out, fs...)
		}
	}
	return out
}

func allStatuses(pod *corev1.Pod) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(pod.Status.InitContainerStatuses)+len(pod.Status.ContainerStatuses))
	out = append(out, pod.Status.InitContainerStatuses...)
	return append(out, pod.Status.ContainerStatuses...)
}

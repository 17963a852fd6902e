package archfit

import (
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
)

// Event reasons on pods.
const (
	EventImageLacksArch  = "ArchFitImageLacksArch"
	EventImageUnknown    = "ArchFitImageUnknown"
	EventInvalidOverride = "ArchFitInvalidOverride"
	EventPlacedCheaper   = "ArchFitPlacedOnCheaperArch"
)

// eventOnce remembers which Events were written, so each goes out once per
// key, or once per ttl when ttl is set.
type eventOnce struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	seen map[string]time.Time
}

func newEventOnce(max int, ttl time.Duration) *eventOnce {
	return &eventOnce{max: max, ttl: ttl, seen: map[string]time.Time{}}
}

// first reports whether key is new (or its last Event is older than ttl).
// The set is bounded by dropping it whole when full: at worst an Event is
// written once more.
func (e *eventOnce) first(key string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if at, ok := e.seen[key]; ok && (e.ttl == 0 || now.Sub(at) < e.ttl) {
		return false
	}
	if len(e.seen) >= e.max {
		e.seen = map[string]time.Time{}
	}
	e.seen[key] = now
	return true
}

// event writes an Event on the pod, at most once per pod and reason.
func (pl *ArchFit) event(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if !pl.events.first(string(pod.UID)+"/"+reason, time.Time{}) {
		return
	}
	if r := pl.handle.EventRecorder(); r != nil {
		r.Eventf(pod, nil, eventType, reason, "Scheduling", format, args...)
	}
}

// placementEvent writes an informational Event as placementEvents says.
// Per workload, the pods of one controller share an Event an hour per
// reason and variant (the arch placed on, say): a Deployment of 200
// replicas gets one Event saying why, not 200 saying the same thing, and
// the scheduler does not double the Events it writes.
func (pl *ArchFit) placementEvent(pod *corev1.Pod, reason, variant, format string, args ...any) {
	switch pl.args.PlacementEvents {
	case config.PlacementEventsNone:
		return
	case config.PlacementEventsPerWorkload:
		owner := metav1.GetControllerOfNoCopy(pod)
		if owner == nil {
			break // a bare pod is its own workload
		}
		if !pl.workloadEvents.first(string(owner.UID)+"/"+reason+"/"+variant, time.Now()) {
			return
		}
		format += " (said once an hour for the pods of %s %s)"
		args = append(args, owner.Kind, owner.Name)
	}
	pl.event(pod, corev1.EventTypeNormal, reason, format, args...)
}

// explain records why a pod is constrained, as metrics and (once per pod
// and reason) as Events the pod's owner can read with kubectl describe.
func (pl *ArchFit) explain(pod *corev1.Pod, pp *imageplatform.PodPlatforms) {
	profile := pl.handle.ProfileName()
	if pp.OverrideErr != nil {
		pl.metrics.filtered.WithLabelValues(profile, "invalid_override").Inc()
		pl.event(pod, corev1.EventTypeWarning, EventInvalidOverride, "%v; treating the pod's images as unknown (unknownImagePolicy %s)", pp.OverrideErr, pl.policy.Unknown)
	}
	for _, u := range pp.Unknown {
		if pp.OverrideErr != nil {
			break
		}
		pl.metrics.filtered.WithLabelValues(profile, "unknown_image").Inc()
		pl.event(pod, corev1.EventTypeWarning, EventImageUnknown, "platforms of image %s are unknown (%s: %v); unknownImagePolicy %s allows %s",
			u.Result.Image, imageplatform.ErrorReason(u.Result.Err), u.Result.Err, pl.policy.Unknown, pp.Describe())
	}
	if !pp.Unconstrained && len(pp.Allowed) == 0 {
		pl.metrics.filtered.WithLabelValues(profile, "no_platform").Inc()
		return
	}
	if pp.AllowsArch(pl.cheapArch) {
		return
	}
	blocking := pp.BlockingImages("linux", pl.cheapArch)
	if len(blocking) == 0 {
		return
	}
	pl.metrics.filtered.WithLabelValues(profile, "image_architecture").Inc()
	// Only worth saying when the cluster has such nodes; the node index
	// answers that without walking the node list on the serial cycle.
	if pl.index.current().hasArch("linux", pl.cheapArch) {
		pl.placementEvent(pod, EventImageLacksArch, pl.cheapArch, "pod could run on cheaper %s nodes, but image(s) %s are not built for linux/%s",
			pl.cheapArch, strings.Join(blocking, ", "), pl.cheapArch)
	}
}

package placement

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Event reasons. They are a contract with operators' alerts.
const (
	ReasonWritten     = "ArchFitPlacementWritten"
	ReasonPolicy      = "ArchFitPlacementPolicyApplied"
	ReasonPinConflict = "ArchFitPlacementPinConflict"
	ReasonUnchanged   = "ArchFitPlacementUnchanged"
	ReasonRejected    = "ArchFitPlacementRejected"
)

// maxNote is below the API's 1 kB limit on an Event's note.
const maxNote = 1000

// Explain says, for the pod's owner, what a decision wrote and why: the
// Event's type, reason and note.
func Explain(d Decision, policy imageplatform.PodPolicy) (eventType, reason, note string) {
	var b strings.Builder
	switch d.Outcome {
	case OutcomeWritten:
		eventType, reason = corev1.EventTypeNormal, ReasonWritten
		fmt.Fprintf(&b, "wrote required node affinity %s: the platforms every image is built for (%s)", affinityText(d.Allowed), imagesText(d.Images))
	case OutcomePolicy:
		eventType, reason = corev1.EventTypeWarning, ReasonPolicy
		fmt.Fprintf(&b, "could not learn the platforms of %s; unknownImagePolicy %s", unknownText(d.Images), policy.Unknown)
		if len(d.Allowed) == 0 {
			fmt.Fprintf(&b, ": wrote %s, which no node matches, so the pod stays Pending; recreate it once the registry answers", affinityText(nil))
		} else {
			fmt.Fprintf(&b, ": wrote required node affinity %s", affinityText(d.Allowed))
		}
	case OutcomeUnconstrained:
		eventType, reason = corev1.EventTypeWarning, ReasonPolicy
		fmt.Fprintf(&b, "could not learn the platforms of %s; unknownImagePolicy %s: wrote no constraint, the pod may land on any architecture", unknownText(d.Images), policy.Unknown)
	case OutcomeConflict:
		eventType, reason = corev1.EventTypeWarning, ReasonPinConflict
		fmt.Fprintf(&b, "the pod's own nodeSelector/affinity admits %s but its images run on %s (%s); left as it is: placement never overrides a pod's own constraint",
			describe(d.Pinned), d.Images.Describe(), imagesText(d.Images))
	default:
		eventType, reason = corev1.EventTypeNormal, ReasonUnchanged
		fmt.Fprintf(&b, "the pod's own nodeSelector/affinity already keeps it on %s, which its images support; left as it is", describe(d.Pinned))
	}
	note = b.String()
	if len(note) > maxNote {
		note = note[:maxNote-3] + "..."
	}
	return eventType, reason, note
}

func affinityText(allowed []imageplatform.OSArch) string {
	var parts []string
	for _, t := range platformTerms(allowed) {
		var e []string
		for _, r := range t {
			e = append(e, fmt.Sprintf("%s In [%s]", r.Key, strings.Join(r.Values, ",")))
		}
		parts = append(parts, strings.Join(e, " and "))
	}
	return strings.Join(parts, " or ")
}

func imagesText(pp imageplatform.PodPlatforms) string {
	seen := map[string]bool{}
	var parts []string
	for _, v := range pp.Images {
		r := v.Result
		if seen[r.Image] || r.Err != nil || r.Source == imageplatform.SourceUnknown {
			continue
		}
		seen[r.Image] = true
		parts = append(parts, fmt.Sprintf("%s: %s", r.Image, strings.Join(imageplatform.PlatformStrings(r.Platforms), ",")))
	}
	if len(parts) == 0 {
		return "no image known"
	}
	return strings.Join(parts, "; ")
}

func unknownText(pp imageplatform.PodPlatforms) string {
	var parts []string
	for _, img := range pp.Pending {
		parts = append(parts, img+" (still looking it up)")
	}
	for _, v := range pp.Unknown {
		parts = append(parts, fmt.Sprintf("%s (%s: %v)", v.Result.Image, imageplatform.ErrorReason(v.Result.Err), v.Result.Err))
	}
	if pp.OverrideErr != nil && len(parts) == 0 {
		parts = append(parts, pp.OverrideErr.Error())
	}
	return strings.Join(parts, ", ")
}

// Package validation checks ArchFitArgs. Every error carries the field's
// path, so a bad scheduler config names what to fix.
package validation

import (
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
)

// MaxLookupBudget caps how long one pod may hold the serial scheduling cycle.
const MaxLookupBudget = time.Second

var archName = regexp.MustCompile(`^[a-z0-9_]+$`)

// ValidateArchFitArgs validates args; path is the args' own path in the
// config (for example profiles[0].pluginConfig[1].args).
func ValidateArchFitArgs(path *field.Path, args *config.ArchFitArgs) error {
	var errs field.ErrorList
	if _, err := imageplatform.ParseUnknownImagePolicy(args.UnknownImagePolicy); err != nil {
		errs = append(errs, field.NotSupported(path.Child("unknownImagePolicy"), args.UnknownImagePolicy, []string{"Fallback", "AllowAll", "Deny"}))
	}
	if args.UnknownImagePolicy == string(imageplatform.PolicyFallback) && len(args.FallbackArchitectures) == 0 {
		errs = append(errs, field.Required(path.Child("fallbackArchitectures"), "needed by unknownImagePolicy Fallback"))
	}
	for i, a := range args.FallbackArchitectures {
		if !archName.MatchString(a) {
			errs = append(errs, field.Invalid(path.Child("fallbackArchitectures").Index(i), a, "want a GOARCH name such as amd64 or arm64"))
		}
	}
	for a, w := range args.ArchitectureWeights {
		if !archName.MatchString(a) {
			errs = append(errs, field.Invalid(path.Child("architectureWeights").Key(a), a, "want a GOARCH name such as amd64 or arm64"))
		}
		if !(w > 0) || w > 1000 {
			errs = append(errs, field.Invalid(path.Child("architectureWeights").Key(a), w, "must be a relative price above 0 and at most 1000"))
		}
	}
	for i, h := range args.InsecureRegistries {
		if err := imageplatform.ValidateHostPort(h); err != nil {
			errs = append(errs, field.Invalid(path.Child("insecureRegistries").Index(i), h, err.Error()))
		}
	}
	for i, h := range args.AllowedPrivateRegistries {
		if err := imageplatform.ValidateHostPort(h); err != nil {
			errs = append(errs, field.Invalid(path.Child("allowedPrivateRegistries").Index(i), h, err.Error()))
		}
	}
	if args.DockerHubMirror != "" {
		if err := imageplatform.ValidateHostPort(args.DockerHubMirror); err != nil {
			errs = append(errs, field.Invalid(path.Child("dockerHubMirror"), args.DockerHubMirror, err.Error()))
		}
	}
	positive := func(name string, d metav1.Duration) {
		if d.Duration <= 0 {
			errs = append(errs, field.Invalid(path.Child(name), d.Duration.String(), "must be positive"))
		}
	}
	positive("lookupBudget", args.LookupBudget)
	positive("tagTTL", args.TagTTL)
	positive("negativeTTL", args.NegativeTTL)
	positive("requestTimeout", args.RequestTimeout)
	if args.LookupBudget.Duration > MaxLookupBudget {
		errs = append(errs, field.Invalid(path.Child("lookupBudget"), args.LookupBudget.Duration.String(), "must be at most 1s: the scheduling cycle is serial and waits for it"))
	}
	if args.MaxConcurrentRequestsPerRegistry < 1 {
		errs = append(errs, field.Invalid(path.Child("maxConcurrentRequestsPerRegistry"), args.MaxConcurrentRequestsPerRegistry, "must be at least 1"))
	}
	if args.CacheSize < 1 {
		errs = append(errs, field.Invalid(path.Child("cacheSize"), args.CacheSize, "must be at least 1"))
	}
	if args.PriceAnnotation == "" {
		errs = append(errs, field.Required(path.Child("priceAnnotation"), ""))
	}
	switch args.PlacementEvents {
	case config.PlacementEventsPerWorkload, config.PlacementEventsPerPod, config.PlacementEventsNone:
	default:
		errs = append(errs, field.NotSupported(path.Child("placementEvents"), args.PlacementEvents,
			[]string{config.PlacementEventsPerWorkload, config.PlacementEventsPerPod, config.PlacementEventsNone}))
	}
	if args.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(args.NamespaceSelector); err != nil {
			errs = append(errs, field.Invalid(path.Child("namespaceSelector"), args.NamespaceSelector, err.Error()))
		}
	}
	return errs.ToAggregate()
}

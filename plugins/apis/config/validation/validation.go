// Package validation checks ArchFitArgs. Every error carries the field's
// path, so a bad scheduler config names what to fix.
package validation

import (
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
)

// MaxLookupBudget caps how long one pod may hold the serial scheduling cycle.
const MaxLookupBudget = time.Second

var archName = regexp.MustCompile(`^[a-z0-9_]+$`)

// ValidateResolverConfig validates the resolver settings. They sit inline
// in ArchFitArgs, so path is the path of the object holding them; the
// commands that take them as flags pass nil and name the flag from the
// field.
func ValidateResolverConfig(path *field.Path, c *config.ResolverConfig) field.ErrorList {
	var errs field.ErrorList
	if _, err := imageplatform.ParseUnknownImagePolicy(c.UnknownImagePolicy); err != nil {
		errs = append(errs, field.NotSupported(path.Child("unknownImagePolicy"), c.UnknownImagePolicy, []string{"Fallback", "AllowAll", "Deny"}))
	}
	if c.UnknownImagePolicy == string(imageplatform.PolicyFallback) && len(c.FallbackArchitectures) == 0 {
		errs = append(errs, field.Required(path.Child("fallbackArchitectures"), "needed by unknownImagePolicy Fallback"))
	}
	for i, a := range c.FallbackArchitectures {
		if !archName.MatchString(a) {
			errs = append(errs, field.Invalid(path.Child("fallbackArchitectures").Index(i), a, "want a GOARCH name such as amd64 or arm64"))
		}
	}
	for i, h := range c.InsecureRegistries {
		if err := imageplatform.ValidateHostPort(h); err != nil {
			errs = append(errs, field.Invalid(path.Child("insecureRegistries").Index(i), h, err.Error()))
		}
	}
	for i, h := range c.AllowedPrivateRegistries {
		if err := imageplatform.ValidateHostPort(h); err != nil {
			errs = append(errs, field.Invalid(path.Child("allowedPrivateRegistries").Index(i), h, err.Error()))
		}
	}
	if c.DockerHubMirror != "" {
		if err := imageplatform.ValidateHostPort(c.DockerHubMirror); err != nil {
			errs = append(errs, field.Invalid(path.Child("dockerHubMirror"), c.DockerHubMirror, err.Error()))
		}
	}
	for _, d := range []struct {
		name string
		v    metav1.Duration
	}{{"requestTimeout", c.RequestTimeout}, {"tagTTL", c.TagTTL}, {"negativeTTL", c.NegativeTTL}} {
		if d.v.Duration <= 0 {
			errs = append(errs, field.Invalid(path.Child(d.name), d.v.Duration.String(), "must be positive"))
		}
	}
	if c.MaxConcurrentRequestsPerRegistry < 1 {
		errs = append(errs, field.Invalid(path.Child("maxConcurrentRequestsPerRegistry"), c.MaxConcurrentRequestsPerRegistry, "must be at least 1"))
	}
	if c.CacheSize < 1 {
		errs = append(errs, field.Invalid(path.Child("cacheSize"), c.CacheSize, "must be at least 1"))
	}
	if c.RollbackRecords != "" {
		ns, name, ok := strings.Cut(c.RollbackRecords, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			errs = append(errs, field.Invalid(path.Child("rollbackRecords"), c.RollbackRecords, "want a ConfigMap as namespace/name, or empty for none"))
		}
	}
	return errs
}

// ValidateArchFitArgs validates args; path is the args' own path in the
// config (for example profiles[0].pluginConfig[1].args).
func ValidateArchFitArgs(path *field.Path, args *config.ArchFitArgs) error {
	errs := ValidateResolverConfig(path, &args.ResolverConfig)
	for a, w := range args.ArchitectureWeights {
		if !archName.MatchString(a) {
			errs = append(errs, field.Invalid(path.Child("architectureWeights").Key(a), a, "want a GOARCH name such as amd64 or arm64"))
		}
		if !(w > 0) || w > 1000 {
			errs = append(errs, field.Invalid(path.Child("architectureWeights").Key(a), w, "must be a relative price above 0 and at most 1000"))
		}
	}
	if args.LookupBudget.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("lookupBudget"), args.LookupBudget.Duration.String(), "must be positive"))
	}
	if args.LookupBudget.Duration > MaxLookupBudget {
		errs = append(errs, field.Invalid(path.Child("lookupBudget"), args.LookupBudget.Duration.String(), "must be at most 1s: the scheduling cycle is serial and waits for it"))
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

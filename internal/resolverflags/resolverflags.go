// Package resolverflags is the image-platform resolver's configuration as
// command-line flags, for the commands that take it on their command line
// (archfit-expander, archfit-placement), and the resolver and credentials
// built from it. The settings are config.ResolverConfig, the type the
// scheduler plugin's ArchFitArgs inlines: one name, one default
// (v1.SetDefaults_ResolverConfig) and one validation for each, wherever it
// is set. A flag is the setting's name in kebab case, singular for a
// repeatable list.
package resolverflags

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
	"github.com/archfit/archfit/plugins/apis/config"
	v1 "github.com/archfit/archfit/plugins/apis/config/v1"
	"github.com/archfit/archfit/plugins/apis/config/validation"
)

// Flags are the resolver settings.
type Flags struct {
	config.ResolverConfig
}

// Defaults are the shipped values, the same as ArchFitArgs'.
func Defaults() Flags { return Flags{v1.DefaultResolverConfig()} }

// With returns a copy of f changed by set, for callers that build the
// settings in code.
func (f Flags) With(set func(*config.ResolverConfig)) Flags {
	c := f
	c.FallbackArchitectures = append([]string(nil), f.FallbackArchitectures...)
	c.InsecureRegistries = append([]string(nil), f.InsecureRegistries...)
	c.AllowedPrivateRegistries = append([]string(nil), f.AllowedPrivateRegistries...)
	set(&c.ResolverConfig)
	return c
}

// flagOf maps a setting (its field path's first element) to its flag.
var flagOf = map[string]string{
	"unknownImagePolicy":               "unknown-image-policy",
	"fallbackArchitectures":            "fallback-architectures",
	"insecureRegistries":               "insecure-registry",
	"allowedPrivateRegistries":         "allowed-private-registry",
	"dockerHubMirror":                  "docker-hub-mirror",
	"requestTimeout":                   "request-timeout",
	"tagTTL":                           "tag-ttl",
	"negativeTTL":                      "negative-ttl",
	"maxConcurrentRequestsPerRegistry": "max-concurrent-requests-per-registry",
	"cacheSize":                        "cache-size",
	"rollbackRecords":                  "rollback-records",
}

// AddFlags registers the flags with f's current values as defaults.
// policyHelp says what each unknown-image policy does in the command that
// registers it.
func (f *Flags) AddFlags(fs *pflag.FlagSet, policyHelp string) {
	c := &f.ResolverConfig
	fs.StringVar(&c.UnknownImagePolicy, flagOf["unknownImagePolicy"], c.UnknownImagePolicy, "when an image's platforms cannot be learned: "+policyHelp)
	fs.StringSliceVar(&c.FallbackArchitectures, flagOf["fallbackArchitectures"], c.FallbackArchitectures, "architectures an unknown image may run on under Fallback")
	fs.StringArrayVar(&c.InsecureRegistries, flagOf["insecureRegistries"], c.InsecureRegistries, "registry host:port reachable over plain HTTP (repeatable)")
	fs.StringArrayVar(&c.AllowedPrivateRegistries, flagOf["allowedPrivateRegistries"], c.AllowedPrivateRegistries, "registry host[:port] allowed on loopback or link-local addresses (repeatable)")
	fs.StringVar(&c.DockerHubMirror, flagOf["dockerHubMirror"], c.DockerHubMirror, "look up Docker Hub images in this registry host[:port] instead (air-gapped clusters)")
	fs.DurationVar(&c.RequestTimeout.Duration, flagOf["requestTimeout"], c.RequestTimeout.Duration, "time limit of one registry lookup")
	fs.DurationVar(&c.TagTTL.Duration, flagOf["tagTTL"], c.TagTTL.Duration, "how long a tag's digest is fresh")
	fs.DurationVar(&c.NegativeTTL.Duration, flagOf["negativeTTL"], c.NegativeTTL.Duration, "how long a failed lookup is remembered")
	fs.Int32Var(&c.MaxConcurrentRequestsPerRegistry, flagOf["maxConcurrentRequestsPerRegistry"], c.MaxConcurrentRequestsPerRegistry, "lookups in flight to one registry at most")
	fs.Int32Var(&c.CacheSize, flagOf["cacheSize"], c.CacheSize, "entries in each resolver cache")
	fs.StringVar(&c.RollbackRecords, flagOf["rollbackRecords"], c.RollbackRecords, "ConfigMap (namespace/name) of migration's rollback records: image digests that do not run on an arch; empty: none")

	// The names these flags had before they were named after the setting.
	// The alias appends: a StringArray flag replaces its value on first use,
	// which would drop what the other name set earlier on the line.
	fs.Var(appendTo{&c.AllowedPrivateRegistries}, "allow-private-registry", "")
	_ = fs.MarkDeprecated("allow-private-registry", "use --allowed-private-registry")
	fs.DurationVar(&c.RequestTimeout.Duration, "registry-request-timeout", c.RequestTimeout.Duration, "")
	_ = fs.MarkDeprecated("registry-request-timeout", "use --request-timeout")
}

// appendTo is a repeatable flag that adds to a list.
type appendTo struct{ list *[]string }

func (a appendTo) Set(v string) error { *a.list = append(*a.list, v); return nil }
func (a appendTo) String() string     { return strings.Join(*a.list, ",") }
func (a appendTo) Type() string       { return "stringArray" }

// Validate checks the settings, naming the flag at fault.
func (f *Flags) Validate() error {
	var errs []error
	for _, e := range validation.ValidateResolverConfig(nil, &f.ResolverConfig) {
		name, _, _ := strings.Cut(e.Field, "[")
		errs = append(errs, fmt.Errorf("--%s: %s", flagOf[name], e.ErrorBody()))
	}
	return errors.Join(errs...)
}

// Resolver builds the registry resolver these settings describe.
func (f *Flags) Resolver(userAgent string) (*imageplatform.RegistryResolver, error) {
	return imageplatform.NewRegistryResolver(Options(&f.ResolverConfig, userAgent)...)
}

// Options are the resolver options for c: the one translation of the
// settings into the resolver's, which the scheduler plugin uses too.
func Options(c *config.ResolverConfig, userAgent string) []imageplatform.Option {
	return []imageplatform.Option{
		imageplatform.WithInsecureRegistries(c.InsecureRegistries...),
		imageplatform.WithAllowedPrivateRegistries(c.AllowedPrivateRegistries...),
		imageplatform.WithDockerHubMirror(c.DockerHubMirror),
		imageplatform.WithRequestTimeout(c.RequestTimeout.Duration),
		imageplatform.WithTagTTL(c.TagTTL.Duration),
		imageplatform.WithNegativeTTL(c.NegativeTTL.Duration),
		imageplatform.WithMaxPerRegistry(int(c.MaxConcurrentRequestsPerRegistry)),
		imageplatform.WithCacheSize(int(c.CacheSize)),
		imageplatform.WithUserAgent(userAgent),
	}
}

// PodPolicy is the whole-pod rule's part of the settings.
func (f *Flags) PodPolicy() imageplatform.PodPolicy {
	return PodPolicy(&f.ResolverConfig)
}

// PodPolicy is c's whole-pod rule.
func PodPolicy(c *config.ResolverConfig) imageplatform.PodPolicy {
	return imageplatform.PodPolicy{Unknown: imageplatform.UnknownImagePolicy(c.UnknownImagePolicy), FallbackArchitectures: c.FallbackArchitectures}
}

// PodCredentials reads a pod's pull secrets (its own and its service
// account's) from informer listers; a secret it cannot read leaves the
// lookup anonymous, which the unknown-image policy then covers.
func PodCredentials(secrets corelisters.SecretLister, accounts corelisters.ServiceAccountLister) func(context.Context, *corev1.Pod) imageplatform.Credentials {
	return func(ctx context.Context, pod *corev1.Pod) imageplatform.Credentials {
		c, err := imageplatform.CredentialsForPod(ctx, pod,
			func(ns, n string) (*corev1.Secret, error) { return secrets.Secrets(ns).Get(n) },
			func(ns, n string) (*corev1.ServiceAccount, error) { return accounts.ServiceAccounts(ns).Get(n) })
		if err != nil {
			return imageplatform.Credentials{}
		}
		return c
	}
}

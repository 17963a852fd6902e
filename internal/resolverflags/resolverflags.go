// Package resolverflags is the image-platform resolver's configuration as
// command-line flags, one name and one default per setting, shared by the
// commands that take it on their command line (archfit-expander,
// archfit-placement), and the resolver and credentials built from it.
package resolverflags

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Flags are the resolver settings.
type Flags struct {
	InsecureRegistries []string
	AllowedPrivate     []string
	DockerHubMirror    string
	UnknownImagePolicy string
	FallbackArchs      []string
	RequestTimeout     time.Duration
}

// Defaults are the shipped values.
func Defaults() Flags {
	return Flags{
		UnknownImagePolicy: string(imageplatform.PolicyFallback),
		FallbackArchs:      []string{"amd64"},
		RequestTimeout:     imageplatform.DefaultRequestTimeout,
	}
}

// AddFlags registers the flags with f's current values as defaults.
// policyHelp says what each unknown-image policy does in the command that
// registers it.
func (f *Flags) AddFlags(fs *pflag.FlagSet, policyHelp string) {
	fs.StringArrayVar(&f.InsecureRegistries, "insecure-registry", f.InsecureRegistries, "registry host:port reachable over plain HTTP (repeatable)")
	fs.StringArrayVar(&f.AllowedPrivate, "allow-private-registry", f.AllowedPrivate, "registry host[:port] allowed on loopback or link-local addresses (repeatable)")
	fs.StringVar(&f.DockerHubMirror, "docker-hub-mirror", f.DockerHubMirror, "look up Docker Hub images in this registry host[:port] instead (air-gapped clusters)")
	fs.StringVar(&f.UnknownImagePolicy, "unknown-image-policy", f.UnknownImagePolicy, "when an image's platforms cannot be learned: "+policyHelp)
	fs.StringSliceVar(&f.FallbackArchs, "fallback-architectures", f.FallbackArchs, "architectures an unknown image may run on under Fallback")
	fs.DurationVar(&f.RequestTimeout, "registry-request-timeout", f.RequestTimeout, "time limit of one registry lookup")
}

// Validate checks the settings, naming the flag at fault.
func (f *Flags) Validate() error {
	var errs []error
	if _, err := imageplatform.ParseUnknownImagePolicy(f.UnknownImagePolicy); err != nil {
		errs = append(errs, fmt.Errorf("--unknown-image-policy: %w", err))
	}
	if f.UnknownImagePolicy == string(imageplatform.PolicyFallback) && len(f.FallbackArchs) == 0 {
		errs = append(errs, errors.New("--fallback-architectures: needed by --unknown-image-policy=Fallback"))
	}
	for _, h := range f.InsecureRegistries {
		if err := imageplatform.ValidateHostPort(h); err != nil {
			errs = append(errs, fmt.Errorf("--insecure-registry: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Resolver builds the registry resolver these settings describe.
func (f *Flags) Resolver(userAgent string) (*imageplatform.RegistryResolver, error) {
	return imageplatform.NewRegistryResolver(
		imageplatform.WithInsecureRegistries(f.InsecureRegistries...),
		imageplatform.WithAllowedPrivateRegistries(f.AllowedPrivate...),
		imageplatform.WithDockerHubMirror(f.DockerHubMirror),
		imageplatform.WithRequestTimeout(f.RequestTimeout),
		imageplatform.WithUserAgent(userAgent),
	)
}

// PodPolicy is the whole-pod rule's part of the settings.
func (f *Flags) PodPolicy() imageplatform.PodPolicy {
	return imageplatform.PodPolicy{Unknown: imageplatform.UnknownImagePolicy(f.UnknownImagePolicy), FallbackArchitectures: f.FallbackArchs}
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

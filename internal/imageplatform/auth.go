package imageplatform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	credsecrets "k8s.io/kubernetes/pkg/credentialprovider/secrets"
)

// SecretGetter reads a Secret. Callers pass an informer lister, so building
// credentials does no API round trip.
type SecretGetter func(namespace, name string) (*corev1.Secret, error)

// ServiceAccountGetter reads a ServiceAccount, likewise from a lister.
type ServiceAccountGetter func(namespace, name string) (*corev1.ServiceAccount, error)

// PullSecretNames lists the pull secrets a kubelet would use for the pod:
// its own imagePullSecrets, then its service account's.
func PullSecretNames(pod *corev1.Pod, getSA ServiceAccountGetter) []string {
	var names []string
	for _, s := range pod.Spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	if getSA == nil {
		return names
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	if acct, err := getSA(pod.Namespace, sa); err == nil && acct != nil {
		for _, s := range acct.ImagePullSecrets {
			names = append(names, s.Name)
		}
	}
	return names
}

// CredentialsForPod builds the keychain from the pod's pull secrets. Missing
// secrets are skipped, as the kubelet does. The identity is a hash of the
// secrets' content, so pods sharing the same secret share cache entries and
// pods with different secrets never do.
func CredentialsForPod(ctx context.Context, pod *corev1.Pod, getSecret SecretGetter, getSA ServiceAccountGetter) (Credentials, error) {
	if getSecret == nil {
		return Credentials{}, nil
	}
	var secrets []corev1.Secret
	for _, n := range PullSecretNames(pod, getSA) {
		s, err := getSecret(pod.Namespace, n)
		if err != nil || s == nil {
			continue
		}
		secrets = append(secrets, *s)
	}
	return CredentialsFromSecrets(ctx, secrets)
}

// CredentialsFromSecrets builds credentials from docker-config Secrets.
func CredentialsFromSecrets(ctx context.Context, secrets []corev1.Secret) (Credentials, error) {
	if len(secrets) == 0 {
		return Credentials{}, nil
	}
	// The kubelet's own keyring, not go-containerregistry's authn/kubernetes:
	// that one links all of client-go, which doubled every downstream fuzzer's
	// coverage map and cut its rate below 50,000 inputs in 30 s (BENCH.md, Fuzz).
	kr, err := credsecrets.MakeDockerKeyring(secrets, nil)
	if err != nil {
		return Credentials{}, fmt.Errorf("pull secrets: %w", err)
	}
	if kr == nil { // no secret holds a docker config
		return Credentials{}, nil
	}
	return Credentials{ID: identity(secrets), Keychain: keyring{kr}}, nil
}

// keyring answers with the most specific matching entry, as the kubelet
// tries first; a pull that fails with it is not retried with the others,
// since a registry that refuses us is reported rather than probed.
type keyring struct {
	credentialprovider.DockerKeyring
}

func (k keyring) Resolve(target authn.Resource) (authn.Authenticator, error) {
	found, ok := k.Lookup(target.String())
	if !ok || len(found) == 0 {
		return authn.Anonymous, nil
	}
	c := found[0].AuthConfig
	return authn.FromConfig(authn.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		IdentityToken: c.IdentityToken,
		RegistryToken: c.RegistryToken,
	}), nil
}

func identity(secrets []corev1.Secret) string {
	h := sha256.New()
	for _, s := range secrets {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(h, "%s\x00", s.Type)
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00%x\x00", k, s.Data[k])
		}
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

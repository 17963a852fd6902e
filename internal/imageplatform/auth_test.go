package imageplatform_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/archfit/archfit/internal/imageplatform"
)

func legacyDockercfgSecret(name, host, user, pass string) corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Type:       corev1.SecretTypeDockercfg,
		Data:       map[string][]byte{corev1.DockerConfigKey: []byte(`{"` + host + `":{"auth":"` + auth + `"}}`)},
	}
}

// The keychain picks credentials as the kubelet does: the most specific
// matching entry, schemes and /v1/ suffixes ignored, Docker Hub's aliases
// folded, anonymous when nothing matches.
func TestKeychainMatchesAsKubelet(t *testing.T) {
	ctx := context.Background()
	creds, err := imageplatform.CredentialsFromSecrets(ctx, []corev1.Secret{
		dockerConfigSecret("ns", "host", "registry.example:5000", "host-user", "a"),
		dockerConfigSecret("ns", "team", "https://registry.example:5000/team", "team-user", "b"),
		legacyDockercfgSecret("hub", "https://index.docker.io/v1/", "hub-user", "c"),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte("y")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if creds.ID == "" || creds.Keychain == nil {
		t.Fatalf("credentials %+v: want an identity and a keychain", creds)
	}
	for _, tc := range []struct{ repo, user string }{
		{"registry.example:5000/team/app", "team-user"},
		{"registry.example:5000/other/app", "host-user"},
		{"registry.example/team/app", ""}, // another port is another registry
		{"nginx", "hub-user"},
		{"docker.io/library/nginx", "hub-user"},
		{"quay.io/team/app", ""},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		a, err := creds.Keychain.Resolve(repo)
		if err != nil {
			t.Fatalf("%s: %v", tc.repo, err)
		}
		if tc.user == "" {
			if a != authn.Anonymous {
				t.Errorf("%s: got %T, want anonymous", tc.repo, a)
			}
			continue
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != tc.user {
			t.Errorf("%s: user %q, want %q", tc.repo, cfg.Username, tc.user)
		}
	}
}

func TestCredentialsFromSecretsRefusesBrokenConfig(t *testing.T) {
	broken := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "broken"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":`)},
	}
	if _, err := imageplatform.CredentialsFromSecrets(context.Background(), []corev1.Secret{broken}); err == nil || !strings.HasPrefix(err.Error(), "pull secrets: ") {
		t.Fatalf("got %v, want a pull secrets error", err)
	}
	// Secrets without a docker config leave the pod anonymous, as the kubelet does.
	creds, err := imageplatform.CredentialsFromSecrets(context.Background(), []corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "opaque"}, Type: corev1.SecretTypeOpaque},
	})
	if err != nil || creds.Keychain != nil {
		t.Fatalf("got %+v, %v; want anonymous credentials", creds, err)
	}
}

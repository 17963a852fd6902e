package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/archfit/archfit/internal/imageplatform"
)

// Rollback reasons.
const (
	ReasonExecFormatError = "ExecFormatError"
	ReasonArchCrashLoop   = "CrashLoopOnArch"
)

// Record says one image digest does not run on one arch. The records live
// in one ConfigMap, a data key per digest ("sha256-<hex>", since a key may
// not hold ':') whose value is a JSON list of records, one per arch. A
// ConfigMap survives restarts, and an operator lists it with kubectl get
// and clears a record by removing its key.
type Record struct {
	Arch     string      `json:"arch"`
	Reason   string      `json:"reason"`
	Message  string      `json:"message,omitempty"`
	Image    string      `json:"image"`
	Workload string      `json:"workload"`
	Time     metav1.Time `json:"time"`
	// Digests are every digest the image is known by on Arch: the one its
	// tag resolves to (an index's, which the resolvers look records up
	// by), Arch's platform manifest's and its config's. A runtime reports
	// any one of them as imageID, and each finds the record. Empty until
	// the controller has asked the registry (it retries each pass); a
	// record written by hand with its "image" set is completed the same
	// way.
	Digests []string `json:"digests,omitempty"`
}

// Key is the data key of a digest ("sha256:abc" → "sha256-abc").
func Key(digest string) string { return strings.Replace(digest, ":", "-", 1) }

// DigestOfKey is Key's inverse.
func DigestOfKey(key string) string { return strings.Replace(key, "-", ":", 1) }

// DigestOf takes the digest out of a container status imageID
// ("docker.io/library/app@sha256:…", "docker-pullable://app@sha256:…",
// or a bare "sha256:…"); "" when it holds none. Which digest it is depends
// on the runtime: containerd reports the repo digest, for a multi-arch tag
// the index's; others the platform manifest's or the config's. A record's
// Digests hold all three, so any of them finds it.
func DigestOf(imageID string) string {
	if i := strings.LastIndex(imageID, "@"); i >= 0 {
		imageID = imageID[i+1:]
	}
	if strings.HasPrefix(imageID, "sha256:") && len(imageID) == len("sha256:")+64 {
		return imageID
	}
	return ""
}

// ParseRecords reads the records of a ConfigMap. A malformed entry is
// reported and skipped, never taken for "no record".
func ParseRecords(cm *corev1.ConfigMap) (map[string][]Record, error) {
	out := map[string][]Record{}
	var bad []string
	if cm == nil {
		return out, nil
	}
	for k, v := range cm.Data {
		var rs []Record
		if err := json.Unmarshal([]byte(v), &rs); err != nil || !strings.HasPrefix(k, "sha256-") {
			bad = append(bad, k)
			continue
		}
		out[DigestOfKey(k)] = rs
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, fmt.Errorf("rollback records %s/%s: malformed keys %v (want sha256-<hex>: a JSON list of records)", cm.Namespace, cm.Name, bad)
	}
	return out, nil
}

// Records holds the records of one ConfigMap for lookups that must not
// block; it implements imageplatform.Denials.
type Records struct {
	denied atomic.Pointer[map[string][]string]
	all    atomic.Pointer[map[string][]Record]
}

var _ imageplatform.Denials = (*Records)(nil)

// DeniedArchitectures implements imageplatform.Denials.
func (r *Records) DeniedArchitectures(digest string) []string {
	m := r.denied.Load()
	if m == nil {
		return nil
	}
	return (*m)[digest]
}

// All returns the records by digest; the caller must not change them.
func (r *Records) All() map[string][]Record {
	if m := r.all.Load(); m != nil {
		return *m
	}
	return nil
}

// Has reports whether digest has a record for arch.
func (r *Records) Has(digest, arch string) bool {
	for _, a := range r.DeniedArchitectures(digest) {
		if a == arch {
			return true
		}
	}
	return false
}

// Set replaces the records with a ConfigMap's (nil: none).
func (r *Records) Set(cm *corev1.ConfigMap) error {
	all, err := ParseRecords(cm)
	r.store(all)
	return err
}

// store publishes all, and the denied arches derived from it, under the
// key's digest and every digest a record lists.
func (r *Records) store(all map[string][]Record) {
	denied := make(map[string][]string, len(all))
	deny := func(d, arch string) {
		for _, a := range denied[d] {
			if a == arch {
				return
			}
		}
		denied[d] = append(denied[d], arch)
	}
	for d, rs := range all {
		for _, rec := range rs {
			deny(d, rec.Arch)
			for _, alias := range rec.Digests {
				deny(alias, rec.Arch)
			}
		}
	}
	r.all.Store(&all)
	r.denied.Store(&denied)
}

// Add adds one record to what r holds (replacing digest's record for the
// same arch), for the writer, until its informer brings the ConfigMap
// back.
func (r *Records) Add(digest string, rec Record) {
	all := map[string][]Record{}
	for d, rs := range r.All() {
		all[d] = rs
	}
	rs := append([]Record(nil), all[digest]...)
	replaced := false
	for i := range rs {
		if rs[i].Arch == rec.Arch {
			rs[i], replaced = rec, true
		}
	}
	if !replaced {
		rs = append(rs, rec)
	}
	all[digest] = rs
	r.store(all)
}

// Lookup finds the record that digest, in any of its forms, has for arch:
// the key it is stored under and the record.
func (r *Records) Lookup(digest, arch string) (string, Record, bool) {
	if !r.Has(digest, arch) {
		return "", Record{}, false
	}
	all := r.All()
	for _, rec := range all[digest] {
		if rec.Arch == arch {
			return digest, rec, true
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, rec := range all[k] {
			if rec.Arch != arch {
				continue
			}
			for _, d := range rec.Digests {
				if d == digest {
					return k, rec, true
				}
			}
		}
	}
	return "", Record{}, false
}

// Incomplete lists the records whose Digests are not known yet, by key.
func (r *Records) Incomplete() map[string][]Record {
	out := map[string][]Record{}
	for k, rs := range r.All() {
		for _, rec := range rs {
			if len(rec.Digests) == 0 {
				out[k] = append(out[k], rec)
			}
		}
	}
	return out
}

// SplitName parses "namespace/name"; ok is false for "".
func SplitName(nsName string) (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(nsName, "/")
	return ns, name, ok && ns != "" && name != ""
}

// WatchRecords keeps r in step with the ConfigMap namespace/name through
// an informer on that one object. Start the returned factory; onError
// hears of a malformed entry.
func WatchRecords(client kubernetes.Interface, namespace, name string, r *Records, onError func(error)) (informers.SharedInformerFactory, cache.InformerSynced, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	inf := f.Core().V1().ConfigMaps().Informer()
	set := func(obj any) {
		cm, _ := obj.(*corev1.ConfigMap)
		if err := r.Set(cm); err != nil && onError != nil {
			onError(err)
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(any) { _ = r.Set(nil) },
	})
	return f, inf.HasSynced, err
}

// SetDigests sets Digests on the record digest has for arch in the
// ConfigMap, and on r's copy. It reports whether it wrote anything: not
// when the record is gone (an operator cleared it) or already has them.
func SetDigests(ctx context.Context, client kubernetes.Interface, namespace, name, digest, arch string, digests []string) (bool, error) {
	wrote := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		wrote = false
		cms := client.CoreV1().ConfigMaps(namespace)
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		v, ok := cm.Data[Key(digest)]
		if !ok {
			return nil
		}
		var rs []Record
		if err := json.Unmarshal([]byte(v), &rs); err != nil {
			return fmt.Errorf("rollback record %s: %w", Key(digest), err)
		}
		changed := false
		for i := range rs {
			if rs[i].Arch == arch && len(rs[i].Digests) == 0 {
				rs[i].Digests = digests
				changed = true
			}
		}
		if !changed {
			return nil
		}
		b, err := json.Marshal(rs)
		if err != nil {
			return err
		}
		cm.Data[Key(digest)] = string(b)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		wrote = err == nil
		return err
	})
	return wrote, err
}

// AddRecord writes rec for digest into the ConfigMap, creating it when it
// does not exist; a record for the same arch is kept as it was. It
// reports whether it wrote anything.
func AddRecord(ctx context.Context, client kubernetes.Interface, namespace, name, digest string, rec Record) (bool, error) {
	if rec.Time.IsZero() {
		rec.Time = metav1.NewTime(time.Now())
	}
	wrote := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		wrote = false
		cms := client.CoreV1().ConfigMaps(namespace)
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if create {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
				Labels: map[string]string{"app.kubernetes.io/part-of": "archfit"}}}
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		var rs []Record
		if v, ok := cm.Data[Key(digest)]; ok {
			_ = json.Unmarshal([]byte(v), &rs)
		}
		for _, r := range rs {
			if r.Arch == rec.Arch {
				return nil
			}
		}
		rs = append(rs, rec)
		b, err := json.Marshal(rs)
		if err != nil {
			return err
		}
		cm.Data[Key(digest)] = string(b)
		if create {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), name, err)
			}
		} else {
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
		wrote = err == nil
		return err
	})
	return wrote, err
}

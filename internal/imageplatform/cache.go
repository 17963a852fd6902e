package imageplatform

import "k8s.io/utils/lru"

// typedLRU gives k8s.io/utils/lru's bounded, thread-safe cache the resolver's
// key and value types, so call sites cannot store the wrong kind of entry.
// It never expires entries by itself; callers that need time-based
// freshness store the deadline in V.
type typedLRU[K comparable, V any] struct{ c *lru.Cache }

func newLRU[K comparable, V any](max int) *typedLRU[K, V] {
	if max < 1 {
		max = 1
	}
	return &typedLRU[K, V]{c: lru.New(max)}
}

func (t *typedLRU[K, V]) Get(k K) (V, bool) {
	if v, ok := t.c.Get(k); ok {
		return v.(V), true
	}
	var zero V
	return zero, false
}

func (t *typedLRU[K, V]) Add(k K, v V) { t.c.Add(k, v) }

func (t *typedLRU[K, V]) Remove(k K) { t.c.Remove(k) }

func (t *typedLRU[K, V]) Len() int { return t.c.Len() }

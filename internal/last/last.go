// Package last remembers one key and its value, read without a lock. berth
// uses it where a request loop asks the same question again and again — the
// same manifest's answer headers, the same repository's resource list and
// authorization context, the same second's Date header — and a map behind a
// mutex, or building the answer again, would cost more than the answer.
package last

import "sync/atomic"

// One is the last key stored and its value. The zero One holds nothing.
// Values are shared by every Get that finds them, so callers must treat
// them as read-only once stored.
type One[K comparable, V any] struct {
	p atomic.Pointer[entry[K, V]]
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// Get returns the value stored with k, if k is the key stored last.
func (o *One[K, V]) Get(k K) (V, bool) {
	if e := o.p.Load(); e != nil && e.key == k {
		return e.val, true
	}
	var zero V
	return zero, false
}

// Set makes k and v the pair stored last.
func (o *One[K, V]) Set(k K, v V) { o.p.Store(&entry[K, V]{k, v}) }

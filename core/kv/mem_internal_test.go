package kv

import (
	"strconv"
	"testing"
)

// A bucket written and never scanned keeps its stale keys (and the old
// entries they hold alive) within maxStale of its size: one key written
// over and over does not grow it without end.
func TestMemStaleKeysStayBounded(t *testing.T) {
	m := NewMem()
	for i := range 5 * maxStale {
		if err := m.Update(func(tx Tx) error {
			return tx.Put("b", []byte("counter"), []byte(strconv.Itoa(i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	b := m.buckets["b"]
	if n := len(b.stale); n > maxStale+len(b.byKey) {
		t.Errorf("%d stale keys after %d writes of one key, want at most %d", n, 5*maxStale, maxStale+1)
	}
	// A bucket that only grows never needs a sync before its Scan.
	for i := range 3 * maxStale {
		m.Update(func(tx Tx) error { return tx.Put("grows", []byte(strconv.Itoa(i)), nil) })
	}
	if n := len(m.buckets["grows"].stale); n != 3*maxStale {
		t.Errorf("%d stale keys after %d new keys, want all of them (no sync before a Scan)", n, 3*maxStale)
	}
}

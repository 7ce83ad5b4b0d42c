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
	if n := len(b.stale); n > maxStale+b.n {
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

// A bucket under churn (keys overwritten and deleted over and over) keeps
// its slabs within a few times the bytes of what it holds: dead records'
// bytes are reclaimed, and what is left reads back as written, in order.
func TestMemChurnReclaimsDeadRecords(t *testing.T) {
	m := NewMem()
	value := make([]byte, 200)
	for round := range 200 {
		if err := m.Update(func(tx Tx) error {
			for i := range 100 {
				k := []byte("key-" + strconv.Itoa(i))
				if i%3 == round%3 {
					if err := tx.Delete("churn", k); err != nil {
						return err
					}
					continue
				}
				copy(value, strconv.Itoa(round))
				if err := tx.Put("churn", k, value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	b := m.buckets["churn"]
	held := 0
	for _, s := range b.slabs {
		held += cap(s)
	}
	// 100 keys of about 210 bytes: 21 KB kept; 200 rounds wrote 2.8 MB.
	if limit := 2*b.live + 2*minCompact; held > limit {
		t.Errorf("slabs hold %d bytes for %d live ones, want at most %d", held, b.live, limit)
	}
	var got []string
	m.View(func(tx Tx) error {
		return tx.Scan("churn", nil, nil, func(k, v []byte) bool {
			got = append(got, string(k)+"="+string(v[:3]))
			return true
		})
	})
	if len(got) != 67 { // round 199 deleted the 33 keys with i%3 == 1
		t.Fatalf("%d keys after the churn, want 67: %v", len(got), got)
	}
	for _, kv := range got {
		if kv[len(kv)-3:] != "199" {
			t.Fatalf("%s: want the last round's value", kv)
		}
	}
}

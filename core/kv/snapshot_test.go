package kv

import (
	"path/filepath"
	"testing"
)

// A read transaction's snapshot names the commit it sees: the same until a
// write commits, another after; a write transaction has none.
func TestBoltReadTransactionsNameTheCommitTheySee(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	snapshot := func() uint64 {
		var s uint64
		if err := b.View(func(tx Tx) error { s = tx.(boltTx).Snapshot(); return nil }); err != nil {
			t.Fatal(err)
		}
		return s
	}
	put := func(v string) {
		if err := b.Update(func(tx Tx) error {
			if s := tx.(boltTx).Snapshot(); s != 0 {
				t.Errorf("a write transaction's snapshot is %d, want 0", s)
			}
			return tx.Put("b", []byte("k"), []byte(v))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("1")
	first := snapshot()
	if first == 0 || snapshot() != first {
		t.Fatalf("two reads with no write between: snapshots %d and %d, want the same, not 0", first, snapshot())
	}
	put("2")
	if second := snapshot(); second == first {
		t.Fatalf("snapshot %d after a commit, the same as before it", second)
	}
	// A failed write commits nothing: the snapshot stays.
	before := snapshot()
	b.Update(func(tx Tx) error { tx.Put("b", []byte("k"), []byte("3")); return ErrReadOnly })
	if after := snapshot(); after != before {
		t.Fatalf("snapshot %d after a rolled-back write, was %d", after, before)
	}
}

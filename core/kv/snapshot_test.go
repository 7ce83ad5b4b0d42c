package kv

import (
	"path/filepath"
	"testing"
)

// snapshotTx is what core's caches look for in a read transaction.
type snapshotTx interface{ Snapshot() uint64 }

// A read transaction's snapshot names the commit it sees: the same until a
// write commits, another after; a write transaction has none.
func TestReadTransactionsNameTheCommitTheySee(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		b, err := OpenBolt(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		testSnapshots(t, b)
	})
	t.Run("mem", func(t *testing.T) { testSnapshots(t, NewMem()) })
}

func testSnapshots(t *testing.T, b Store) {
	snapshot := func() uint64 {
		var s uint64
		if err := b.View(func(tx Tx) error { s = tx.(snapshotTx).Snapshot(); return nil }); err != nil {
			t.Fatal(err)
		}
		return s
	}
	put := func(v string) {
		if err := b.Update(func(tx Tx) error {
			if s := tx.(snapshotTx).Snapshot(); s != 0 {
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
	// A write that panics commits nothing either.
	func() {
		defer func() { recover() }()
		b.Update(func(tx Tx) error { tx.Put("b", []byte("k"), []byte("4")); panic("mid-write") })
	}()
	if after := snapshot(); after != before {
		t.Fatalf("snapshot %d after a write that panicked, was %d", after, before)
	}
}

// A memory store's read transaction names each bucket's version: the same
// while nothing writes that bucket, whatever is written elsewhere; another
// after any write to it, also one rolled back; none in a write transaction.
func TestMemBucketVersionsChangeOnlyWithTheirBucket(t *testing.T) {
	m := NewMem()
	version := func(bucket string) uint64 {
		var v uint64
		m.View(func(tx Tx) error { v = tx.(*memTx).BucketVersion(bucket); return nil })
		return v
	}
	if v := version("a"); v != 1 {
		t.Fatalf("an absent bucket's version is %d, want 1", v)
	}
	write := func(fn func(Tx) error) {
		t.Helper()
		m.Update(func(tx Tx) error {
			if v := tx.(*memTx).BucketVersion("a"); v != 0 {
				t.Errorf("a write transaction names version %d, want 0", v)
			}
			return fn(tx)
		})
	}
	write(func(tx Tx) error { return tx.Put("a", []byte("k"), []byte("1")) })
	a1 := version("a")
	if a1 <= 1 || version("a") != a1 {
		t.Fatalf("versions %d then %d of a written bucket, want the same, above 1", a1, version("a"))
	}
	write(func(tx Tx) error { return tx.Put("b", []byte("k"), []byte("1")) })
	write(func(tx Tx) error { return tx.Delete("b", []byte("k")) })
	if v := version("a"); v != a1 {
		t.Fatalf("bucket a's version went %d -> %d with writes to b only", a1, v)
	}
	for i, fn := range []func(Tx) error{
		func(tx Tx) error { return tx.Put("a", []byte("k"), []byte("2")) },
		func(tx Tx) error { return tx.Put("a", []byte("new"), nil) },
		func(tx Tx) error { return tx.Delete("a", []byte("new")) },
		func(tx Tx) error { tx.Put("a", []byte("k"), []byte("3")); return ErrReadOnly }, // rolled back
	} {
		before := version("a")
		write(fn)
		if v := version("a"); v == before {
			t.Fatalf("write %d to bucket a left its version at %d", i, v)
		}
	}
}

// A durable store's read transaction names each bucket's version too: the
// same while nothing writes that bucket (also across an apply, which moves
// its writes into bbolt), another after a commit that writes it; none in a
// write transaction.
func TestBoltBucketVersionsChangeOnlyWithTheirBucket(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), noApplies)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type versioned interface{ BucketVersion(string) uint64 }
	version := func(bucket string) uint64 {
		var v uint64
		b.View(func(tx Tx) error { v = tx.(versioned).BucketVersion(bucket); return nil })
		return v
	}
	write := func(fn func(Tx) error) {
		t.Helper()
		b.Update(func(tx Tx) error {
			if v := tx.(versioned).BucketVersion("a"); v != 0 {
				t.Errorf("a write transaction names version %d, want 0", v)
			}
			return fn(tx)
		})
	}
	a0 := version("a")
	if a0 == 0 || version("b") != a0 {
		t.Fatalf("unwritten buckets' versions %d and %d, want the same, not 0", a0, version("b"))
	}
	write(func(tx Tx) error { return tx.Put("a", []byte("k"), []byte("1")) })
	a1 := version("a")
	if a1 == a0 || version("a") != a1 {
		t.Fatalf("versions %d, then %d and %d, of a bucket written once", a0, a1, version("a"))
	}
	write(func(tx Tx) error { return tx.Put("b", []byte("k"), []byte("1")) })
	write(func(tx Tx) error { return tx.Delete("b", []byte("k")) })
	write(func(tx Tx) error { tx.Put("a", []byte("k"), []byte("3")); return ErrReadOnly }) // rolled back
	b.applyNow(t)
	if v := version("a"); v != a1 {
		t.Fatalf("bucket a's version went %d -> %d with writes to b, a rollback and an apply only", a1, v)
	}
	seen := map[uint64]bool{a0: true, a1: true}
	for i, fn := range []func(Tx) error{
		func(tx Tx) error { return tx.Put("a", []byte("k"), []byte("2")) },
		func(tx Tx) error { return tx.Put("a", []byte("new"), nil) },
		func(tx Tx) error { return tx.Delete("a", []byte("new")) },
	} {
		write(fn)
		v := version("a")
		if seen[v] {
			t.Fatalf("write %d to bucket a left its version at %d, seen before", i, v)
		}
		seen[v] = true
		b.applyNow(t)
	}
}

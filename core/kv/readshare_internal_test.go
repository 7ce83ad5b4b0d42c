package kv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Views share one bbolt read transaction while it is right under the
// published overlay, and take the next one once an apply has moved bbolt
// on: they read every commit, applied or not.
func TestBoltViewsShareAReadTransaction(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), noApplies)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	put := func(k, v string) {
		t.Helper()
		if err := b.Update(func(tx Tx) error { return tx.Put("b", []byte(k), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string) []byte {
		t.Helper()
		var v []byte
		if err := b.View(func(tx Tx) error { v = bytes.Clone(tx.Get("b", []byte(k))); return nil }); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 10 {
		put(fmt.Sprint("k", i), "one")
	}
	b.applyNow(t)
	began := b.db.Stats().TxN
	for i := range 100 {
		if v := get(fmt.Sprint("k", i%10)); string(v) != "one" {
			t.Fatalf("k%d = %q, want one", i%10, v)
		}
	}
	if n := b.db.Stats().TxN - began; n > 1 {
		t.Errorf("100 Views began %d bbolt read transactions, want 1 shared", n)
	}
	// A commit after it, in the overlay only, then applied: each read
	// finds the last value, over the shared transaction or the next one.
	put("k3", "two")
	if v := get("k3"); string(v) != "two" {
		t.Fatalf("k3 = %q before the apply, want two", v)
	}
	b.applyNow(t)
	if v := get("k3"); string(v) != "two" {
		t.Fatalf("k3 = %q after the apply, want two", v)
	}
	began = b.db.Stats().TxN
	for range 100 {
		get("k3")
	}
	if n := b.db.Stats().TxN - began; n > 1 {
		t.Errorf("100 Views after an apply began %d bbolt read transactions, want 1 shared", n)
	}
	if open := b.db.Stats().OpenTxN; open != 1 {
		t.Errorf("%d bbolt read transactions open when no View runs, want only the shared one", open)
	}
}

// The shared read transaction, idle between Views, does not hold back an
// apply whose commit must grow bbolt's map: a remap waits for every read
// transaction to end.
func TestBoltSharedReadTransactionDoesNotHoldBackARemap(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), boltConfig{applyBytes: 1 << 40, applyQuiet: time.Hour, mmapSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	// Everything runs in a goroutine under a deadline: a remap held back
	// by a read transaction hangs whichever apply meets it (the first one
	// already, an apply of one Put), and the test must fail at its own
	// deadline, not hang until the binary's. Closed at the end, not
	// deferred: after a stuck apply Close would wait for it too.
	done := make(chan error, 1)
	go func() {
		if err := b.Update(func(tx Tx) error { return tx.Put("b", []byte("k"), []byte("v")) }); err != nil {
			done <- err
			return
		}
		if err := b.applyLocked(); err != nil {
			done <- err
			return
		}
		if err := b.View(func(tx Tx) error { tx.Get("b", []byte("k")); return nil }); err != nil {
			done <- err
			return
		}
		// 4 MiB of values: the file outgrows a 64 KiB map many times over.
		val := bytes.Repeat([]byte{'x'}, 8<<10)
		for i := range 512 {
			if err := b.Update(func(tx Tx) error { return tx.Put("b", fmt.Append(nil, "big", i), val) }); err != nil {
				done <- err
				return
			}
		}
		done <- b.applyLocked()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an apply is still waiting after 20 s: a read transaction holds back its remap")
	}
	var n int
	if err := b.View(func(tx Tx) error {
		return tx.Scan("b", []byte("big"), nil, func(k, v []byte) bool { n++; return true })
	}); err != nil {
		t.Fatal(err)
	}
	if n != 512 {
		t.Errorf("%d big values after the apply, want 512", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

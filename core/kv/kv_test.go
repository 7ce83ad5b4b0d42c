package kv_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/core/kv/kvtest"
)

func TestMem(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return kv.NewMem() })
}

// Keys whose hashes collide are told apart by their bytes: the memory store
// passes the suite with every key's hash one of four.
func TestMemCollidingHashes(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return kv.NewMemColliding(4) })
}

func TestBolt(t *testing.T) {
	kvtest.RunPersistent(t, func(t *testing.T) (kv.Store, func() kv.Store) {
		path := filepath.Join(t.TempDir(), "meta.db")
		open := func() kv.Store {
			b, err := kv.OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		return open(), open
	})
}

// OpenBolt fails (after its short timeout) rather than waiting forever for a
// database file that another handle holds.
func TestBoltOpenHeldFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := kv.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	b2, err := kv.OpenBolt(path)
	if err == nil {
		b2.Close()
		t.Fatal("a second OpenBolt of a held file succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("OpenBolt of a held file took %v to fail", d)
	}
}

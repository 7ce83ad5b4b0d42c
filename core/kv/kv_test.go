package kv_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/core/kv/kvtest"
)

func TestMem(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return kv.NewMem() })
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

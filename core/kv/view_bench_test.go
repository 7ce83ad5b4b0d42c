package kv

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkView is a View of three Gets (two buckets, one key absent) on
// each store, its keys applied to bbolt's file (on Bolt): what a request
// pays per View besides what it reads.
//
//	go test ./core/kv -run '^$' -bench View
func BenchmarkView(b *testing.B) {
	for _, name := range []string{"bolt", "mem"} {
		b.Run(name, func(b *testing.B) {
			var s Store
			if name == "bolt" {
				bs, err := OpenBolt(filepath.Join(b.TempDir(), "m.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer bs.Close()
				s = bs
			} else {
				s = NewMem()
			}
			for i := range 2000 {
				s.Update(func(tx Tx) error {
					tx.Put("repos", fmt.Appendf(nil, "r%05d", i), []byte("value value value"))
					return tx.Put("blobs", fmt.Appendf(nil, "b%05d", i), []byte("value value value"))
				})
			}
			k1, k2 := []byte("r00100"), []byte("b00200")
			b.ReportAllocs()
			for b.Loop() {
				s.View(func(tx Tx) error {
					tx.Get("repos", k1)
					tx.Get("blobs", k2)
					tx.Get("blobs", k1)
					return nil
				})
			}
		})
	}
}

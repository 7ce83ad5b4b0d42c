package kv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// BenchmarkMemGet reads keys of a large bucket in a scattered order, as a
// pull of an index's manifests or a push's HEADs do: each key is read once
// among tens of thousands.
func BenchmarkMemGet(b *testing.B) {
	for _, n := range []int{20_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			m := NewMem()
			keys := make([][]byte, n)
			for i := range keys {
				s := sha256.Sum256([]byte(fmt.Sprint(i)))
				keys[i] = []byte("123456789012|us-east-1|repo|sha256:" + hex.EncodeToString(s[:]))
			}
			if err := m.Update(func(tx Tx) error {
				for _, k := range keys {
					if err := tx.Put("b", k, []byte("a small record")); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := keys[(i*7919)%n]
				m.View(func(tx Tx) error {
					if tx.Get("b", k) == nil {
						b.Fatal("missing")
					}
					return nil
				})
			}
		})
	}
}

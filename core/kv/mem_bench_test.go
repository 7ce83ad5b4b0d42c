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

// BenchmarkMemPut writes new keys into a large bucket, a transaction each,
// as a push's links and references do.
func BenchmarkMemPut(b *testing.B) {
	m := NewMem()
	value := []byte("a small record of a few dozen bytes, as core writes")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := sha256.Sum256([]byte(fmt.Sprint(i)))
		k := []byte("123456789012|us-east-1|repo|sha256:" + hex.EncodeToString(s[:]))
		if err := m.Update(func(tx Tx) error { return tx.Put("b", k, value) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemScan reads 10 keys from a prefix of a 20,000-key bucket after
// each write to it, as a listing after a push does.
func BenchmarkMemScan(b *testing.B) {
	m := NewMem()
	key := func(i int) []byte { return fmt.Appendf(nil, "123456789012|us-east-1|repo-%03d|%08d", i%100, i) }
	m.Update(func(tx Tx) error {
		for i := range 20_000 {
			tx.Put("b", key(i), []byte("a small record"))
		}
		return nil
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Update(func(tx Tx) error { return tx.Put("b", key(20_000+i), []byte("a small record")) })
		pre := fmt.Appendf(nil, "123456789012|us-east-1|repo-%03d|", i%100)
		n := 0
		m.View(func(tx Tx) error {
			return tx.Scan("b", pre, nil, func(k, v []byte) bool { n++; return n < 10 })
		})
	}
}

package kv

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// Every Store implementation runs the same suite.
func stores(t *testing.T) map[string]Store {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return map[string]Store{"bolt": b, "mem": NewMem()}
}

func TestStore(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("PutGetDelete", func(t *testing.T) { testPutGetDelete(t, s) })
			t.Run("ScanPrefixStart", func(t *testing.T) { testScan(t, s) })
			t.Run("Rollback", func(t *testing.T) { testRollback(t, s) })
		})
	}
}

func testPutGetDelete(t *testing.T, s Store) {
	if err := s.Update(func(tx Tx) error { return tx.Put("b", []byte("k"), []byte("v1")) }); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx Tx) error {
		if got := string(tx.Get("b", []byte("k"))); got != "v1" {
			t.Errorf("Get = %q, want v1", got)
		}
		if got := tx.Get("missing", []byte("k")); got != nil {
			t.Errorf("Get on a missing bucket = %q, want nil", got)
		}
		return nil
	})
	s.Update(func(tx Tx) error { return tx.Delete("b", []byte("k")) })
	s.View(func(tx Tx) error {
		if got := tx.Get("b", []byte("k")); got != nil {
			t.Errorf("after Delete Get = %q", got)
		}
		return nil
	})
}

func testScan(t *testing.T, s Store) {
	s.Update(func(tx Tx) error {
		for _, k := range []string{"a/3", "a/1", "b/1", "a/2", "a", "c"} {
			tx.Put("scan", []byte(k), []byte("x"+k))
		}
		return nil
	})
	collect := func(prefix, start string) (out []string) {
		var st []byte
		if start != "" {
			st = []byte(start)
		}
		s.View(func(tx Tx) error {
			return tx.Scan("scan", []byte(prefix), st, func(k, v []byte) bool {
				out = append(out, string(k))
				return true
			})
		})
		return out
	}
	for _, c := range []struct{ prefix, start, want string }{
		{"a/", "", "[a/1 a/2 a/3]"},
		{"a/", "a/2", "[a/2 a/3]"},
		{"a/", "a/25", "[a/3]"},
		{"", "", "[a a/1 a/2 a/3 b/1 c]"},
		{"z", "", "[]"},
	} {
		if got := fmt.Sprint(collect(c.prefix, c.start)); got != c.want {
			t.Errorf("Scan(%q,%q) = %s, want %s", c.prefix, c.start, got, c.want)
		}
	}
	n := 0
	s.View(func(tx Tx) error {
		return tx.Scan("scan", nil, nil, func(k, v []byte) bool { n++; return n < 2 })
	})
	if n != 2 {
		t.Errorf("Scan did not stop when fn returned false: %d calls", n)
	}
}

func testRollback(t *testing.T, s Store) {
	s.Update(func(tx Tx) error { return tx.Put("r", []byte("keep"), []byte("old")) })
	boom := errors.New("boom")
	err := s.Update(func(tx Tx) error {
		tx.Put("r", []byte("keep"), []byte("new"))
		tx.Put("r", []byte("added"), []byte("x"))
		tx.Delete("r", []byte("keep"))
		tx.Put("r2", []byte("k"), []byte("x"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v", err)
	}
	s.View(func(tx Tx) error {
		if got := string(tx.Get("r", []byte("keep"))); got != "old" {
			t.Errorf("keep = %q after rollback, want old", got)
		}
		if tx.Get("r", []byte("added")) != nil || tx.Get("r2", []byte("k")) != nil {
			t.Error("writes of a failed transaction survived")
		}
		return nil
	})
}

func TestBoltPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx Tx) error { return tx.Put("p", []byte("k"), []byte("v")) })
	b.Close()
	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx Tx) error {
		if string(tx.Get("p", []byte("k"))) != "v" {
			t.Error("value lost across reopen")
		}
		return nil
	})
}

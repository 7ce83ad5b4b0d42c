package core

import (
	"errors"
	"testing"
)

// Data a feature stores about a registry is per registry and per name,
// changes in one transaction, survives a restart, and goes with Reset.
func TestRegistryDataIsPerRegistryAndName(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		set := func(reg RegistryID, name, v string) {
			t.Helper()
			must(t, f.r.UpdateRegistryData(bg, reg, name, func([]byte) ([]byte, error) { return []byte(v), nil }), "UpdateRegistryData")
		}
		get := func(reg RegistryID, name string) (string, bool) {
			t.Helper()
			b, ok, err := f.r.RegistryData(bg, reg, name)
			must(t, err, "RegistryData")
			return string(b), ok
		}
		if _, ok := get(regA, "templates"); ok {
			t.Fatal("data before any was written")
		}
		set(regA, "templates", "a")
		set(regA, "replication", "r")
		set(regA2, "templates", "a2")
		set(regB, "templates", "b")
		for _, c := range []struct {
			reg  RegistryID
			name string
			want string
		}{{regA, "templates", "a"}, {regA, "replication", "r"}, {regA2, "templates", "a2"}, {regB, "templates", "b"}} {
			if v, ok := get(c.reg, c.name); !ok || v != c.want {
				t.Errorf("%s %s = %q %v, want %q", c.reg, c.name, v, ok, c.want)
			}
		}

		// change sees the current data; an error writes nothing.
		boom := errors.New("boom")
		err := f.r.UpdateRegistryData(bg, regA, "templates", func(old []byte) ([]byte, error) {
			if string(old) != "a" {
				t.Errorf("change saw %q", old)
			}
			return []byte("lost"), boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if v, _ := get(regA, "templates"); v != "a" {
			t.Errorf("after a failed change: %q", v)
		}
		wantKind(t, f.r.UpdateRegistryData(bg, regA, "", func([]byte) ([]byte, error) { return []byte("x"), nil }), KindInvalidParameter, "an empty name")

		f.restart()
		if v, ok := get(regA, "replication"); !ok || v != "r" {
			t.Errorf("after restart: %q %v", v, ok)
		}
		// nil removes.
		must(t, f.r.UpdateRegistryData(bg, regA, "replication", func([]byte) ([]byte, error) { return nil, nil }), "remove")
		if _, ok := get(regA, "replication"); ok {
			t.Error("data removed by a nil change is still there")
		}
		must(t, f.r.Reset(bg), "Reset")
		if _, ok := get(regB, "templates"); ok {
			t.Error("data outlived Reset")
		}
	})
}

// RegistryData remembers what it read, yet every read after a write (a
// change, a removal, Reset) sees the write, and what it returns is the
// caller's to change.
func TestRegistryDataReadsSeeEveryWrite(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		get := func() (string, bool) {
			t.Helper()
			b, ok, err := f.r.RegistryData(bg, regA, "rules")
			must(t, err, "RegistryData")
			return string(b), ok
		}
		set := func(v []byte) {
			t.Helper()
			must(t, f.r.UpdateRegistryData(bg, regA, "rules", func([]byte) ([]byte, error) { return v, nil }), "UpdateRegistryData")
		}
		for i := range 3 {
			if v, ok := get(); ok {
				t.Fatalf("read %d: %q before any write", i, v)
			}
		}
		set([]byte("one"))
		for i := range 3 {
			if v, ok := get(); !ok || v != "one" {
				t.Fatalf("read %d after the write: %q %v", i, v, ok)
			}
		}
		b, _, _ := f.r.RegistryData(bg, regA, "rules")
		b[0] = 'X' // the caller's copy
		if v, _ := get(); v != "one" {
			t.Fatalf("a caller's change of its copy reached the next read: %q", v)
		}
		set([]byte("two"))
		if v, _ := get(); v != "two" {
			t.Fatalf("after the second write: %q", v)
		}
		set(nil)
		if v, ok := get(); ok {
			t.Fatalf("after the removal: %q", v)
		}
		set([]byte("three"))
		get()
		must(t, f.r.Reset(bg), "Reset")
		if v, ok := get(); ok {
			t.Fatalf("after Reset: %q", v)
		}
	})
}

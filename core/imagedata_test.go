package core

import (
	"errors"
	"testing"
)

// Data a feature stores about an image lives exactly as long as the image:
// it survives a restart, and goes with the image, with its repository, and
// with Reset; it is never written for an image that is not there.
func TestImageDataGoesWithTheImage(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		one, _ := f.pushImage(regA, "app", "one", "one")
		two, _ := f.pushImage(regA, "app", "two", "two")
		set := func(img image, name, v string) {
			t.Helper()
			must(t, f.r.UpdateImageData(bg, regA, "app", img.digest, name, func(old []byte) ([]byte, error) { return []byte(v), nil }), "UpdateImageData")
		}
		get := func(img image, name string) (string, bool) {
			t.Helper()
			b, ok, err := f.r.ImageData(bg, regA, "app", img.digest, name)
			must(t, err, "ImageData")
			return string(b), ok
		}
		set(one, "scan", "findings-1")
		set(one, "replication", "status-1")
		set(two, "scan", "findings-2")

		// change sees the current data; returning nil removes it.
		must(t, f.r.UpdateImageData(bg, regA, "app", one.digest, "replication", func(old []byte) ([]byte, error) {
			if string(old) != "status-1" {
				t.Errorf("change saw %q", old)
			}
			return nil, nil
		}), "remove")
		if _, ok := get(one, "replication"); ok {
			t.Error("data removed by a nil change is still there")
		}
		// An error from change writes nothing.
		boom := errors.New("boom")
		if err := f.r.UpdateImageData(bg, regA, "app", one.digest, "scan", func([]byte) ([]byte, error) { return []byte("x"), boom }); !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
		if v, _ := get(one, "scan"); v != "findings-1" {
			t.Errorf("after a failed change: %q", v)
		}

		f.restart()
		if v, ok := get(one, "scan"); !ok || v != "findings-1" {
			t.Errorf("after restart: %q %v", v, ok)
		}

		must(t, f.r.DeleteManifest(bg, regA, "app", string(one.digest)), "DeleteManifest")
		if _, ok := get(one, "scan"); ok {
			t.Error("data outlived its image")
		}
		wantKind(t, f.r.UpdateImageData(bg, regA, "app", one.digest, "scan", func([]byte) ([]byte, error) { return []byte("late"), nil }),
			KindManifestNotFound, "data for a deleted image")
		if _, ok := get(one, "scan"); ok {
			t.Error("data written for a deleted image")
		}
		if v, ok := get(two, "scan"); !ok || v != "findings-2" {
			t.Errorf("another image's data went too: %q %v", v, ok)
		}

		_, err := f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")
		f.createRepo(regA, "app")
		again, _ := f.pushImage(regA, "app", "two", "two") // same content, same digest
		if again.digest != two.digest {
			t.Fatal("fixture: the same content should give the same digest")
		}
		if _, ok := get(two, "scan"); ok {
			t.Error("data outlived its repository")
		}

		set(again, "scan", "x")
		must(t, f.r.Reset(bg), "Reset")
		if _, ok := get(again, "scan"); ok {
			t.Error("data outlived Reset")
		}
		wantKind(t, f.r.UpdateImageData(bg, regA, "app", again.digest, "bad\x00name", func([]byte) ([]byte, error) { return nil, nil }),
			KindInvalidParameter, "a name holding NUL")
	})
}

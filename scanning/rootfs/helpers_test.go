package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const (
	mtTar    = "application/vnd.oci.image.layer.v1.tar"
	mtGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
	mtDocker = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// The patterns the built-in OS package scanner declares.
var osPatterns = []string{
	"etc/os-release", "usr/lib/os-release",
	"var/lib/dpkg/status", "var/lib/dpkg/status.d/*",
	"lib/apk/db/installed",
}

type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}
func directory(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}
func fifo(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o644}}
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// blob is a layer's bytes that records how it was opened and closed.
type blob struct {
	mt            string
	data          []byte
	opens, closes int
}

func (b *blob) layer() Layer {
	return Layer{MediaType: b.mt, Open: func() (io.ReadCloser, error) {
		b.opens++
		return closer{bytes.NewReader(b.data), &b.closes}, nil
	}}
}

type closer struct {
	io.Reader
	n *int
}

func (c closer) Close() error { *c.n++; return nil }

func layerOf(mt string, data []byte) Layer { return (&blob{mt: mt, data: data}).layer() }

// extractTo runs Extract with limits into a fresh empty directory and
// returns it.
func extractTo(t *testing.T, l Limits, layers []Layer, patterns []string) (string, Stats, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := l.Extract(context.Background(), layers, patterns, dir)
	return dir, st, err
}

// tree reads dir back as path → content; anything but a regular file or a
// directory fails the test.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s is a %v, not a regular file", p, d.Type())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantContents(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := contents(t, dir)
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s missing", p)
		} else if g != w {
			t.Errorf("%s = %q, want %q", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s extracted, want it absent", p)
		}
	}
}

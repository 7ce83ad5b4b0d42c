package core

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// onDisk is the bolt+fs store configuration (berth serve's): small blobs go
// inline there (Options.InlineBlobs).
func onDisk(t *testing.T) *fixture {
	for _, c := range storeConfigs {
		if c.disk {
			return newFixture(t, c, false)
		}
	}
	t.Fatal("no disk store configuration")
	return nil
}

// fileCount counts the blob files and upload files of the fixture's own
// (file) blob store.
func fileCount(t *testing.T, f *fixture) (blobs, uploads int) {
	t.Helper()
	f.blobs.Walk(func(digest.Digest, int64) error { blobs++; return nil })
	f.blobs.ListUploads(func(string) error { uploads++; return nil })
	return blobs, uploads
}

// A small blob pushed as clients do (POST, then PUT ?digest= with the
// bytes), or in one request, gets no file at all: its bytes are in the
// metadata store, written by the commit that links them, and read back
// the same after a restart; deleting it removes them.
func TestSmallBlobsOnDiskAreWrittenByTheirLinkCommit(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	small := []byte("a config of a few bytes")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	if b, u := fileCount(t, f); b != 0 || u != 0 {
		t.Fatalf("after POST: %d blob files, %d upload files; want none", b, u)
	}
	desc, err := f.r.CompleteUpload(bg, regA, "app", st.ID, -1, bytes.NewReader(small), digest.FromBytes(small))
	must(t, err, "CompleteUpload")
	one := []byte("a layer sent in one request")
	_, err = f.r.PutBlob(bg, regA, "app", digest.FromBytes(one), bytes.NewReader(one))
	must(t, err, "PutBlob")
	if b, u := fileCount(t, f); b != 0 || u != 0 {
		t.Fatalf("after the pushes: %d blob files, %d upload files; want none", b, u)
	}
	f.restart()
	for _, c := range [][]byte{small, one} {
		rd, err := f.r.OpenBlob(bg, regA, "app", digest.FromBytes(c))
		must(t, err, "OpenBlob after a restart")
		got, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(got, c) {
			t.Errorf("read %q, want %q", got, c)
		}
	}
	must(t, f.r.DeleteBlob(bg, regA, "app", desc.Digest), "DeleteBlob")
	if f.blobBytesStored(desc.Digest) {
		t.Error("the deleted blob's bytes are still stored")
	}
}

// A session's first chunk, small, is kept across a restart once
// acknowledged (it went to a file when the request ended); a blob larger
// than the inline size is a file, pushed in one PUT or in chunks.
func TestSessionsOnDiskKeepSmallChunksAndFileLargeBlobs(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("first "))
	must(t, err, "WriteUpload")
	f.restart()
	if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != 6 {
		t.Fatalf("after a restart: %+v, %v; want the 6 acknowledged bytes", got, err)
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), DefaultInlineBlobs/16+1)
	_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, 6, bytes.NewReader(large), digest.FromBytes(append([]byte("first "), large...)))
	must(t, err, "CompleteUpload")
	st2, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	_, err = f.r.CompleteUpload(bg, regA, "app", st2.ID, -1, bytes.NewReader(large), digest.FromBytes(large))
	must(t, err, "CompleteUpload in one PUT")
	if b, u := fileCount(t, f); b != 2 || u != 0 {
		t.Fatalf("%d blob files, %d upload files; want the 2 large blobs", b, u)
	}
	if _, err := f.blobs.Stat(digest.FromBytes(large)); err != nil {
		t.Errorf("the large blob is not a file: %v", err)
	}
}

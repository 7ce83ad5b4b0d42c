package core

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core/kv"
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

// inlineUploadBytes counts the sessions whose bytes are kept inline.
func (f *fixture) inlineUploadBytes() int {
	n := 0
	f.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bUploadBytes, nil, nil, func(k, v []byte) bool { n++; return true })
	})
	return n
}

// A small chunk that must outlive its request (PATCH, then an empty PUT,
// as go-containerregistry sends a blob) is kept with the session's record,
// written by one commit, not in a file: it survives a restart, so does the
// next one, and the completion stores the blob inline and drops them.
func TestSmallChunksOfASessionAreKeptWithItsRecord(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	wc := &writeCounter{Store: f.kv}
	r := New(Options{KV: wc, Blobs: f.blobs, Clock: f.clock, Rand: f.rand, Log: quietLog(), InlineBlobs: DefaultInlineBlobs})
	defer r.Bus().Close()
	_, err = r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("first "))
	must(t, err, "WriteUpload")
	if n := wc.writes.Load(); n != 1 {
		t.Fatalf("a small chunk took %d write transactions, want 1", n)
	}
	if b, u := fileCount(t, f); b != 0 || u != 0 || f.inlineUploadBytes() != 1 {
		t.Fatalf("after a small chunk: %d blob files, %d upload files, %d inline; want it inline only", b, u, f.inlineUploadBytes())
	}
	f.restart()
	_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 6, strings.NewReader("second"))
	must(t, err, "WriteUpload after a restart")
	f.restart()
	if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != 12 {
		t.Fatalf("after another restart: %+v, %v; want the 12 acknowledged bytes", got, err)
	}
	d := digest.FromString("first second")
	_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, d)
	must(t, err, "CompleteUpload")
	if b, u := fileCount(t, f); b != 0 || u != 0 || f.inlineUploadBytes() != 0 || f.uploadRecords() != 0 {
		t.Fatalf("after completion: %d blob files, %d upload files, %d inline sessions, %d records; want none", b, u, f.inlineUploadBytes(), f.uploadRecords())
	}
	rd, err := f.r.OpenBlob(bg, regA, "app", d)
	must(t, err, "OpenBlob")
	got, _ := io.ReadAll(rd)
	rd.Close()
	if string(got) != "first second" {
		t.Fatalf("read %q", got)
	}
}

// A session whose inline bytes are outgrown by a chunk moves them to a
// file; a file a crash left beside inline bytes (the move's chunk, never
// acknowledged) is dropped.
func TestASessionOutgrowingItsInlineBytesMovesToAFile(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("head "))
	must(t, err, "WriteUpload")

	// A crash after the file of a larger chunk was synced, before the
	// record said so: the restart goes back to the inline bytes.
	up, err := f.blobs.CreateUpload(st.ID)
	must(t, err, "CreateUpload")
	up.Write([]byte("head and a chunk never acknowledged"))
	must(t, up.Close(), "Close")
	f.restart()
	if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != 5 {
		t.Fatalf("after a crash mid-move: %+v, %v; want the 5 inline bytes", got, err)
	}
	if _, u := fileCount(t, f); u != 0 {
		t.Fatalf("%d upload files left by the crash, want none", u)
	}

	large := bytes.Repeat([]byte("0123456789abcdef"), DefaultInlineBlobs/16+1)
	_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 5, bytes.NewReader(large))
	must(t, err, "WriteUpload of a large chunk")
	if _, u := fileCount(t, f); u != 1 || f.inlineUploadBytes() != 0 {
		t.Fatalf("%d upload files, %d inline sessions; want the file only", u, f.inlineUploadBytes())
	}
	f.restart()
	all := append([]byte("head "), large...)
	if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != int64(len(all)) {
		t.Fatalf("after a restart: %+v, %v; want %d bytes", got, err, len(all))
	}
	_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, digest.FromBytes(all))
	must(t, err, "CompleteUpload")
}

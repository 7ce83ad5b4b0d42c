package core

import (
	"bytes"
	"context"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// newEphemeral builds an ephemeral registry (Options.Ephemeral) over fresh
// memory stores, counting the write transactions it asks for.
func newEphemeral(t *testing.T) (*Registry, *writeCounter) {
	t.Helper()
	wc := &writeCounter{Store: kv.NewMem()}
	r := New(Options{KV: wc, Blobs: blob.NewMem(), Clock: newFakeClock(), Rand: newSeededRand(), Log: quietLog(), Ephemeral: true})
	t.Cleanup(func() { r.Close() })
	if _, err := r.CreateRepository(bg, regA, "app"); err != nil {
		t.Fatal(err)
	}
	wc.writes.Store(0)
	return r, wc
}

// sessionBuckets counts the keys in the buckets where upload sessions are
// kept for a later process: records, their bytes, the secret and counter of
// sealed ids, and the ends of sessions.
func sessionBuckets(t *testing.T, s kv.Store) int {
	t.Helper()
	n := 0
	s.View(func(tx kv.Tx) error {
		for _, b := range []string{bUploads, bRegUploads, bUploadBytes, bUploadKey, bUploadEnds, bUploadEnded} {
			tx.Scan(b, nil, nil, func(k, v []byte) bool { n++; return true })
		}
		return nil
	})
	return n
}

// wantUnknown fails unless every request into session id answers that it
// does not exist.
func wantUnknown(t *testing.T, r *Registry, id, what string) {
	t.Helper()
	_, err := r.GetUpload(bg, regA, "app", id)
	wantKind(t, err, KindUploadNotFound, what+": GetUpload")
	_, err = r.WriteUpload(bg, regA, "app", id, -1, bytes.NewReader([]byte("more")))
	wantKind(t, err, KindUploadNotFound, what+": WriteUpload")
	c := []byte("completed again")
	_, err = r.CompleteUpload(bg, regA, "app", id, -1, bytes.NewReader(c), digest.FromBytes(c))
	wantKind(t, err, KindUploadNotFound, what+": CompleteUpload")
	wantKind(t, r.CancelUpload(bg, regA, "app", id), KindUploadNotFound, what+": CancelUpload")
}

// An ephemeral registry keeps its upload sessions in the process alone:
// starting, writing into, completing and cancelling them writes nothing to
// the store but the blob's link, and a session that ended stays unknown.
func TestAnEphemeralRegistryWritesNoSessionBookkeeping(t *testing.T) {
	r, wc := newEphemeral(t)

	// POST, then PUT with the bytes.
	st, err := r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	if n := wc.writes.Load(); n != 0 {
		t.Fatalf("StartUpload asked for %d write transactions, want none", n)
	}
	whole := []byte("a blob sent whole")
	_, err = r.CompleteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(whole), digest.FromBytes(whole))
	must(t, err, "CompleteUpload")
	if n := wc.writes.Load(); n != 1 {
		t.Fatalf("POST and PUT asked for %d write transactions, want 1 (the link)", n)
	}
	wantUnknown(t, r, st.ID, "a completed session")

	// POST, PATCH, status, then an empty PUT (as crane pushes).
	wc.writes.Store(0)
	st, err = r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	chunked := []byte("a blob sent in a chunk")
	_, err = r.WriteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(chunked))
	must(t, err, "WriteUpload")
	got, err := r.GetUpload(bg, regA, "app", st.ID)
	if err != nil || got.Size != int64(len(chunked)) {
		t.Fatalf("GetUpload after a chunk: %+v, %v; want %d bytes", got, err, len(chunked))
	}
	_, err = r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, digest.FromBytes(chunked))
	must(t, err, "CompleteUpload of the chunk")
	if n := wc.writes.Load(); n != 1 {
		t.Fatalf("POST, PATCH, GET and PUT asked for %d write transactions, want 1 (the link)", n)
	}
	wantUnknown(t, r, st.ID, "a session completed after a chunk")

	// POST, PATCH, DELETE.
	wc.writes.Store(0)
	st, err = r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	_, err = r.WriteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader([]byte("cancelled")))
	must(t, err, "WriteUpload")
	must(t, r.CancelUpload(bg, regA, "app", st.ID), "CancelUpload")
	if n := wc.writes.Load(); n != 0 {
		t.Fatalf("POST, PATCH and DELETE asked for %d write transactions, want none", n)
	}
	wantUnknown(t, r, st.ID, "a cancelled session")

	if n := sessionBuckets(t, wc); n != 0 {
		t.Fatalf("%d keys of upload session bookkeeping in the store, want none", n)
	}
	for _, id := range []string{"", "not-an-id", "00000000-0000-0000-0000-000000000000", NewUUID()} {
		wantUnknown(t, r, id, "an id never handed out")
	}
}

// Ids of an ephemeral registry are never handed out twice, and differ in
// more than a count.
func TestEphemeralUploadIDsAreDistinct(t *testing.T) {
	r, _ := newEphemeral(t)
	seen := map[string]bool{}
	for range 1000 {
		st, err := r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		if seen[st.ID] {
			t.Fatalf("id %s handed out twice", st.ID)
		}
		if _, ok := parseUUID(st.ID); !ok {
			t.Fatalf("id %q is not a UUID's text", st.ID)
		}
		seen[st.ID] = true
		must(t, r.CancelUpload(bg, regA, "app", st.ID), "CancelUpload")
	}
	tails := map[string]bool{}
	for id := range seen {
		b, _ := parseUUID(id)
		tails[string(b[8:])] = true
	}
	if len(tails) != len(seen) {
		t.Fatalf("%d distinct random halves among %d ids", len(tails), len(seen))
	}
}

// A session ended from outside after its last chunk arrived — its
// repository deleted and created again, or the registry reset and the
// repository created again — does not complete into the new repository.
func TestAnEphemeralSessionEndedBeforeItsCommitDoesNotComplete(t *testing.T) {
	for _, end := range []struct {
		name string
		fn   func(r *Registry) error
	}{
		{"repository deleted", func(r *Registry) error {
			_, err := r.DeleteRepository(bg, regA, "app", true)
			return err
		}},
		{"registry reset", func(r *Registry) error { return r.Reset(bg) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			r, _ := newEphemeral(t)
			st, err := r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
			once := false
			// A before-hook of the completion runs once its bytes are in,
			// before its commit.
			r.Bus().Before(func(ctx context.Context, e Event) error {
				if e.Kind != EventUploadComplete || once {
					return nil
				}
				once = true
				if err := end.fn(r); err != nil {
					return err
				}
				_, err := r.CreateRepository(bg, regA, "app")
				return err
			})
			c := []byte("completed after its session ended")
			_, err = r.CompleteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(c), digest.FromBytes(c))
			wantKind(t, err, KindUploadNotFound, "CompleteUpload of a session ended before its commit")
			_, err = r.StatBlob(bg, regA, "app", digest.FromBytes(c))
			wantKind(t, err, KindBlobNotFound, "StatBlob of the refused completion's blob")
		})
	}
}

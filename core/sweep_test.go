package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

func newTestRegistry(t *testing.T) (*Registry, blob.Store, RegistryID) {
	t.Helper()
	blobs := blob.NewMem()
	r := New(Options{KV: kv.NewMem(), Blobs: blobs, Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { r.Close() })
	reg := RegistryID{Account: "123456789012", Region: "us-east-1"}
	if _, err := r.CreateRepository(context.Background(), reg, "app"); err != nil {
		t.Fatal(err)
	}
	return r, blobs, reg
}

// Blob bytes that no repository links (a crash between unlink and delete
// leaves them) are swept; linked ones stay.
func TestSweepBlobs(t *testing.T) {
	ctx := context.Background()
	r, blobs, reg := newTestRegistry(t)
	kept := "kept"
	if _, err := r.PutBlob(ctx, reg, "app", digest.FromString(kept), strings.NewReader(kept)); err != nil {
		t.Fatal(err)
	}
	up, _ := blobs.CreateUpload("stray")
	up.Write([]byte("stray"))
	if _, err := up.Commit(digest.FromString("stray")); err != nil {
		t.Fatal(err)
	}
	n, err := r.SweepBlobs(ctx)
	if err != nil || n != 1 {
		t.Fatalf("SweepBlobs = %d, %v; want 1", n, err)
	}
	if _, err := blobs.Stat(digest.FromString("stray")); err == nil {
		t.Error("the unreferenced blob is still stored")
	}
	if _, err := r.StatBlob(ctx, reg, "app", digest.FromString(kept)); err != nil {
		t.Errorf("a linked blob was swept: %v", err)
	}
}

// An upload record whose file never appeared (a crash in between) expires too.
func TestExpireUploadRecordWithoutFile(t *testing.T) {
	ctx := context.Background()
	r, _, reg := newTestRegistry(t)
	rec := uploadRecord{ID: "00000000-0000-4000-8000-000000000001", Registry: reg, Repository: "app", StartedAt: time.Now().Add(-48 * time.Hour)}
	if err := r.kv.Update(func(tx kv.Tx) error { return putJSON(tx, bUploads, []byte(rec.ID), rec) }); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ExpireUploads(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("ExpireUploads = %d, %v; want 1", n, err)
	}
	var left int
	r.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bUploads, nil, nil, func(k, v []byte) bool { left++; return true })
	})
	if left != 0 {
		t.Errorf("%d upload records left", left)
	}
}

// Pushing an archived image again restores it.
func TestRepushRestoresArchivedImage(t *testing.T) {
	ctx := context.Background()
	r, _, reg := newTestRegistry(t)
	cfg := "{}"
	if _, err := r.PutBlob(ctx, reg, "app", digest.FromString(cfg), strings.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromString(cfg).String() + `","size":2},"layers":[]}`)
	m, err := r.PutManifest(ctx, reg, "app", PutManifestInput{Reference: "v1", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetStorageClass(ctx, reg, "app", m.Digest, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.GetManifest(ctx, reg, "app", "v1", nil); !IsKind(err, KindImageArchived) {
		t.Fatalf("archived image pulled: %v", err)
	}
	again, err := r.PutManifest(ctx, reg, "app", PutManifestInput{Reference: "v1", Body: body, RejectUnchanged: true})
	if err != nil {
		t.Fatalf("re-push of an archived image: %v", err)
	}
	if again.Archived || again.ActivatedAt.IsZero() || !again.PushedAt.Equal(m.PushedAt) {
		t.Errorf("after re-push: archived=%v activatedAt=%v pushedAt=%v (first push %v)", again.Archived, again.ActivatedAt, again.PushedAt, m.PushedAt)
	}
	if _, _, err := r.GetManifest(ctx, reg, "app", "v1", nil); err != nil {
		t.Errorf("restored image cannot be pulled: %v", err)
	}
}

// failOnce fails the next Update, once.
type failOnce struct {
	kv.Store
	armed bool
}

func (f *failOnce) Update(fn func(kv.Tx) error) error {
	if f.armed {
		f.armed = false
		return errors.New("disk full")
	}
	return f.Store.Update(fn)
}

// If linking fails after the bytes were committed, the session ends cleanly:
// later requests are told it is gone, not handed a closed file.
func TestCompleteUploadFailureEndsSession(t *testing.T) {
	ctx := context.Background()
	store := &failOnce{Store: kv.NewMem()}
	blobs := blob.NewMem()
	r := New(Options{KV: store, Blobs: blobs, Log: slog.New(slog.DiscardHandler)})
	defer r.Close()
	reg := RegistryID{Account: "123456789012", Region: "us-east-1"}
	if _, err := r.CreateRepository(ctx, reg, "app"); err != nil {
		t.Fatal(err)
	}
	st, err := r.StartUpload(ctx, reg, "app")
	if err != nil {
		t.Fatal(err)
	}
	store.armed = true
	if _, err := r.CompleteUpload(ctx, reg, "app", st.ID, -1, strings.NewReader("data"), digest.FromString("data")); err == nil {
		t.Fatal("CompleteUpload succeeded with a failing store")
	}
	if _, err := r.WriteUpload(ctx, reg, "app", st.ID, -1, strings.NewReader("more")); !IsKind(err, KindUploadNotFound) {
		t.Errorf("the failed session still answers: %v", err)
	}
	if _, err := blobs.Stat(digest.FromString("data")); err == nil {
		t.Error("the committed but unlinked bytes were kept")
	}
}

package core

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// ParseDigest validates a client-supplied digest.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", Errorf(KindDigestInvalid, "invalid digest '%s'", s)
	}
	return d, nil
}

func blobNotFound(d digest.Digest) error {
	return Errorf(KindBlobNotFound, "blob %s is not in the repository", d)
}

// StatBlob returns the size of a blob reachable from the repository.
func (r *Registry) StatBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := r.kv.View(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		v := tx.Get(bLinks, itemKey(reg, repo, string(d)))
		if v == nil {
			return blobNotFound(d)
		}
		size, _ = strconv.ParseInt(string(v), 10, 64)
		return nil
	})
	return size, err
}

// OpenBlob opens a blob reachable from the repository; a miss is first
// offered to the Upstream (a pull-through cache).
func (r *Registry) OpenBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (blob.Reader, error) {
	_, err := r.StatBlob(ctx, reg, repo, d)
	if missing(err) {
		if again, ferr := r.fetchBlob(ctx, reg, repo, d); ferr != nil {
			err = ferr
		} else if again {
			_, err = r.StatBlob(ctx, reg, repo, d)
		}
	}
	if err != nil {
		return nil, err
	}
	rd, err := r.blobs.Open(d)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, blobNotFound(d)
	}
	return rd, err
}

// DeleteBlob makes a blob unreachable from the repository; its bytes go when
// no repository links it any more.
func (r *Registry) DeleteBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) error {
	var orphans []digest.Digest
	err := r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		if tx.Get(bLinks, itemKey(reg, repo, string(d))) == nil {
			return blobNotFound(d)
		}
		var err error
		orphans, err = unlinkBlob(tx, reg, repo, d)
		return err
	})
	if err == nil {
		r.dropBlobs(orphans)
	}
	return err
}

func linkBlob(tx kv.Tx, reg RegistryID, repo string, d digest.Digest, size int64) error {
	if err := tx.Put(bLinks, itemKey(reg, repo, string(d)), []byte(strconv.FormatInt(size, 10))); err != nil {
		return err
	}
	return tx.Put(bBlobRefs, blobRefKey(d, reg, repo), nil)
}

// unlinkBlob removes one repository's link and returns d if nothing links it any more.
func unlinkBlob(tx kv.Tx, reg RegistryID, repo string, d digest.Digest) ([]digest.Digest, error) {
	if err := tx.Delete(bLinks, itemKey(reg, repo, string(d))); err != nil {
		return nil, err
	}
	if err := tx.Delete(bBlobRefs, blobRefKey(d, reg, repo)); err != nil {
		return nil, err
	}
	if referenced, err := blobReferenced(tx, d); err != nil || referenced {
		return nil, err
	}
	return []digest.Digest{d}, nil
}

func blobReferenced(tx kv.Tx, d digest.Digest) (bool, error) {
	found := false
	err := tx.Scan(bBlobRefs, []byte(string(d)+sep), nil, func(k, v []byte) bool { found = true; return false })
	return found, err
}

// unreferenced reports whether no repository links d. Any doubt — the store
// cannot be read — counts as referenced: bytes are deleted only when it is
// certain nothing needs them.
func (r *Registry) unreferenced(d digest.Digest) bool {
	var referenced bool
	err := r.kv.View(func(tx kv.Tx) (err error) { referenced, err = blobReferenced(tx, d); return err })
	if err != nil {
		r.log.Warn("keeping a blob whose references cannot be read", "digest", d, "err", err)
		return false
	}
	return !referenced
}

// dropBlobs deletes blob bytes that no repository links, re-checking under the
// exclusive GC lock in case a commit linked one again meanwhile.
func (r *Registry) dropBlobs(ds []digest.Digest) {
	if len(ds) == 0 {
		return
	}
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	for _, d := range ds {
		if r.unreferenced(d) {
			if err := r.blobs.Delete(d); err != nil {
				r.log.Warn("deleting unreferenced blob", "digest", d, "err", err)
			}
		}
	}
}

// UploadStatus is the state of an upload session.
type UploadStatus struct {
	ID   string
	Size int64
}

type uploadRecord struct {
	ID         string     `json:"id"`
	Registry   RegistryID `json:"registry"`
	Repository string     `json:"repository"`
	StartedAt  time.Time  `json:"startedAt"`
}

type openUpload struct {
	mu   sync.Mutex // one request at a time per upload
	rec  uploadRecord
	up   blob.Upload
	done bool // committed or cancelled: later requests see it as unknown
}

func uploadNotFound(id string) error {
	return Errorf(KindUploadNotFound, "The upload with id '%s' does not exist", id)
}

// StartUpload opens an upload session into the repository.
func (r *Registry) StartUpload(ctx context.Context, reg RegistryID, repo string) (UploadStatus, error) {
	rec := uploadRecord{ID: r.newID(), Registry: reg, Repository: repo, StartedAt: r.clock.Now()}
	created, err := r.updateCreating(ctx, reg, repo, CreateOnPush, func(tx kv.Tx) error {
		return putJSON(tx, bUploads, []byte(rec.ID), rec)
	})
	if err != nil {
		return UploadStatus{}, err
	}
	r.publishAll(ctx, created)
	up, err := r.blobs.CreateUpload(rec.ID)
	if err != nil {
		r.kv.Update(func(tx kv.Tx) error { return tx.Delete(bUploads, []byte(rec.ID)) })
		return UploadStatus{}, err
	}
	r.mu.Lock()
	r.uploads[rec.ID] = &openUpload{rec: rec, up: up}
	r.mu.Unlock()
	return UploadStatus{ID: rec.ID}, nil
}

// acquire returns the session locked; the caller must unlock u.mu. A
// missing repository is reported as such, before the session is looked for.
func (r *Registry) acquire(reg RegistryID, repo, id string) (*openUpload, error) {
	if err := r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, repo, nil) }); err != nil {
		return nil, err
	}
	r.mu.Lock()
	u, ok := r.uploads[id]
	if !ok {
		// Not open in this process (e.g. after a restart): reopen from the stores.
		var rec uploadRecord
		found, err := false, error(nil)
		r.kv.View(func(tx kv.Tx) error { found, err = getJSON(tx, bUploads, []byte(id), &rec); return nil })
		if err != nil || !found {
			r.mu.Unlock()
			return nil, uploadNotFound(id)
		}
		up, err := r.blobs.ResumeUpload(id)
		if err != nil {
			r.mu.Unlock()
			return nil, uploadNotFound(id)
		}
		u = &openUpload{rec: rec, up: up}
		r.uploads[id] = u
	}
	r.mu.Unlock()
	u.mu.Lock()
	if u.done || u.rec.Registry != reg || u.rec.Repository != repo {
		u.mu.Unlock()
		return nil, uploadNotFound(id)
	}
	return u, nil
}

// forget drops a finished session's open handle.
func (r *Registry) forget(u *openUpload) {
	u.done = true
	r.mu.Lock()
	delete(r.uploads, u.rec.ID)
	r.mu.Unlock()
}

// finish ends a session: forget its handle and delete its record.
func (r *Registry) finish(u *openUpload) {
	r.forget(u)
	r.kv.Update(func(tx kv.Tx) error { return tx.Delete(bUploads, []byte(u.rec.ID)) })
}

// GetUpload reports an upload's progress.
func (r *Registry) GetUpload(ctx context.Context, reg RegistryID, repo, id string) (UploadStatus, error) {
	u, err := r.acquire(reg, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	defer u.mu.Unlock()
	return UploadStatus{ID: id, Size: u.up.Size()}, nil
}

// WriteUpload appends body to the upload. offset, when not negative, is where
// the client says the chunk starts; it must be where the upload ends.
func (r *Registry) WriteUpload(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader) (UploadStatus, error) {
	u, err := r.acquire(reg, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	defer u.mu.Unlock()
	if offset >= 0 && offset != u.up.Size() {
		return UploadStatus{ID: id, Size: u.up.Size()}, Errorf(KindRangeInvalid, "chunk starts at %d but the upload has %d bytes", offset, u.up.Size())
	}
	if body != nil {
		if _, err := io.Copy(u.up, body); err != nil {
			return UploadStatus{ID: id, Size: u.up.Size()}, err
		}
	}
	return UploadStatus{ID: id, Size: u.up.Size()}, nil
}

// CompleteUpload appends an optional last chunk, verifies the digest and
// makes the blob reachable from the repository.
func (r *Registry) CompleteUpload(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader, expected digest.Digest) (Descriptor, error) {
	u, err := r.acquire(reg, repo, id)
	if err != nil {
		return Descriptor{}, err
	}
	defer u.mu.Unlock()
	if offset >= 0 && offset != u.up.Size() {
		return Descriptor{}, Errorf(KindRangeInvalid, "chunk starts at %d but the upload has %d bytes", offset, u.up.Size())
	}
	if body != nil {
		if _, err := io.Copy(u.up, body); err != nil {
			return Descriptor{}, err
		}
	}
	desc, consumed, err := r.commit(ctx, reg, repo, u.up, expected, u.rec.ID)
	switch {
	case err != nil && consumed:
		r.finish(u) // its bytes left the session: it cannot go on
	case IsKind(err, KindRepositoryNotFound):
		u.up.Cancel() // the repository was deleted, and its upload goes with it
		r.finish(u)
	}
	if err != nil {
		return Descriptor{}, err
	}
	r.forget(u) // commit deleted the record with the link
	return desc, nil
}

// commit verifies and stores the upload's bytes and links them into repo;
// the session's record (if any) goes in the same transaction as the link.
// consumed says the upload can no longer be used (its bytes were handed to
// the blob store, successfully or not); a digest mismatch leaves it usable.
func (r *Registry) commit(ctx context.Context, reg RegistryID, repo string, up blob.Upload, expected digest.Digest, session string) (_ Descriptor, consumed bool, _ error) {
	ev := r.event(ctx, EventUploadComplete, reg, repo)
	ev.Digest, ev.Size = expected, up.Size()
	if err := r.bus.check(ctx, ev); err != nil {
		return Descriptor{}, false, err
	}
	// The repository may be gone since the upload started: refuse before the
	// bytes become a blob that nothing links.
	if err := r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, repo, nil) }); err != nil {
		return Descriptor{}, false, err
	}
	var orphan []digest.Digest
	defer func() { r.dropBlobs(orphan) }() // runs after the shared lock is released
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	size, err := up.Commit(expected)
	if errors.Is(err, blob.ErrDigestMismatch) {
		return Descriptor{}, false, Errorf(KindDigestInvalid, "the uploaded content does not match digest %s", expected)
	}
	if err != nil {
		return Descriptor{}, true, err
	}
	err = r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		if session != "" {
			if err := tx.Delete(bUploads, []byte(session)); err != nil {
				return err
			}
		}
		return linkBlob(tx, reg, repo, expected, size)
	})
	if err != nil {
		orphan = []digest.Digest{expected} // stored but not linked
		return Descriptor{}, true, err
	}
	r.bus.publish(ctx, ev)
	return Descriptor{Digest: expected, Size: size, MediaType: "application/octet-stream"}, true, nil
}

// PutBlob stores body as blob expected in one step (monolithic upload).
func (r *Registry) PutBlob(ctx context.Context, reg RegistryID, repo string, expected digest.Digest, body io.Reader) (Descriptor, error) {
	return r.putBlob(ctx, reg, repo, expected, body, CreateOnPush)
}

// ImportBlob stores bytes from outside the registry (a pull-through cache's
// upstream) as blob expected in repo, verifying the digest while it streams,
// and creates the repository when missing (from a PULL_THROUGH_CACHE
// template, or with defaults). Mark ctx with the feature's Cause.
func (r *Registry) ImportBlob(ctx context.Context, reg RegistryID, repo string, expected digest.Digest, body io.Reader) (Descriptor, error) {
	return r.putBlob(ctx, reg, repo, expected, body, CreateForPullThrough)
}

func (r *Registry) putBlob(ctx context.Context, reg RegistryID, repo string, expected digest.Digest, body io.Reader, reason CreateReason) (Descriptor, error) {
	if err := r.ensureRepository(ctx, reg, repo, reason); err != nil {
		return Descriptor{}, err
	}
	up, err := r.blobs.CreateUpload(r.newID())
	if err != nil {
		return Descriptor{}, err
	}
	if _, err := io.Copy(up, body); err != nil {
		up.Cancel()
		return Descriptor{}, err
	}
	desc, consumed, err := r.commit(ctx, reg, repo, up, expected, "")
	if err != nil && !consumed {
		up.Cancel()
	}
	return desc, err
}

// CancelUpload discards an upload session.
func (r *Registry) CancelUpload(ctx context.Context, reg RegistryID, repo, id string) error {
	u, err := r.acquire(reg, repo, id)
	if err != nil {
		return err
	}
	defer u.mu.Unlock()
	if err := u.up.Cancel(); err != nil {
		return err
	}
	r.finish(u)
	return nil
}

// MountBlob links a blob that repository from (or, when from is empty, any
// repository of the same registry) already has into repo. It reports false
// when there was nothing to mount, mounting is not enabled for the registry
// (ECR's BLOB_MOUNTING account setting), or the caller may not read the
// source, so the edge falls back to an upload that reveals nothing.
//
// Mounting reads the source's layer, so the caller needs
// ecr:GetDownloadUrlForLayer on it ("Users need ecr:GetDownloadUrlForLayer
// IAM permission on a repository to mount layers from it", ECR user guide,
// Blob mounting); the edge has already authorized the upload into repo.
func (r *Registry) MountBlob(ctx context.Context, reg RegistryID, repo, from string, d digest.Digest) (Descriptor, bool, error) {
	var candidates []string
	r.kv.View(func(tx kv.Tx) error {
		for _, src := range mountSources(tx, reg, from, d) {
			if _, ok := mountable(tx, reg, repo, src, d); ok {
				candidates = append(candidates, src)
			}
		}
		return nil
	})
	source := ""
	for _, c := range candidates {
		if r.Authorize(ctx, AuthRequest{Action: "ecr:GetDownloadUrlForLayer", Resources: []Resource{RepositoryResource(reg, c)}}) == nil {
			source = c
			break
		}
	}
	if source == "" {
		return Descriptor{}, false, nil
	}
	var size int64
	found := false
	r.kv.View(func(tx kv.Tx) error { size, found = mountable(tx, reg, repo, source, d); return nil })
	if !found {
		return Descriptor{}, false, nil
	}
	ev := r.event(ctx, EventUploadComplete, reg, repo)
	ev.Digest, ev.Size = d, size
	if err := r.bus.check(ctx, ev); err != nil {
		return Descriptor{}, false, err
	}
	created, err := r.updateCreating(ctx, reg, repo, CreateOnPush, func(tx kv.Tx) error {
		if size, found = mountable(tx, reg, repo, source, d); !found {
			return nil // deleted from the source meanwhile
		}
		return linkBlob(tx, reg, repo, d, size)
	})
	if err != nil || !found {
		return Descriptor{}, false, err
	}
	r.publishAll(ctx, created)
	r.bus.publish(ctx, ev)
	return Descriptor{Digest: d, Size: size, MediaType: "application/octet-stream"}, true, nil
}

func mountEnabled(tx kv.Tx, reg RegistryID) bool {
	s, err := getSettings(tx, reg)
	return err == nil && s.AccountSetting("BLOB_MOUNTING") == "ENABLED"
}

// mountSources lists the repositories of reg (never another account's or
// region's) that link d: from alone when it is named, else every one.
func mountSources(tx kv.Tx, reg RegistryID, from string, d digest.Digest) []string {
	if from != "" {
		if tx.Get(bLinks, itemKey(reg, from, string(d))) != nil {
			return []string{from}
		}
		return nil
	}
	var out []string
	pre := []byte(string(d) + sep + regPrefix(reg))
	tx.Scan(bBlobRefs, pre, nil, func(k, v []byte) bool {
		out = append(out, string(k[len(pre):]))
		return true
	})
	return out
}

// mountable applies ECR's rules to mounting d from repository from into repo:
// blob mounting must be ENABLED for the registry, the source must link d, and
// source and target must share their encryption configuration.
func mountable(tx kv.Tx, reg RegistryID, repo, from string, d digest.Digest) (int64, bool) {
	if !mountEnabled(tx, reg) {
		return 0, false
	}
	var src, dst Repository
	if getRepo(tx, reg, from, &src) != nil {
		return 0, false
	}
	if getRepo(tx, reg, repo, &dst) == nil && (src.EncryptionType != dst.EncryptionType || src.KMSKey != dst.KMSKey) {
		return 0, false
	}
	v := tx.Get(bLinks, itemKey(reg, from, string(d)))
	if v == nil {
		return 0, false
	}
	size, _ := strconv.ParseInt(string(v), 10, 64)
	return size, true
}

// deleteUploadRecords removes the upload sessions of a repository being
// deleted and returns their ids.
func deleteUploadRecords(tx kv.Tx, reg RegistryID, repo string) ([]string, error) {
	var ids []string
	err := tx.Scan(bUploads, nil, nil, func(k, v []byte) bool {
		var rec uploadRecord
		if jsonUnmarshal(v, &rec) == nil && rec.Registry == reg && rec.Repository == repo {
			ids = append(ids, string(k))
		}
		return true
	})
	for _, id := range ids {
		if err := tx.Delete(bUploads, []byte(id)); err != nil {
			return nil, err
		}
	}
	return ids, err
}

// cancelUploads discards the bytes of upload sessions whose records are gone.
func (r *Registry) cancelUploads(ids []string) {
	for _, id := range ids {
		r.mu.Lock()
		u, open := r.uploads[id]
		delete(r.uploads, id)
		r.mu.Unlock()
		if open {
			u.mu.Lock()
			u.done = true
			u.up.Cancel()
			u.mu.Unlock()
			continue
		}
		if up, err := r.blobs.ResumeUpload(id); err == nil {
			up.Cancel()
		}
	}
}

// ExpireUploads discards upload sessions that nobody has written to for
// maxAge, and upload bytes that belong to no session (left by a crash during
// a monolithic upload). It returns how many it discarded.
func (r *Registry) ExpireUploads(ctx context.Context, maxAge time.Duration) (int, error) {
	cutoff := r.clock.Now().Add(-maxAge)
	records := map[string]uploadRecord{}
	err := r.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bUploads, nil, nil, func(k, v []byte) bool {
			var rec uploadRecord
			if jsonUnmarshal(v, &rec) == nil {
				records[string(k)] = rec
			}
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	var stale []string
	files := map[string]bool{}
	err = r.blobs.ListUploads(func(id string, modified time.Time) error {
		files[id] = true
		if modified.Before(cutoff) {
			stale = append(stale, id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// A session whose bytes never got a file (a crash between the record and
	// the file) is old when its record is.
	for id, rec := range records {
		if !files[id] && rec.StartedAt.Before(cutoff) {
			stale = append(stale, id)
		}
	}
	n := 0
	for _, id := range stale {
		rec, hasRecord := records[id]
		if hasRecord && !files[id] {
			if err := r.kv.Update(func(tx kv.Tx) error { return tx.Delete(bUploads, []byte(id)) }); err != nil {
				return n, err
			}
		} else if hasRecord {
			if err := r.CancelUpload(ctx, rec.Registry, rec.Repository, id); err != nil && !IsKind(err, KindUploadNotFound) && !IsKind(err, KindRepositoryNotFound) {
				return n, err
			}
		} else if up, err := r.blobs.ResumeUpload(id); err == nil {
			r.mu.Lock()
			_, open := r.uploads[id]
			r.mu.Unlock()
			if open {
				up.Close()
				continue
			}
			up.Cancel()
		}
		n++
	}
	return n, nil
}

// SweepBlobs deletes stored blobs that no repository links: what a crash
// between unlinking a blob and deleting its bytes leaves behind. It holds the
// GC lock, so no commit can link a blob it is about to delete.
func (r *Registry) SweepBlobs(ctx context.Context) (int, error) {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	var all []digest.Digest
	if err := r.blobs.Walk(func(d digest.Digest, _ int64) error { all = append(all, d); return nil }); err != nil {
		return 0, err
	}
	var orphans []digest.Digest
	err := r.kv.View(func(tx kv.Tx) error {
		for _, d := range all {
			referenced, err := blobReferenced(tx, d)
			if err != nil {
				return err
			}
			if !referenced {
				orphans = append(orphans, d)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err // delete nothing when unsure
	}
	for _, d := range orphans {
		if err := r.blobs.Delete(d); err != nil {
			return 0, err
		}
	}
	return len(orphans), nil
}

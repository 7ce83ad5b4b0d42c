package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// ParseDigest validates a client-supplied digest.
func ParseDigest(s string) (digest.Digest, error) {
	if sha256Hex(s) {
		// What digest.Parse accepts for sha256, checked without its regexp:
		// nearly every digest a request names is one.
		return digest.Digest(s), nil
	}
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
		v := tx.Get(bBlobRefs, blobRefKey(d, reg, repo))
		if v == nil {
			return blobNotFound(d)
		}
		size, _ = strconv.ParseInt(string(v), 10, 64)
		return nil
	})
	return size, err
}

// OpenBlob opens a blob reachable from the repository; a miss is first
// offered to the Upstream (a pull-through cache), and the first caller to
// miss is served the upstream's bytes while they are stored.
func (r *Registry) OpenBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (blob.Reader, error) {
	tee, err := r.linkedOrFetched(ctx, reg, repo, d)
	if tee != nil || err != nil {
		return tee, err
	}
	rd, err := r.blobs.Open(d)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, blobNotFound(d)
	}
	return rd, err
}

// linkedOrFetched is what OpenBlob and HeadBlob do first: nil, nil when
// the blob is linked into the repository; otherwise the miss is offered to
// the Upstream, which either serves its bytes as they are stored (the
// reader, the first caller to miss), or stores them for a caller that
// waited (then the link is read again), or has nothing (the error).
func (r *Registry) linkedOrFetched(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (blob.Reader, error) {
	_, err := r.StatBlob(ctx, reg, repo, d)
	if !missing(err) {
		return nil, err
	}
	tee, again, ferr := r.fetchBlob(ctx, reg, repo, d, true)
	switch {
	case tee != nil:
		return tee, nil
	case ferr != nil:
		return nil, ferr
	case again:
		_, err = r.StatBlob(ctx, reg, repo, d)
	}
	return nil, err
}

// HeadBlob answers what OpenBlob would, without opening the blob: the size
// its reader would have, or OpenBlob's error. A HEAD (asked before every
// layer of a push and in an index push's every image) needs no reader, and
// opening one costs a file's open and close on disk. A miss is offered to
// the Upstream as OpenBlob offers it, its reader closed unread, as a HEAD
// served from OpenBlob closed it.
func (r *Registry) HeadBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (int64, error) {
	tee, err := r.linkedOrFetched(ctx, reg, repo, d)
	if tee != nil {
		size := tee.Size()
		tee.Close()
		return size, nil
	}
	if err != nil {
		return 0, err
	}
	// The store's size, as a reader of it would report it: a link without
	// its bytes is a blob OpenBlob does not find.
	size, err := r.blobs.Stat(d)
	if errors.Is(err, blob.ErrNotFound) {
		return 0, blobNotFound(d)
	}
	return size, err
}

// LocateBlob is StatBlob for a caller about to hand out the blob's location
// (ECR's GetDownloadUrlForLayer): a miss is first offered to the Upstream,
// and the blob stored whole, so that the location names a blob that exists.
func (r *Registry) LocateBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (int64, error) {
	size, err := r.StatBlob(ctx, reg, repo, d)
	if missing(err) {
		if _, again, ferr := r.fetchBlob(ctx, reg, repo, d, false); ferr != nil {
			return 0, ferr
		} else if again {
			return r.StatBlob(ctx, reg, repo, d)
		}
	}
	return size, err
}

// DeleteBlob makes a blob unreachable from the repository; its bytes go when
// no repository links it any more.
func (r *Registry) DeleteBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) error {
	var orphans []digest.Digest
	err := r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		if tx.Get(bBlobRefs, blobRefKey(d, reg, repo)) == nil {
			return blobNotFound(d)
		}
		// Deleting a blob a manifest still needs would leave the image
		// unpullable; the spec lets a registry refuse a deletion.
		user, err := blobUser(tx, reg, repo, d)
		if err != nil {
			return err
		}
		if user != "" {
			return Errorf(KindBlobInUse, "blob %s is used by manifest %s in repository '%s'; delete the manifest first", d, user, repo)
		}
		orphans, err = unlinkBlob(tx, reg, repo, d)
		return err
	})
	if err == nil {
		r.dropBlobs(orphans)
	}
	return err
}

// blobUser returns a manifest of the repository that needs blob d, or "".
// It reads the repository's manifests (since layout 7 no index says which
// manifests need a blob: keeping one cost every push a scattered page per
// blob, for the sake of this rare question): only those whose bytes name d
// are parsed (or write a character as a \u escape, which JSON allows in a
// digest too). A manifest that cannot be read fails the deletion: doubt
// keeps the blob.
func blobUser(tx kv.Tx, reg RegistryID, repo string, d digest.Digest) (user string, err error) {
	pre := inRepo(reg, repo)
	tx.Scan(bManifests, pre, nil, func(k, v []byte) bool {
		body := bodyPart(v)
		if !bytes.Contains(body, []byte(d)) && !bytes.Contains(body, []byte(`\u`)) {
			return true
		}
		var rec imageRecord
		if err = decodeRecord(v, &rec); err != nil {
			err = corrupt("image", k, err)
			return false
		}
		m, perr := ParseManifest(body, rec.MediaType)
		if perr != nil {
			err = corrupt("manifest bytes", k, perr)
			return false
		}
		for b := range m.blobs() {
			if b.Digest == d {
				user = string(k[len(pre):])
				return false
			}
		}
		return true
	})
	return user, err
}

// linkBlob makes d, of the given size, reachable from repo: one key, beside
// a small blob's bytes (bInlineBlobs) and the blob's other references.
func linkBlob(tx kv.Tx, reg RegistryID, repo string, d digest.Digest, size int64) error {
	var n [20]byte
	return tx.Put(bBlobRefs, blobRefKey(d, reg, repo), strconv.AppendInt(n[:0], size, 10))
}

// unlinkBlob removes one repository's link and returns d if nothing links it any more.
func unlinkBlob(tx kv.Tx, reg RegistryID, repo string, d digest.Digest) ([]digest.Digest, error) {
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
	if tb, ok := r.blobs.(txBlobs); ok {
		// Inline blobs go in one commit, checked inside it.
		if _, err := tb.DeleteMany(ds, keepReferenced); err != nil {
			r.log.Warn("deleting unreferenced blobs", "digests", ds, "err", err)
		}
		return
	}
	for _, d := range ds {
		if r.unreferenced(d) {
			if err := r.blobs.Delete(d); err != nil {
				r.log.Warn("deleting unreferenced blob", "digest", d, "err", err)
			}
		}
	}
}

// newUpload starts an upload: in memory first when small blobs go inline
// (memFirst), else in the blob store.
func (r *Registry) newUpload(id string) (blob.Upload, error) {
	if _, ok := r.blobs.(txBlobs); ok && r.inlineMax > 0 {
		return newMemFirst(r.blobs, id, r.inlineMax), nil
	}
	return r.blobs.CreateUpload(id)
}

// txBlobs is a blob store that keeps small blobs in the metadata store
// (blob.Inline): commit stores one in the transaction that links it, and
// unreferenced ones are deleted in one transaction that checks them.
type txBlobs interface {
	Take(up blob.Upload, expected digest.Digest) (data []byte, ok bool, err error)
	Put(tx kv.Tx, d digest.Digest, data []byte) error
	DeleteMany(ds []digest.Digest, keep func(kv.Tx, digest.Digest) (bool, error)) ([]digest.Digest, error)
}

// keepReferenced is DeleteMany's keep: a blob some repository links stays.
func keepReferenced(tx kv.Tx, d digest.Digest) (bool, error) { return blobReferenced(tx, d) }

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
	// WrittenAt is when bytes last arrived, kept to within activityPrecision
	// (the janitor's horizon is a day; a write per chunk would cost a commit).
	WrittenAt time.Time `json:"writtenAt,omitzero"`
	// LastLayerPart is the size of the last part sent with ECR's
	// UploadLayerPart, and LastLayerPartAt where it starts; SmallLayerPart
	// records that a part other than the last was under MinLayerPartSize.
	LastLayerPart   int64 `json:"lastLayerPart,omitempty"`
	LastLayerPartAt int64 `json:"lastLayerPartAt,omitempty"`
	SmallLayerPart  bool  `json:"smallLayerPart,omitempty"`
	// RepoGen is how many times the session's repository had been deleted
	// when it started (repoGen): one deleted and created again under the
	// name is another repository.
	RepoGen uint64 `json:"repoGen,omitempty"`
	// Inline: the session's bytes are in the store with its record
	// (bUploadBytes, memfirst.go), not an upload of the blob store.
	Inline bool `json:"inline,omitempty"`
}

// recheckRepoSize is the size from which commit checks that the repository
// still exists before it stores an upload's bytes.
const recheckRepoSize = 1 << 20

// activityPrecision is how stale an upload record's WrittenAt may be.
const activityPrecision = time.Hour

// MinLayerPartSize is ECR's smallest layer part but the last
// (LayerPartTooSmallException: "Layer parts must be at least 5 MiB in size").
const MinLayerPartSize = 5 << 20

// openUpload is an upload session known to this process. It holds no open
// file: each request reopens the session's bytes (acquire) and closes them
// again (release), so that sessions nobody is writing to cost a descriptor
// each for nothing. Resuming is cheap (blob.Store.ResumeUpload).
type openUpload struct {
	mu        sync.Mutex // one request at a time per upload
	rec       uploadRecord
	done      bool         // committed or cancelled: later requests see it as unknown
	writtenAt atomic.Int64 // when bytes last arrived (unix ns), exactly: rec.WrittenAt lags; read without the lock
	// ended once the session was ended from outside (Reset, its
	// repository deleted), which does not wait for a request holding it:
	// see endSessions. end interrupts the body of the chunk being received
	// (reading, under endMu). A flag and a mutex, not a context: a
	// cancellable context and an AfterFunc per chunk cost five allocations
	// on every small blob's push.
	ended   atomic.Bool
	endMu   sync.Mutex
	reading Interrupter
	body    sessionBody // the chunk being received (appendChunk), held under mu

	// recorded: the session's record is in the store; else it is known by
	// its id and this process (uploadids.go). Written holding mu and r.mu.
	recorded bool
	key      []byte // the secret its id was sealed with, when unrecorded
	// stored: the blob store may hold bytes of the session (else a request
	// starts them afresh, without looking). stale: whatever the blob store
	// holds of it was never acknowledged (rebuilt from its id, or its bytes
	// are inline).
	stored, stale bool
	inlineSize    int64 // how many bytes the store holds inline (rec.Inline)
}

func newOpenUpload(rec uploadRecord) *openUpload {
	u := &openUpload{rec: rec}
	u.recordSet()
	return u
}

// recordSet sets what follows from the session's record: when it last saw
// bytes.
func (u *openUpload) recordSet() { u.writtenAt.Store(u.rec.lastActive().UnixNano()) }

// An Interrupter is a request body that can stop waiting for its client: a
// Read in progress, and every later one, fails at once. The server's request
// bodies are. When a session is ended while a request writes a chunk into
// it, core interrupts the chunk's body, so that the request fails now rather
// than when the client sends more or the body's idle deadline passes.
type Interrupter interface{ Interrupt() }

// end ends the session from outside, interrupting the chunk being received.
func (u *openUpload) end() {
	u.endMu.Lock()
	defer u.endMu.Unlock()
	u.ended.Store(true)
	if u.reading != nil {
		u.reading.Interrupt()
	}
}

// watch has end interrupt body while a chunk is received, until unwatch.
func (u *openUpload) watch(body io.Reader) {
	i, ok := body.(Interrupter)
	if !ok {
		return
	}
	u.endMu.Lock()
	defer u.endMu.Unlock()
	if !u.ended.Load() { // else sessionBody refuses every read
		u.reading = i
	}
}

func (u *openUpload) unwatch() {
	u.endMu.Lock()
	u.reading = nil
	u.endMu.Unlock()
}

// sessionBody reads a chunk for a session, and stops when the session ends.
type sessionBody struct {
	ended *atomic.Bool
	body  io.Reader
}

func (b *sessionBody) Read(p []byte) (int, error) {
	if b.ended.Load() {
		return 0, errSessionEnded
	}
	return b.body.Read(p)
}

var errSessionEnded = errors.New("the upload session was ended")

// lastWrite is when the session last saw bytes.
func (u *openUpload) lastWrite() time.Time { return time.Unix(0, u.writtenAt.Load()) }

func uploadNotFound(id string) error {
	return Errorf(KindUploadNotFound, "The upload with id '%s' does not exist", id)
}

// putUploadRecord stores a new session's record, and counts it against its
// registry's limit.
func putUploadRecord(tx kv.Tx, rec uploadRecord) error {
	if err := putJSON(tx, bUploads, []byte(rec.ID), rec); err != nil {
		return err
	}
	return tx.Put(bRegUploads, []byte(regPrefix(rec.Registry)+rec.ID), nil)
}

// deleteUploadRecord removes a session's record, freeing its slot.
func deleteUploadRecord(tx kv.Tx, reg RegistryID, id string) error {
	if err := tx.Delete(bUploads, []byte(id)); err != nil {
		return err
	}
	return tx.Delete(bRegUploads, []byte(regPrefix(reg)+id))
}

// checkUploadLimit refuses a new session in a registry that has as many
// open as it may: recorded ones, and those this process holds without a
// record (r.mu held). Sessions end by completing, by cancellation, with their
// repository, or by expiring (the janitor's), and each frees its slot.
func (r *Registry) checkUploadLimit(tx kv.Tx, reg RegistryID) error {
	if r.maxUploads <= 0 {
		return nil
	}
	n := r.unrecorded[reg]
	// The registry's prefix (regPrefix's) built as bytes: one allocation.
	err := tx.Scan(bRegUploads, appendRepoKey(nil, reg, ""), nil, func(k, v []byte) bool {
		n++
		return n < r.maxUploads
	})
	if err != nil || n < r.maxUploads {
		return err
	}
	return Errorf(KindLimitExceeded, "The registry with id '%s' in %s already has %d open layer uploads, the most it may have: complete or cancel one before initiating another",
		reg.Account, reg.Region, r.maxUploads)
}

// StartUpload opens an upload session into the repository, unless the
// registry has as many open as it may (KindLimitExceeded). It writes
// nothing but a repository it creates: the session is known by its id
// (uploadids.go), and its upload in the blob store is made by the first
// request that writes (acquire).
func (r *Registry) StartUpload(ctx context.Context, reg RegistryID, repo string) (UploadStatus, error) {
	// The repository is looked for once, by the session's start; only when
	// it is missing is it created (on push, when allowed) and the start
	// tried again.
	st, err := r.startUpload(reg, repo)
	if !IsKind(err, KindRepositoryNotFound) {
		return st, err
	}
	if err := r.ensureRepository(ctx, reg, repo, CreateOnPush); err != nil {
		return UploadStatus{}, err
	}
	return r.startUpload(reg, repo)
}

func (r *Registry) startUpload(reg RegistryID, repo string) (UploadStatus, error) {
	now := r.clock.Now()
	// Under r.mu from the limit's count to the session's registration: a
	// Reset or a repository's deletion, which end the sessions they find
	// here, either sees this one or comes before its checks.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ephemeral {
		return r.startEphemeralLocked(reg, repo, now)
	}
	key, err := r.uploadKeyLocked()
	if err != nil {
		return UploadStatus{}, err
	}
	// The session is made first and its record written in place: a record
	// the closure filled would be an allocation of its own, then copied.
	u := new(openUpload)
	rec := &u.rec
	for rec.ID == "" {
		// Reserved before the read, which must not wait for a write.
		if err := r.reserveNoncesLocked(now); err != nil {
			return UploadStatus{}, err
		}
		err = r.kv.View(func(tx kv.Tx) error {
			gen, err := repoState(tx, reg, repo)
			if err != nil {
				return err
			}
			if err := r.checkUploadLimit(tx, reg); err != nil {
				return err
			}
			for r.nonces.next < r.nonces.end {
				id := sealID(r.idMACer, now, uint32(r.nonces.next), reg, repo, gen)
				r.nonces.next++
				// No nonce is handed out twice, but after the counter wraps
				// one may still be ended.
				if _, open := r.uploads[id]; open || tx.Get(bUploads, []byte(id)) != nil || idEnded(tx, id) {
					continue
				}
				*rec = uploadRecord{ID: id, Registry: reg, Repository: repo, StartedAt: now, RepoGen: gen}
				return nil
			}
			return nil // the block is used up: another
		})
		if err != nil {
			return UploadStatus{}, err
		}
	}
	u.recordSet()
	u.key = key
	r.uploads[rec.ID] = u
	r.unrecorded[reg]++
	return UploadStatus{ID: rec.ID}, nil
}

// startEphemeralLocked is startUpload's work in an ephemeral registry
// (Options.Ephemeral): the session is known to this process alone, by an
// id of ephemeralIDs. r.mu must be held.
func (r *Registry) startEphemeralLocked(reg RegistryID, repo string, now time.Time) (UploadStatus, error) {
	s := &r.ephemeralStart
	s.reg, s.repo = reg, repo
	err := r.kv.View(s.fn)
	gen := s.gen
	s.reg, s.repo, s.gen = RegistryID{}, "", 0
	if err != nil {
		return UploadStatus{}, err
	}
	id := r.ephemeralIDs.next(now)
	for r.uploads[id] != nil {
		// Its count went round within the second, and its random half
		// met a session still open: another draw.
		id = r.ephemeralIDs.next(now)
	}
	u := new(openUpload)
	u.rec = uploadRecord{ID: id, Registry: reg, Repository: repo, StartedAt: now, RepoGen: gen}
	u.recordSet()
	r.uploads[id] = u
	r.unrecorded[reg]++
	return UploadStatus{ID: id}, nil
}

// ephemeralStart is startEphemeralLocked's read (under r.mu), its function
// bound once: a closure per session's start would be an allocation.
type ephemeralStart struct {
	r    *Registry
	reg  RegistryID
	repo string
	gen  uint64
	fn   func(kv.Tx) error // read
}

func (s *ephemeralStart) read(tx kv.Tx) (err error) {
	if s.gen, err = repoState(tx, s.reg, s.repo); err != nil {
		return err
	}
	return s.r.checkUploadLimit(tx, s.reg)
}

// repoState reads, for a request into an upload session, that the
// repository exists (getRepo) and its generation (repoGen), with one key.
func repoState(tx kv.Tx, reg RegistryID, repo string) (uint64, error) {
	key := repoKey(reg, repo)
	if tx.Get(bRepos, key) == nil {
		return 0, repoNotFound(reg, repo)
	}
	if v := tx.Get(bUploadGens, key); len(v) == 8 {
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, nil
}

// rebuildLocked makes a session not open in this process known again (after
// a restart, or one ended here and forgotten): from its record, or from its
// id alone, as a session of no bytes, if the id checks for this repository,
// its session did not end (tombstone), and it is younger than
// sessionHorizon. r.mu must be held.
func (r *Registry) rebuildLocked(reg RegistryID, repo, id string, gen uint64) (*openUpload, error) {
	var rec uploadRecord
	found, ended := false, false
	var rerr error
	err := r.kv.View(func(tx kv.Tx) error {
		found, rerr = getJSON(tx, bUploads, []byte(id), &rec)
		ended = idEnded(tx, id)
		return nil
	})
	if err != nil || rerr != nil || ended {
		return nil, uploadNotFound(id)
	}
	if found {
		u := newOpenUpload(rec)
		u.recorded, u.stored = true, !rec.Inline
		// An inline session's file, if any, holds a chunk its record never
		// acknowledged (release writes the file, then the record).
		u.stale = rec.Inline
		return u, nil
	}
	key, err := r.uploadKeyLocked()
	if err != nil {
		return nil, err
	}
	start, ok := openID(r.idMACer, id, reg, repo, gen)
	if !ok || r.clock.Now().Sub(start) >= sessionHorizon {
		return nil, uploadNotFound(id)
	}
	u := newOpenUpload(uploadRecord{ID: id, Registry: reg, Repository: repo, StartedAt: start, RepoGen: gen})
	u.key, u.stale = key, true
	return u, nil
}

// recordSession writes the record of a session the caller holds, when it
// has none yet: its bytes are about to outlive the request. It fails with
// KindUploadNotFound when the session was ended meanwhile.
func (r *Registry) recordSession(u *openUpload) error {
	if u.recorded {
		return nil
	}
	rec, key := u.rec, u.key
	err := r.kv.Batch(func(tx kv.Tx) error { // changes only tx
		if err := unrecordedLiveTx(tx, &rec, key); err != nil {
			return err
		}
		return putUploadRecord(tx, rec)
	})
	if err != nil {
		return err
	}
	r.markRecorded(u)
	return nil
}

// markRecorded notes that a session's record is stored: it no longer counts
// among its registry's sessions without one.
func (r *Registry) markRecorded(u *openUpload) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u.recorded = true
	if r.uploads[u.rec.ID] == u {
		r.unrecorded[u.rec.Registry]--
	}
}

// unrecordedLiveTx checks, in tx, that a session without a record was not
// ended: its id still checks (the secret it was sealed with is the store's,
// its repository not deleted since) and it has no tombstone.
func unrecordedLiveTx(tx kv.Tx, rec *uploadRecord, key []byte) error {
	if err := unrecordedUnended(tx, rec, key); err != nil {
		return err
	}
	gen, err := repoState(tx, rec.Registry, rec.Repository)
	if err != nil {
		return err
	}
	return unrecordedOfGen(rec, gen)
}

// unrecordedUnended is unrecordedLiveTx's first check: no tombstone, and
// the store's secret is still the one the id was sealed with.
func unrecordedUnended(tx kv.Tx, rec *uploadRecord, key []byte) error {
	if idEnded(tx, rec.ID) || !bytes.Equal(tx.Get(bUploadKey, uploadKeyName), key) {
		return uploadNotFound(rec.ID)
	}
	return nil
}

// unrecordedOfGen is unrecordedLiveTx's last check, for a caller that read
// the repository's state (repoState) already.
func unrecordedOfGen(rec *uploadRecord, gen uint64) error {
	if gen != rec.RepoGen {
		return uploadNotFound(rec.ID)
	}
	return nil
}

// endSessionTx ends a session in the transaction that completes it: its
// record goes, unless it was ended meanwhile, and a tombstone keeps its id
// unknown (uploadids.go). gen is the repository's generation, which the
// caller read in tx (repoState).
func endSessionTx(tx kv.Tx, rec *uploadRecord, recorded bool, key []byte, gen uint64) error {
	if recorded {
		if tx.Get(bUploads, []byte(rec.ID)) == nil {
			return uploadNotFound(rec.ID) // ended meanwhile
		}
		if err := deleteUploadRecord(tx, rec.Registry, rec.ID); err != nil {
			return err
		}
		if err := tx.Delete(bUploadBytes, []byte(rec.ID)); err != nil {
			return err
		}
		return endIDTx(tx, rec.ID, rec.StartedAt)
	}
	// unrecordedLiveTx's checks, the tombstone's last: it is found with the
	// place its id's end goes (endUnendedIDTx), and nothing is written
	// unless every check passed.
	if !bytes.Equal(tx.Get(bUploadKey, uploadKeyName), key) {
		return uploadNotFound(rec.ID)
	}
	if err := unrecordedOfGen(rec, gen); err != nil {
		return err
	}
	ended, err := endUnendedIDTx(tx, rec.ID, rec.StartedAt)
	if err == nil && !ended {
		err = uploadNotFound(rec.ID) // ended meanwhile
	}
	return err
}

// readRepoState is repoState in a read transaction of its own.
func (r *Registry) readRepoState(reg RegistryID, repo string) (uint64, error) {
	s := repoStateReads.Get().(*repoStateRead)
	s.reg, s.repo = reg, repo
	err := r.kv.View(s.fn)
	gen := s.gen
	s.reg, s.repo, s.gen = RegistryID{}, "", 0
	repoStateReads.Put(s)
	return gen, err
}

// repoStateRead is one readRepoState, with the transaction's function bound
// once: pooled, so that every request into a session (each chunk, each
// completion) does not allocate a closure and its result for the read.
type repoStateRead struct {
	reg  RegistryID
	repo string
	gen  uint64
	fn   func(kv.Tx) error // read
}

var repoStateReads = sync.Pool{New: func() any {
	s := new(repoStateRead)
	s.fn = s.read
	return s
}}

func (s *repoStateRead) read(tx kv.Tx) (err error) {
	s.gen, err = repoState(tx, s.reg, s.repo)
	return err
}

// acquire returns the session locked, with its bytes reopened for one
// request; the caller must release it. A missing repository is reported as
// such, before the session is looked for.
func (r *Registry) acquire(reg RegistryID, repo, id string) (*openUpload, blob.Upload, error) {
	if r.ephemeral {
		return r.acquireEphemeral(reg, repo, id)
	}
	gen, err := r.readRepoState(reg, repo)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	u, ok := r.uploads[id]
	if !ok {
		var err error
		if u, err = r.rebuildLocked(reg, repo, id, gen); err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
		r.uploads[id] = u
		if !u.recorded {
			r.unrecorded[reg]++
		}
	}
	r.mu.Unlock()
	u.mu.Lock()
	if u.done || u.ended.Load() || u.rec.Registry != reg || u.rec.Repository != repo || !u.recorded && u.rec.RepoGen != gen {
		u.mu.Unlock()
		return nil, nil, uploadNotFound(id)
	}
	// Reopened under the session's own lock, not the registry's: resuming
	// may have to reread an upload, and no other session should wait for it.
	if u.stale {
		// A chunk cut off by a crash before the session's record said so.
		r.discardUpload(id)
		u.stale = false
	}
	up, err := r.reopen(u)
	if err != nil {
		u.mu.Unlock()
		return nil, nil, err
	}
	return u, up, nil
}

// reopen opens a session's bytes for one request: from its record when
// they are inline, from the blob store when they are stored there, and
// otherwise as a new upload (a session of no bytes has none in the blob
// store: StartUpload, release). u.mu must be held.
func (r *Registry) reopen(u *openUpload) (blob.Upload, error) {
	var up blob.Upload
	var err error
	switch {
	case u.rec.Inline:
		var mf *memFirst
		if mf, err = r.inlineUpload(u); err == nil {
			up, u.inlineSize = mf, mf.Size()
		}
	case u.stored:
		up, err = r.blobs.ResumeUpload(u.rec.ID)
	}
	if !u.rec.Inline && (!u.stored || errors.Is(err, blob.ErrNotFound)) {
		up, err = r.newUpload(u.rec.ID)
	}
	return up, err
}

// acquireEphemeral is acquire in an ephemeral registry, where every session
// was started by this process and is held in r.uploads until it ends (its
// repository's deletion, or a Reset, ends it there too). The repository is
// read only when the session is not found: a missing one is reported as
// such, as acquire does. A commit still checks, in its transaction, that
// the repository is there, of the session's generation, and the session
// not ended.
func (r *Registry) acquireEphemeral(reg RegistryID, repo, id string) (*openUpload, blob.Upload, error) {
	r.mu.Lock()
	u := r.uploads[id]
	r.mu.Unlock()
	if u != nil {
		u.mu.Lock()
		if !u.done && !u.ended.Load() && u.rec.Registry == reg && u.rec.Repository == repo {
			// Its bytes, if any, are in the blob store (release keeps them
			// there: nothing is inline, nothing stale).
			up, err := r.reopen(u)
			if err != nil {
				u.mu.Unlock()
				return nil, nil, err
			}
			return u, up, nil
		}
		u.mu.Unlock()
	}
	if _, err := r.readRepoState(reg, repo); err != nil {
		return nil, nil, err
	}
	return nil, nil, uploadNotFound(id)
}

// release ends a request's hold on a session: its bytes are closed, and kept
// for the next request, unless the request ended the session — or it was
// ended from outside meanwhile, and they go now. It returns Close's error:
// a chunk is on disk, and may be acknowledged, only once Close has synced it
// and recorded the upload's size (blob.FS); after a failed Close the next
// request may find the upload as it was before the chunk.
func (r *Registry) release(u *openUpload, up blob.Upload) error {
	var err error
	switch {
	case u.done:
	case u.ended.Load():
		up.Cancel()
		u.done = true
	case up.Size() == 0:
		// Nothing to keep: the next request starts the upload again.
		if err = up.Cancel(); err != nil {
			r.log.Warn("dropping an empty upload between requests", "upload", u.rec.ID, "err", err)
		}
		u.stored = err != nil
	case u.rec.Inline && up.Size() == u.inlineSize && !spilled(up):
		// Unchanged (a status request, a refused chunk).
	case inMemory(up) && !r.ephemeral:
		// Small: its bytes go in the commit that records the session.
		if err = r.keepInline(u, up.(*memFirst)); IsKind(err, KindUploadNotFound) {
			up.Cancel() // ended meanwhile
			u.done = true
		} else if err != nil {
			r.log.Warn("recording an upload session and its bytes", "upload", u.rec.ID, "err", err)
		}
	default:
		// Bytes that outlive the request need the session's record, so that
		// after a restart they are found, not taken for a crash's leftovers
		// (an ephemeral registry has no restart: its sessions are held here).
		if !r.ephemeral {
			if err = r.recordSession(u); IsKind(err, KindUploadNotFound) {
				up.Cancel() // ended meanwhile
				u.done = true
				break
			} else if err != nil {
				r.log.Warn("recording an upload session", "upload", u.rec.ID, "err", err)
			}
		}
		if cerr := up.Close(); cerr != nil {
			r.log.Warn("closing an upload between requests", "upload", u.rec.ID, "err", cerr)
			err = cerr
		}
		u.stored = true
		if u.rec.Inline && err == nil {
			// Outgrown: its bytes are in the file now, which the record says
			// after the file is synced (Close).
			if err = r.dropInline(u); err != nil {
				r.log.Warn("recording an upload session's move to a file", "upload", u.rec.ID, "err", err)
				u.stale = true // the next request starts from the inline bytes
			}
		}
	}
	u.mu.Unlock()
	return err
}

// forget drops a finished session.
func (r *Registry) forget(u *openUpload) {
	u.done = true
	r.mu.Lock()
	r.dropLocked(u)
	r.mu.Unlock()
}

// dropLocked removes a session from those open in this process, freeing its
// slot if it had no record. r.mu must be held.
func (r *Registry) dropLocked(u *openUpload) {
	if r.uploads[u.rec.ID] != u {
		return
	}
	delete(r.uploads, u.rec.ID)
	if !u.recorded {
		if r.unrecorded[u.rec.Registry]--; r.unrecorded[u.rec.Registry] <= 0 {
			delete(r.unrecorded, u.rec.Registry)
		}
	}
}

// finish ends a session: forget it, delete its record, and leave a
// tombstone that keeps its id unknown.
func (r *Registry) finish(u *openUpload) {
	r.forget(u)
	if r.ephemeral {
		return // no record, and no later process to keep its id from
	}
	rec := u.rec
	r.kv.Batch(func(tx kv.Tx) error {
		if err := deleteUploadRecord(tx, rec.Registry, rec.ID); err != nil {
			return err
		}
		if err := tx.Delete(bUploadBytes, []byte(rec.ID)); err != nil {
			return err
		}
		return endIDTx(tx, rec.ID, rec.StartedAt)
	})
}

// GetUpload reports an upload's progress.
func (r *Registry) GetUpload(ctx context.Context, reg RegistryID, repo, id string) (UploadStatus, error) {
	u, up, err := r.acquire(reg, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	defer r.release(u, up)
	return UploadStatus{ID: id, Size: up.Size()}, nil
}

// lastActive is when the session last saw bytes, as far as its record knows.
func (rec *uploadRecord) lastActive() time.Time {
	if rec.WrittenAt.After(rec.StartedAt) {
		return rec.WrittenAt
	}
	return rec.StartedAt
}

// WriteUpload appends body to the upload. offset, when not negative, is where
// the client says the chunk starts; it must be where the upload ends.
func (r *Registry) WriteUpload(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader) (UploadStatus, error) {
	return r.writeUpload(ctx, reg, repo, id, offset, body, false)
}

// WriteLayerPart appends one part sent with ECR's UploadLayerPart: a chunk
// whose size counts for CompleteLayerUpload's rule on part sizes.
func (r *Registry) WriteLayerPart(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader) (UploadStatus, error) {
	return r.writeUpload(ctx, reg, repo, id, offset, body, true)
}

func (r *Registry) writeUpload(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader, layerPart bool) (_ UploadStatus, err error) {
	u, up, err := r.acquire(reg, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	defer func() {
		// A chunk that is not on disk is not acknowledged.
		if cerr := r.release(u, up); err == nil {
			err = cerr
		}
	}()
	err = r.appendChunk(u, up, offset, body, layerPart)
	return UploadStatus{ID: id, Size: up.Size()}, err
}

// appendChunk writes one chunk into a session the caller holds, checking
// where it starts, and notes the activity (and, for a layer part, its size)
// in the session's record when that matters. A chunk is taken whole or not
// at all: one whose body fails part way (the client went away, sent a
// malformed body, or one longer or shorter than it declared: ChunkOfLength)
// leaves the session as it was, so that its size is what was acknowledged.
func (r *Registry) appendChunk(u *openUpload, up blob.Upload, offset int64, body io.Reader, layerPart bool) error {
	if offset >= 0 && offset != up.Size() {
		return Errorf(KindRangeInvalid, "chunk starts at %d but the upload has %d bytes", offset, up.Size())
	}
	if body == nil {
		return nil
	}
	before := up.Size()
	u.watch(body)
	u.body = sessionBody{&u.ended, body}
	_, err := io.Copy(up, &u.body)
	u.body = sessionBody{}
	u.unwatch()
	if u.ended.Load() {
		// Its bytes go when the request lets go of the session (release).
		return Errorf(KindUploadNotFound, "The upload with id '%s' was ended (its repository deleted, or the registry reset) while this chunk was being received", u.rec.ID)
	}
	if err != nil {
		if terr := up.Truncate(before); terr != nil {
			// What the session holds is no longer known: it cannot go on.
			r.log.Error("dropping a refused chunk", "upload", u.rec.ID, "err", terr, "chunk", err)
			up.Cancel()
			r.finish(u)
			return terr
		}
		return err
	}
	written := up.Size() - before
	if written == 0 {
		return nil
	}
	now := r.clock.Now()
	u.writtenAt.Store(now.UnixNano())
	rec := &u.rec
	if layerPart {
		// A part that starts where the recorded one did is that part sent
		// again: a crash cut it off after its record was written (the
		// upload keeps only what was acknowledged). Any other came before.
		again := rec.LastLayerPart > 0 && rec.LastLayerPartAt == before
		if !again && rec.LastLayerPart > 0 && rec.LastLayerPart < MinLayerPartSize {
			rec.SmallLayerPart = true // the previous part was not the last after all
		}
		rec.LastLayerPart, rec.LastLayerPartAt = written, before
	}
	if !u.recorded || inMemory(up) {
		// Kept in memory: the record, written when the bytes outlive this
		// request (release: keepInline), carries it.
		rec.WrittenAt = now
		return nil
	}
	if layerPart || now.Sub(rec.lastActive()) >= activityPrecision {
		// Bookkeeping for the janitor and the part rule, kept across a
		// restart; the chunk itself is already safe in the upload, so a
		// failure here is logged, not the client's.
		rec.WrittenAt = now
		uerr := r.kv.Batch(func(tx kv.Tx) error { // changes only tx
			if tx.Get(bUploads, []byte(rec.ID)) == nil {
				return nil // ended meanwhile (reset, repository deleted)
			}
			return putJSON(tx, bUploads, []byte(rec.ID), *rec)
		})
		if uerr != nil {
			r.log.Warn("recording an upload's progress", "upload", rec.ID, "err", uerr)
		}
	}
	return nil
}

// ChunkOfLength is the body of a chunk whose sender declared its length (a
// Content-Range): reading it fails with KindRangeInvalid as soon as the body
// proves longer, or ends shorter, than n bytes — a check nothing else makes
// for a body sent with Transfer-Encoding: chunked. The chunk is then refused
// whole (see WriteUpload).
func ChunkOfLength(body io.Reader, n int64) io.Reader {
	return &declaredChunk{body: body, n: n, left: n}
}

type declaredChunk struct {
	body    io.Reader
	n, left int64
}

// Interrupt passes an interruption on to the body (see Interrupter).
func (c *declaredChunk) Interrupt() {
	if i, ok := c.body.(Interrupter); ok {
		i.Interrupt()
	}
}

func (c *declaredChunk) Read(p []byte) (int, error) {
	if c.left == 0 {
		// All the declared bytes are in: the body must end here.
		var one [1]byte
		for {
			n, err := c.body.Read(one[:])
			if n > 0 {
				return 0, Errorf(KindRangeInvalid, "the chunk is longer than the %d bytes its range declares", c.n)
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.body.Read(p)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		return n, Errorf(KindRangeInvalid, "the chunk has %d bytes, not the %d its range declares", c.n-c.left, c.n)
	}
	return n, err
}

// CompleteUpload appends an optional last chunk, verifies the digest and
// makes the blob reachable from the repository.
func (r *Registry) CompleteUpload(ctx context.Context, reg RegistryID, repo, id string, offset int64, body io.Reader, expected digest.Digest) (Descriptor, error) {
	u, up, err := r.acquire(reg, repo, id)
	if err != nil {
		return Descriptor{}, err
	}
	defer r.release(u, up)
	if err := r.appendChunk(u, up, offset, body, false); err != nil {
		return Descriptor{}, err
	}
	return r.completeHeld(ctx, reg, repo, u, up, expected)
}

// CompleteLayerUpload completes an upload made with ECR's layer API: as
// CompleteUpload, but every part sent with UploadLayerPart except the last
// must have been at least MinLayerPartSize (ECR's
// LayerPartTooSmallException). A refused completion leaves the session as
// it was.
func (r *Registry) CompleteLayerUpload(ctx context.Context, reg RegistryID, repo, id string, expected digest.Digest) (Descriptor, error) {
	u, up, err := r.acquire(reg, repo, id)
	if err != nil {
		return Descriptor{}, err
	}
	defer r.release(u, up)
	if u.rec.SmallLayerPart {
		return Descriptor{}, Errorf(KindLayerPartTooSmall, "Layer parts must be at least 5 MiB in size, except the last: the upload with id '%s' has a smaller part", id)
	}
	return r.completeHeld(ctx, reg, repo, u, up, expected)
}

// completeHeld commits a session the caller holds.
func (r *Registry) completeHeld(ctx context.Context, reg RegistryID, repo string, u *openUpload, up blob.Upload, expected digest.Digest) (Descriptor, error) {
	desc, consumed, err := r.commit(ctx, reg, repo, up, expected, u)
	switch {
	case err != nil && consumed:
		r.finish(u) // its bytes left the session: it cannot go on
	case IsKind(err, KindRepositoryNotFound):
		up.Cancel() // the repository was deleted, and its upload goes with it
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
func (r *Registry) commit(ctx context.Context, reg RegistryID, repo string, up blob.Upload, expected digest.Digest, session *openUpload) (_ Descriptor, consumed bool, _ error) {
	ev := r.event(ctx, EventUploadComplete, reg, repo)
	ev.Digest, ev.Size = expected, up.Size()
	if err := r.bus.check(ctx, ev); err != nil {
		return Descriptor{}, false, err
	}
	// The repository may be gone since the upload started: refuse before a
	// large blob's bytes are moved into the store for nothing. (The commit
	// below checks again, and drops what it stored; for a small blob that
	// costs less than looking twice on every push.)
	if up.Size() >= recheckRepoSize {
		if err := r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, repo, nil) }); err != nil {
			return Descriptor{}, false, err
		}
	}
	var orphan []digest.Digest
	defer func() { r.dropBlobs(orphan) }() // runs after the shared lock is released
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	// A small blob is stored by the commit that links it (blob.Inline): one
	// grouped sync makes bytes and link durable, where a file costs two more.
	var (
		inline []byte // the blob's bytes, when they go inline
		size   int64
		err    error
	)
	tb, _ := r.blobs.(txBlobs)
	if tb != nil {
		var ok bool
		inline, ok, err = tb.Take(up, expected) // leaves up as it was
		if !ok {
			inline = nil
		}
		size = int64(len(inline))
	}
	consumed = false
	if inline == nil && err == nil {
		size, err = up.Commit(expected)
		consumed = true
	}
	if errors.Is(err, blob.ErrDigestMismatch) {
		return Descriptor{}, false, Errorf(KindDigestInvalid, "the uploaded content does not match digest %s", expected)
	}
	if err != nil {
		return Descriptor{}, consumed, err
	}
	var (
		srec     *uploadRecord // the held session's: not a copy, which fn's closure would allocate
		recorded bool
		key      []byte
	)
	if session != nil {
		srec, recorded, key = &session.rec, session.recorded, session.key
	}
	// A Batch: completions in parallel share a commit (fn changes only tx).
	err = r.kv.Batch(func(tx kv.Tx) error {
		gen, err := repoState(tx, reg, repo)
		if err != nil {
			return err
		}
		if inline != nil {
			if err := tb.Put(tx, expected, inline); err != nil {
				return err
			}
		}
		switch {
		case session == nil:
		case r.ephemeral:
			// Ended meanwhile from outside: a Reset (which ends every
			// session it finds before a commit can follow it) or the
			// repository's deletion (a new generation).
			if session.ended.Load() || gen != srec.RepoGen {
				return uploadNotFound(srec.ID)
			}
		default:
			if err := endSessionTx(tx, srec, recorded, key, gen); err != nil {
				return err
			}
		}
		return linkBlob(tx, reg, repo, expected, size)
	})
	if inline != nil {
		// Its bytes are in the store now, or (err) not stored at all: the
		// upload's copy goes either way, as a committed upload's would.
		up.Cancel()
	}
	if err != nil {
		if inline == nil {
			orphan = []digest.Digest{expected} // stored but not linked
		}
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
	// A one-request upload has no session record; the janitor must know
	// its bytes are in flight, not left behind by a crash.
	id := r.newID()
	r.mu.Lock()
	r.inFlight[id] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.inFlight, id)
		r.mu.Unlock()
	}()
	up, err := r.newUpload(id)
	if err != nil {
		return Descriptor{}, err
	}
	if _, err := io.Copy(up, body); err != nil {
		up.Cancel()
		return Descriptor{}, err
	}
	desc, consumed, err := r.commit(ctx, reg, repo, up, expected, nil)
	if err != nil && !consumed {
		up.Cancel()
	}
	return desc, err
}

// CancelUpload discards an upload session.
func (r *Registry) CancelUpload(ctx context.Context, reg RegistryID, repo, id string) error {
	u, up, err := r.acquire(reg, repo, id)
	if err != nil {
		return err
	}
	defer r.release(u, up)
	err = up.Cancel()
	r.finish(u) // a failed Cancel leaves bytes for the janitor, not a session
	return err
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
		if tx.Get(bBlobRefs, blobRefKey(d, reg, from)) != nil {
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
	v := tx.Get(bBlobRefs, blobRefKey(d, reg, from))
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
		if json.Unmarshal(v, &rec) == nil && rec.Registry == reg && rec.Repository == repo {
			ids = append(ids, string(k))
		}
		return true
	})
	for _, id := range ids {
		if err := deleteUploadRecord(tx, reg, id); err != nil {
			return nil, err
		}
		if err := tx.Delete(bUploadBytes, []byte(id)); err != nil {
			return nil, err
		}
	}
	return ids, err
}

// endSessions ends upload sessions whose records are gone (Reset, a deleted
// repository) and discards their bytes, without waiting for a request that
// holds one: that request's chunk is interrupted (appendChunk), it fails,
// and the bytes go as soon as it lets go. A client that stalls mid-chunk
// thus delays neither a reset nor a repository's deletion.
func (r *Registry) endSessions(ids []string) {
	for _, id := range ids {
		r.mu.Lock()
		u, open := r.uploads[id]
		if open {
			r.dropLocked(u)
		}
		r.mu.Unlock()
		if !open {
			r.discardUpload(id)
			continue
		}
		u.end()
		if !u.mu.TryLock() {
			// Busy: whether or not the request saw the end before it lets
			// go, the bytes are discarded once it has.
			go r.discardEnded(u)
			continue
		}
		r.discardEndedLocked(u)
	}
}

// discardEnded discards an ended session's bytes once no request holds it.
func (r *Registry) discardEnded(u *openUpload) {
	u.mu.Lock()
	r.discardEndedLocked(u)
}

// discardEndedLocked discards the bytes of an ended session the caller has
// locked (unless a request already did), and unlocks it.
func (r *Registry) discardEndedLocked(u *openUpload) {
	done := u.done
	u.done = true
	u.mu.Unlock()
	if !done {
		r.discardUpload(u.rec.ID)
	}
}

// discardUpload discards the bytes of an upload no session holds.
func (r *Registry) discardUpload(id string) {
	if up, err := r.blobs.ResumeUpload(id); err == nil {
		up.Cancel()
	}
}

// ExpireUploads discards upload sessions that have seen no bytes for maxAge
// on the registry's clock (their records say when, to within
// activityPrecision), records whose bytes never got a file, and upload bytes
// that belong to no session and no request in flight (left by a crash during
// a one-request upload). It returns how many it discarded.
func (r *Registry) ExpireUploads(ctx context.Context, maxAge time.Duration) (int, error) {
	cutoff := r.clock.Now().Add(-maxAge)
	records := map[string]uploadRecord{}
	err := r.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bUploads, nil, nil, func(k, v []byte) bool {
			var rec uploadRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				r.log.Error("an upload record cannot be read", "err", corrupt("upload", k, err))
				return true
			}
			records[string(k)] = rec
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	files := map[string]bool{}
	if err := r.blobs.ListUploads(func(id string) error { files[id] = true; return nil }); err != nil {
		return 0, err
	}
	// Sessions without a record (uploadids.go) are known to this process
	// only; their ids and repositories do not change.
	unrecorded := map[string]uploadRecord{}
	r.mu.Lock()
	for id, u := range r.uploads {
		if _, rec := records[id]; !rec && !u.recorded {
			unrecorded[id] = uploadRecord{ID: id, Registry: u.rec.Registry, Repository: u.rec.Repository}
		}
	}
	r.mu.Unlock()
	n := 0
	for id, rec := range unrecorded {
		r.mu.Lock()
		u, open := r.uploads[id]
		r.mu.Unlock()
		if !open || !u.lastWrite().Before(cutoff) {
			continue
		}
		err = r.CancelUpload(ctx, rec.Registry, rec.Repository, id)
		if IsKind(err, KindUploadNotFound) || IsKind(err, KindRepositoryNotFound) {
			continue // ended meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	if err := r.purgeTombstones(); err != nil {
		return n, err
	}
	for id, rec := range records {
		last := rec.lastActive()
		r.mu.Lock()
		if u, open := r.uploads[id]; open {
			last = u.lastWrite()
		}
		r.mu.Unlock()
		if !last.Before(cutoff) {
			continue
		}
		// Whether or not it has bytes (files[id]): a session of none has no
		// upload in the blob store, and may be open in this process.
		err = r.CancelUpload(ctx, rec.Registry, rec.Repository, id)
		if IsKind(err, KindUploadNotFound) || IsKind(err, KindRepositoryNotFound) {
			// Ended meanwhile, or its repository is gone: its record goes if still there.
			err = r.kv.Update(func(tx kv.Tx) error { return deleteUploadRecord(tx, rec.Registry, id) })
		}
		if err != nil {
			return n, err
		}
		n++
	}
	for id := range files {
		r.mu.Lock()
		_, open := r.uploads[id]
		busy := open || r.inFlight[id]
		r.mu.Unlock()
		if _, session := records[id]; session || busy {
			continue
		}
		if up, err := r.blobs.ResumeUpload(id); err == nil {
			if err := up.Cancel(); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// purgeTombstones deletes the tombstones of ids older than sessionHorizon,
// and the runs of ended nonces whose newest session is: no such id
// rebuilds a session anyway.
func (r *Registry) purgeTombstones() error {
	now := r.clock.Now()
	var old, runs [][]byte
	err := r.kv.View(func(tx kv.Tx) error {
		tx.Scan(bUploadEnds, nil, nil, func(k, v []byte) bool {
			if now.Sub(tombstoneStart(v)) >= sessionHorizon {
				old = append(old, bytes.Clone(k))
			}
			return true
		})
		return tx.Scan(bUploadEnded, nil, nil, func(k, v []byte) bool {
			if len(v) != 12 || now.Sub(tombstoneStart(v[4:])) >= sessionHorizon {
				runs = append(runs, bytes.Clone(k))
			}
			return true
		})
	})
	if err != nil || len(old)+len(runs) == 0 {
		return err
	}
	return r.kv.Update(func(tx kv.Tx) error {
		for _, k := range old {
			if err := tx.Delete(bUploadEnds, k); err != nil {
				return err
			}
		}
		for _, k := range runs {
			if err := tx.Delete(bUploadEnded, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// sessionsOf lists the sessions of a repository open in this process, for
// its deletion to end (those with a record are found by theirs).
func (r *Registry) sessionsOf(reg RegistryID, repo string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, u := range r.uploads {
		if u.rec.Registry == reg && u.rec.Repository == repo {
			ids = append(ids, id)
		}
	}
	return ids
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
	if tb, ok := r.blobs.(txBlobs); ok {
		deleted, err := tb.DeleteMany(orphans, nil) // the GC lock is held: nothing links them meanwhile
		return len(deleted), err
	}
	for _, d := range orphans {
		if err := r.blobs.Delete(d); err != nil {
			return 0, err
		}
	}
	return len(orphans), nil
}

// repoBlobs lists the blobs repo links. Links are keyed by digest first
// (blob-refs), which is what every push, pull and reference check asks;
// a repository's own list is asked only when it is deleted, and costs a
// scan of every link of every repository.
func repoBlobs(tx kv.Tx, reg RegistryID, repo string) []digest.Digest {
	suffix := appendRepoKey([]byte(sep), reg, repo)
	var out []digest.Digest
	tx.Scan(bBlobRefs, nil, nil, func(k, v []byte) bool {
		if i := bytes.IndexByte(k, sep[0]); i >= 0 && bytes.Equal(k[i:], suffix) {
			out = append(out, digest.Digest(k[:i]))
		}
		return true
	})
	return out
}

package core

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

// Upstream fetches what the registry does not hold from where it came from:
// the pull-through cache implements it. Core consults it inside a manifest
// GET or HEAD (and so BatchGetImage) and a blob GET that miss, and on a
// manifest GET or HEAD by tag that hits, to re-check the tag.
//
// Its errors say what became of the miss: KindManifestNotFound,
// KindBlobNotFound or KindRepositoryNotFound when it has nothing for that
// name (the caller's miss stands); another error (KindUpstreamUnavailable for
// a failing upstream, carrying the upstream's reason) is what the caller sees
// instead of the miss.
//
// Concurrent misses of the same manifest reference, or of the same blob,
// make one call; but a KindDenied error is the caller's own (the Upstream
// may check the caller's permission to import), so a caller that shared
// another's denied call asks again for itself. Reads made for the pull-through cache itself (ctx marked
// with CausePullThrough, e.g. an Upstream reading another registry berth
// holds) are never offered to it, so that no rule can send a miss back to
// itself.
type Upstream interface {
	// FetchManifest imports manifest ref of repo through core's trusted
	// writes (ImportManifest, or CopyImage from a registry berth holds);
	// core then reads it again.
	FetchManifest(ctx context.Context, reg RegistryID, repo, ref string) error
	// FetchBlob opens blob d of repo where it came from. Core stores the
	// bytes while it serves them to the caller who missed: the digest is
	// verified as they stream, and the blob becomes reachable only once it
	// is complete and verified. A zero UpstreamBlob (no Body) says the
	// Upstream imported the blob itself, and core reads it again.
	FetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (UpstreamBlob, error)
	// RefreshDue reports whether tag, which the registry holds and which
	// points at held, should be checked upstream again now. When it is,
	// core calls FetchManifest for the tag; if that fails, the caller is
	// served what the registry holds.
	RefreshDue(ctx context.Context, reg RegistryID, repo, tag string, held digest.Digest) bool
}

// UpstreamCoverage is an Upstream that can say, cheaply, whether it could
// have anything for a repository at all (for the pull-through cache: whether
// any of the registry's rules covers it). Core asks it before offering a
// miss or a tag refresh, so that a registry without rules pays nothing for
// the feature: no de-duplication key, no shared call, no error made only to
// be dropped. Covers must not answer false for a repository whose misses
// the Upstream would fill; when unsure (e.g. its rules cannot be read) it
// answers true and lets the full call report why.
type UpstreamCoverage interface {
	Covers(ctx context.Context, reg RegistryID, repo string) bool
}

// UpstreamBlob is a blob an Upstream found: its bytes, for core to store.
type UpstreamBlob struct {
	Body io.ReadCloser // nil: the Upstream imported the blob itself
	Size int64         // the size the upstream declares; < 0 when it did not say
}

// missing reports whether err is a miss an Upstream may fill.
func missing(err error) bool {
	switch KindOf(err) {
	case KindManifestNotFound, KindBlobNotFound, KindRepositoryNotFound:
		return true
	}
	return false
}

// consults reports whether a read of repo made with ctx may be offered to
// the Upstream: there is one, the read is not the pull-through cache's own,
// and the Upstream could cover repo.
func (r *Registry) consults(ctx context.Context, reg RegistryID, repo string) bool {
	if r.upstream == nil || CauseFrom(ctx) == CausePullThrough {
		return false
	}
	if c, ok := r.upstream.(UpstreamCoverage); ok {
		return c.Covers(ctx, reg, repo)
	}
	return true
}

// upstreamContext is what an Upstream and the imports it causes run with:
// the caller's values without its cancellation (others may be waiting on the
// same fetch), and the pull-through cache's Cause.
func upstreamContext(ctx context.Context) context.Context {
	return WithCause(context.WithoutCancel(ctx), CausePullThrough)
}

// offerMiss hands a manifest miss to the Upstream, once for all concurrent
// callers with the same key. It returns true when the upstream imported
// something to read again, false when the miss stands, or an upstream
// failure to report instead of the miss.
// The caller has checked that the Upstream is consulted.
func (r *Registry) offerMiss(ctx context.Context, key string, fetch func(ctx context.Context) error) (bool, error) {
	_, err, shared := r.fetches.Do(key, func() (any, error) { return nil, fetch(upstreamContext(ctx)) })
	if shared && IsKind(err, KindDenied) {
		err = fetch(upstreamContext(ctx))
	}
	switch {
	case err == nil:
		return true, nil
	case missing(err):
		return false, nil
	}
	return false, err
}

// refetchTag asks the Upstream again for a tag the registry holds, which the
// Upstream says to re-check (refreshTag): no look at the store first, which
// holds the tag by definition.
func (r *Registry) refetchTag(ctx context.Context, reg RegistryID, repo, tag string) (bool, error) {
	return r.offerManifest(ctx, reg, repo, tag, false)
}

// fetchMissingManifest offers a manifest miss to the Upstream. The miss was
// read before the caller got here: a fetch of the same reference may have
// ended in between, the manifest imported and the fetch gone from the
// fetches in progress, so the fetch looks again before asking the upstream
// a second time (as fetchBlob does).
func (r *Registry) fetchMissingManifest(ctx context.Context, reg RegistryID, repo, ref string) (bool, error) {
	return r.offerManifest(ctx, reg, repo, ref, true)
}

// offerManifest offers ref to the Upstream (see offerMiss); with miss, the
// fetch first looks whether ref is stored by now.
func (r *Registry) offerManifest(ctx context.Context, reg RegistryID, repo, ref string, miss bool) (bool, error) {
	if !r.consults(ctx, reg, repo) {
		return false, nil
	}
	return r.offerMiss(ctx, "manifest"+sep+regPrefix(reg)+repo+sep+ref, func(ctx context.Context) error {
		if miss {
			if _, _, err := r.readStoredManifest(reg, repo, ref, false); err == nil {
				return nil // stored since the caller's miss: read it again
			}
		}
		return r.upstream.FetchManifest(ctx, reg, repo, ref)
	})
}

// refreshTag re-checks a tag the registry holds upstream when the Upstream
// says it is due, and returns the image the tag points at afterwards. An
// upstream that fails, or no longer has the tag, leaves the held image
// served: a cache outlives its upstream's outages.
func (r *Registry) refreshTag(ctx context.Context, reg RegistryID, repo, tag string, img Image, body []byte, withBody bool) (Image, []byte) {
	if !r.consults(ctx, reg, repo) || !r.upstream.RefreshDue(ctx, reg, repo, tag, img.Digest) {
		return img, body
	}
	if _, err := r.refetchTag(ctx, reg, repo, tag); err != nil {
		r.log.Warn("re-checking a tag upstream failed; serving the image held", "registry", reg, "repository", repo, "tag", tag, "err", err)
		return img, body
	}
	if now, nbody, err := r.readStoredManifest(reg, repo, tag, withBody); err == nil {
		return now, nbody
	}
	return img, body
}

// blobFetch is one blob being fetched from the Upstream; concurrent misses
// of the same blob wait for it.
type blobFetch struct {
	done chan struct{}
	err  error // set before done is closed: nil once stored, else why not
}

// fetchBlob offers a blob miss to the Upstream. The first caller to miss
// starts the fetch; with serve, it gets a reader that streams the upstream's
// bytes to it while they are stored (see blobImport), otherwise the fetch
// completes before fetchBlob returns. Callers that miss while a fetch is in
// progress wait for it to end. again says the blob is (or is being) stored,
// to be read again by those who got no reader; false with a nil error means
// the miss stands.
func (r *Registry) fetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest, serve bool) (_ blob.Reader, again bool, _ error) {
	if !r.consults(ctx, reg, repo) {
		return nil, false, nil
	}
	key := regPrefix(reg) + repo + sep + string(d)
	r.mu.Lock()
	for f := r.blobFetches[key]; f != nil; f = r.blobFetches[key] {
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if !IsKind(f.err, KindDenied) {
			return outcome(f.err)
		}
		r.mu.Lock() // another caller was denied: this one asks for itself
	}
	f := &blobFetch{done: make(chan struct{})}
	if r.blobFetches == nil {
		r.blobFetches = map[string]*blobFetch{}
	}
	r.blobFetches[key] = f
	r.mu.Unlock()
	end := func(err error) {
		r.mu.Lock()
		delete(r.blobFetches, key)
		r.mu.Unlock()
		f.err = err
		close(f.done)
	}

	// The caller's miss was read before it got here: a fetch of the same
	// blob may have ended in between, the blob stored and the fetch gone
	// from blobFetches. Look again before asking the upstream a second time.
	if _, err := r.StatBlob(ctx, reg, repo, d); err == nil {
		end(nil)
		return nil, true, nil
	}
	uctx := upstreamContext(ctx)
	src, err := r.upstream.FetchBlob(uctx, reg, repo, d)
	if err != nil || src.Body == nil {
		end(err)
		return outcome(err)
	}
	im, err := r.startImport(uctx, reg, repo, d, src, end)
	if err != nil {
		return outcome(err)
	}
	if !serve || src.Size < 0 {
		// Nobody to stream to, or no size to announce: store it all first.
		return outcome(im.wait())
	}
	return im, true, nil
}

// outcome turns how a blob fetch ended into fetchBlob's answer.
func outcome(err error) (blob.Reader, bool, error) {
	switch {
	case err == nil:
		return nil, true, nil
	case missing(err):
		return nil, false, nil
	}
	return nil, false, err
}

// blobImport stores an upstream's blob while it is read: the tee of a first
// pull. A pump goroutine takes the upstream's bytes a MiB at a time, writes
// each chunk into an upload (hashed as it is written) and only then hands it
// to the reader, so that storing and serving overlap. The last chunk is
// handed on only once the bytes are known to match the digest, so a client
// never receives the whole of a blob that was refused; the commit (sync,
// rename, link) follows, and the blob becomes reachable once it is done.
//
// The reader may seek: forward, the bytes in between are skipped (they are
// stored all the same); backward, it waits for the import to end and goes
// on from the stored blob. A reader that closes early (a client that went
// away, a HEAD) leaves the pump running: the import completes for the
// callers waiting on it, or fails for them.
type blobImport struct {
	r    *Registry
	ctx  context.Context
	reg  RegistryID
	repo string
	d    digest.Digest
	size int64 // declared by the upstream; < 0 unknown

	// The pump's own.
	body io.ReadCloser
	up   blob.Upload
	id   string // the upload's, in flight for the janitor
	n    int64  // bytes taken from the upstream into up
	end  func(error)

	chunks   chan importChunk // pump → reader; closed when the pump stops sending
	gone     chan struct{}    // closed when the reader stops reading
	goneOnce sync.Once
	done     chan struct{} // closed when the import has ended
	err      error         // its outcome, set before done is closed

	// The reader's own.
	pos    int64  // the position asked for
	off    int64  // the offset of cur[0]
	cur    []byte // what is left of the chunk being read
	curBuf *[chunkSize]byte
	rerr   error       // the failure the reader met
	stored blob.Reader // once the reader went back, the stored blob
}

// importChunk is a piece of the blob, stored, on its way to the reader; or
// the failure that ended the import.
type importChunk struct {
	buf *[chunkSize]byte
	n   int
	err error
}

// chunkSize is how much the pump takes from the upstream at once; a few
// chunks in flight bound what an import holds in memory.
const chunkSize = 1 << 20

var chunkBuffers = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// startImport opens the upload the blob streams into, creating the
// repository for the pull-through cache first, and starts the pump. On
// failure it ends the fetch.
func (r *Registry) startImport(ctx context.Context, reg RegistryID, repo string, d digest.Digest, src UpstreamBlob, end func(error)) (*blobImport, error) {
	fail := func(err error) (*blobImport, error) {
		src.Body.Close()
		end(err)
		return nil, err
	}
	if err := r.ensureRepository(ctx, reg, repo, CreateForPullThrough); err != nil {
		return fail(err)
	}
	id := r.newID()
	r.mu.Lock()
	r.inFlight[id] = true
	r.mu.Unlock()
	up, err := r.blobs.CreateUpload(id)
	if err != nil {
		r.mu.Lock()
		delete(r.inFlight, id)
		r.mu.Unlock()
		return fail(err)
	}
	t := &blobImport{r: r, ctx: ctx, reg: reg, repo: repo, d: d, size: src.Size, body: src.Body, up: up, id: id, end: end,
		chunks: make(chan importChunk, 4), gone: make(chan struct{}), done: make(chan struct{})}
	go t.pump()
	return t, nil
}

// pump takes the blob from the upstream into the upload, handing each
// chunk on to the reader (while there is one), and ends the import.
func (t *blobImport) pump() {
	defer close(t.chunks)
	for {
		want := int64(chunkSize)
		if t.size >= 0 {
			want = min(want, t.size-t.n)
		}
		buf := chunkBuffers.Get().(*[chunkSize]byte)
		k, rerr := readSome(t.body, buf[:want])
		if k > 0 {
			if _, err := t.up.Write(buf[:k]); err != nil {
				chunkBuffers.Put(buf)
				t.fail(err, false)
				return
			}
			t.n += int64(k)
		}
		last := t.size >= 0 && t.n == t.size || t.size < 0 && rerr == io.EOF
		switch {
		case last:
		case rerr == io.EOF:
			chunkBuffers.Put(buf)
			t.fail(t.upstreamFailed(io.ErrUnexpectedEOF), false)
			return
		case rerr != nil:
			chunkBuffers.Put(buf)
			t.fail(t.upstreamFailed(rerr), false)
			return
		default:
			t.send(importChunk{buf: buf, n: k})
			continue
		}
		// The last chunk: handed on only once the content is known good.
		if su, ok := t.up.(blob.SHA256Upload); ok && t.d.Algorithm() == digest.SHA256 {
			if su.SHA256() != t.d {
				chunkBuffers.Put(buf)
				t.fail(t.mismatch(), false)
				return
			}
			t.send(importChunk{buf: buf, n: k})
			t.commit()
			return
		}
		if err := t.commit(); err != nil {
			chunkBuffers.Put(buf)
			t.send(importChunk{err: err})
			return
		}
		t.send(importChunk{buf: buf, n: k})
		return
	}
}

// readSome reads what the body has now, up to len(p) (at least a byte,
// unless p is empty or the body ends or fails): the reader gets bytes as
// soon as they arrive, in pieces as large as the upstream's pace allows.
func readSome(body io.Reader, p []byte) (int, error) {
	for len(p) > 0 {
		k, err := body.Read(p)
		if k > 0 || err != nil {
			return k, err
		}
	}
	return 0, nil
}

// send hands a chunk to the reader, unless it has gone.
func (t *blobImport) send(c importChunk) {
	select {
	case t.chunks <- c:
	case <-t.gone:
		if c.buf != nil {
			chunkBuffers.Put(c.buf)
		}
	}
}

// fail ends the import with err, and tells the reader.
func (t *blobImport) fail(err error, consumed bool) {
	t.finish(err, consumed)
	t.send(importChunk{err: err})
}

// commit verifies and stores the upload and links the blob: the import's end.
func (t *blobImport) commit() error {
	_, consumed, err := t.r.commit(t.ctx, t.reg, t.repo, t.up, t.d, nil)
	if errors.Is(err, &Error{Kind: KindDigestInvalid}) {
		err = t.mismatch()
	}
	t.finish(err, consumed)
	return err
}

// finish ends the import with its outcome.
func (t *blobImport) finish(err error, consumed bool) {
	t.body.Close()
	if err != nil && !consumed {
		t.up.Cancel()
	}
	t.r.mu.Lock()
	delete(t.r.inFlight, t.id)
	t.r.mu.Unlock()
	t.err = err
	close(t.done)
	t.end(err)
}

func (t *blobImport) mismatch() error {
	return Errorf(KindUpstreamUnavailable, "the upstream registry sent content that does not match digest %s", t.d)
}

// upstreamFailed words a failure to read the upstream's body.
func (t *blobImport) upstreamFailed(err error) error {
	if IsKind(err, KindUpstreamUnavailable) {
		return err
	}
	return &Error{Kind: KindUpstreamUnavailable, Message: "reading blob " + string(t.d) + " from the upstream registry failed: " + err.Error(), Err: err}
}

// detach stops handing chunks to the reader; the pump goes on.
func (t *blobImport) detach() { t.goneOnce.Do(func() { close(t.gone) }) }

// wait lets the import run to its end without a reader, and returns its outcome.
func (t *blobImport) wait() error {
	t.detach()
	<-t.done
	return t.err
}

// Read serves the blob from its position.
func (t *blobImport) Read(p []byte) (int, error) {
	if t.stored != nil {
		return t.stored.Read(p)
	}
	if t.rerr != nil {
		return 0, t.rerr
	}
	if t.pos >= t.size {
		// The end, once the blob is stored (an HTTP response stops at the
		// size and does not wait for it).
		if err := t.wait(); err != nil {
			t.rerr = err
			return 0, err
		}
		return 0, io.EOF
	}
	if t.pos < t.off {
		// Behind what was handed on: from the stored blob, once stored.
		if err := t.openStored(); err != nil {
			t.rerr = err
			return 0, err
		}
		return t.stored.Read(p)
	}
	for t.pos >= t.off+int64(len(t.cur)) { // the next chunk, skipping what is not asked for
		t.release()
		c, ok := <-t.chunks
		switch {
		case !ok:
			t.rerr = errors.New("core: the upstream import stopped")
			return 0, t.rerr
		case c.err != nil:
			t.rerr = c.err
			return 0, c.err
		}
		t.off += int64(len(t.cur))
		t.cur, t.curBuf = c.buf[:c.n], c.buf
	}
	k := copy(p, t.cur[t.pos-t.off:])
	t.pos += int64(k)
	return k, nil
}

// release gives the chunk read back to the pool.
func (t *blobImport) release() {
	if t.curBuf != nil {
		chunkBuffers.Put(t.curBuf)
		t.curBuf = nil
	}
}

// openStored waits for the import to end and goes on from the stored blob.
func (t *blobImport) openStored() error {
	if err := t.wait(); err != nil {
		return err
	}
	rd, err := t.r.blobs.Open(t.d)
	if err != nil {
		return err
	}
	if _, err := rd.Seek(t.pos, io.SeekStart); err != nil {
		rd.Close()
		return err
	}
	t.release()
	t.cur, t.stored = nil, rd
	return nil
}

// Seek moves the reader's position; the pump goes on regardless.
func (t *blobImport) Seek(offset int64, whence int) (int64, error) {
	if t.stored != nil {
		pos, err := t.stored.Seek(offset, whence)
		t.pos = pos
		return pos, err
	}
	switch whence {
	case io.SeekCurrent:
		offset += t.pos
	case io.SeekEnd:
		offset += t.size
	}
	if offset < 0 {
		return t.pos, errors.New("core: seek before the start of a blob")
	}
	t.pos = offset
	return t.pos, nil
}

// Size is the size the upstream declared.
func (t *blobImport) Size() int64 { return t.size }

// Close ends the reader; the import goes on without it.
func (t *blobImport) Close() error {
	t.detach()
	t.release()
	t.cur = nil
	if t.stored != nil {
		return t.stored.Close()
	}
	return nil
}

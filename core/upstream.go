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
// make one call. Reads made for the pull-through cache itself (ctx marked
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

// consults reports whether a read made with ctx may be offered to the
// Upstream: there is one, and the read is not the pull-through cache's own.
func (r *Registry) consults(ctx context.Context) bool {
	return r.upstream != nil && CauseFrom(ctx) != CausePullThrough
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
func (r *Registry) offerMiss(ctx context.Context, key string, fetch func(ctx context.Context) error) (bool, error) {
	if !r.consults(ctx) {
		return false, nil
	}
	_, err, _ := r.fetches.Do(key, func() (any, error) { return nil, fetch(upstreamContext(ctx)) })
	switch {
	case err == nil:
		return true, nil
	case missing(err):
		return false, nil
	}
	return false, err
}

func (r *Registry) fetchManifest(ctx context.Context, reg RegistryID, repo, ref string) (bool, error) {
	return r.offerMiss(ctx, "manifest"+sep+regPrefix(reg)+repo+sep+ref, func(ctx context.Context) error {
		return r.upstream.FetchManifest(ctx, reg, repo, ref)
	})
}

// refreshTag re-checks a tag the registry holds upstream when the Upstream
// says it is due, and returns the image the tag points at afterwards. An
// upstream that fails, or no longer has the tag, leaves the held image
// served: a cache outlives its upstream's outages.
func (r *Registry) refreshTag(ctx context.Context, reg RegistryID, repo, tag string, img Image, body []byte, withBody bool) (Image, []byte) {
	if !r.consults(ctx) || !r.upstream.RefreshDue(ctx, reg, repo, tag, img.Digest) {
		return img, body
	}
	if _, err := r.fetchManifest(ctx, reg, repo, tag); err != nil {
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
	if !r.consults(ctx) {
		return nil, false, nil
	}
	key := regPrefix(reg) + repo + sep + string(d)
	r.mu.Lock()
	if f := r.blobFetches[key]; f != nil {
		r.mu.Unlock()
		select {
		case <-f.done:
			return outcome(f.err)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
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
		return outcome(im.drain())
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
// pull. Every byte taken from the upstream goes into an upload (hashed as it
// is written) before the reader sees it, and the upload is committed —
// digest verified, blob linked into the repository — before the reader gets
// the last bytes, so a client never receives the whole of a blob that was
// not stored. The reader may seek: forward, the bytes in between are taken
// into the upload; backward, the rest is stored first and the reader goes on
// from the stored blob. Close before the end (a client that went away, a
// HEAD) hands the rest to a goroutine: the import completes for the callers
// waiting on it, or fails for them. A blobImport is used by one goroutine at
// a time: its reader's, then the drain's.
type blobImport struct {
	r    *Registry
	ctx  context.Context
	reg  RegistryID
	repo string
	d    digest.Digest
	body io.ReadCloser
	up   blob.Upload
	id   string // the upload's, in flight for the janitor
	size int64  // declared by the upstream; < 0 unknown
	n    int64  // bytes taken from the upstream into up
	end  func(error)
	done bool
	err  error // why the import failed

	pos    int64       // the reader's position
	stored blob.Reader // once the reader went back, the stored blob
}

// startImport opens the upload the blob streams into, creating the
// repository for the pull-through cache first. On failure it ends the fetch.
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
	return &blobImport{r: r, ctx: ctx, reg: reg, repo: repo, d: d, body: src.Body, up: up, id: id, size: src.Size, end: end}, nil
}

// finish ends the import once, with its outcome.
func (t *blobImport) finish(err error, consumed bool) error {
	if t.done {
		return t.err
	}
	t.done, t.err = true, err
	t.body.Close()
	if err != nil && !consumed {
		t.up.Cancel()
	}
	t.r.mu.Lock()
	delete(t.r.inFlight, t.id)
	t.r.mu.Unlock()
	t.end(err)
	return err
}

// upstreamFailed words a failure to read the upstream's body.
func (t *blobImport) upstreamFailed(err error) error {
	if IsKind(err, KindUpstreamUnavailable) {
		return err
	}
	return &Error{Kind: KindUpstreamUnavailable, Message: "reading blob " + string(t.d) + " from the upstream registry failed: " + err.Error(), Err: err}
}

// take copies p's worth of upstream bytes into the upload and p.
func (t *blobImport) take(p []byte) (int, error) {
	if t.size >= 0 && int64(len(p)) > t.size-t.n {
		p = p[:t.size-t.n]
	}
	k, rerr := t.body.Read(p)
	if k > 0 {
		if _, err := t.up.Write(p[:k]); err != nil {
			return 0, t.finish(err, false)
		}
		t.n += int64(k)
	}
	switch {
	case t.size >= 0 && t.n == t.size, rerr == io.EOF && t.size < 0:
		// The last bytes are handed on only once they are stored.
		if err := t.complete(); err != nil {
			return 0, err
		}
		return k, nil
	case rerr == io.EOF:
		return 0, t.finish(t.upstreamFailed(io.ErrUnexpectedEOF), false)
	case rerr != nil:
		return 0, t.finish(t.upstreamFailed(rerr), false)
	}
	return k, nil
}

// complete commits the upload: the digest is verified and the blob linked.
func (t *blobImport) complete() error {
	_, consumed, err := t.r.commit(t.ctx, t.reg, t.repo, t.up, t.d, "")
	if errors.Is(err, &Error{Kind: KindDigestInvalid}) {
		err = Errorf(KindUpstreamUnavailable, "the upstream registry sent content that does not match digest %s", t.d)
	}
	return t.finish(err, consumed)
}

// drainBuffers hold drain's buffers: a MiB per read keeps syscalls few.
var drainBuffers = sync.Pool{New: func() any { return new([1 << 20]byte) }}

// drain takes the rest of the blob from the upstream and completes the import.
func (t *blobImport) drain() error {
	if t.done {
		return t.err
	}
	bp := drainBuffers.Get().(*[1 << 20]byte)
	defer drainBuffers.Put(bp)
	for !t.done {
		if _, err := t.take(bp[:]); err != nil {
			return err
		}
	}
	return t.err
}

// Read serves the blob from its position, taking from the upstream as needed.
func (t *blobImport) Read(p []byte) (int, error) {
	if t.stored != nil {
		return t.stored.Read(p)
	}
	if t.pos >= t.size {
		return 0, io.EOF
	}
	if t.pos < t.n || t.done {
		// Behind what was taken (or taken whole): from the stored blob.
		if err := t.openStored(); err != nil {
			return 0, err
		}
		return t.stored.Read(p)
	}
	for t.pos > t.n { // skip ahead, storing what is skipped
		if _, err := t.take(p[:min(int64(len(p)), t.pos-t.n)]); err != nil {
			return 0, err
		}
	}
	k, err := t.take(p)
	t.pos += int64(k)
	return k, err
}

// openStored completes the import and goes on reading from the stored blob.
func (t *blobImport) openStored() error {
	if err := t.drain(); err != nil {
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
	t.stored = rd
	return nil
}

// Seek moves the reader's position; bytes move only when it reads.
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

// Close ends the reader; an import not complete yet goes on without it.
func (t *blobImport) Close() error {
	if t.stored != nil {
		t.stored.Close()
	}
	if !t.done {
		go func() {
			if err := t.drain(); err != nil {
				t.r.log.Warn("importing a blob from the upstream registry failed", "registry", t.reg, "repository", t.repo, "digest", t.d, "err", err)
			}
		}()
	}
	return nil
}

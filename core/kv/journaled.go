package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/berth-dev/berth/internal/fsync"
)

// How Bolt's commits are made durable (etcd runs bbolt behind a WAL for the
// same reason): a durable bbolt commit writes its dirty pages (≈ 12 random
// 16 KiB pages for a small blob), syncs, writes a meta page and syncs again.
// Instead, a write transaction's Puts and Deletes are appended to the
// journal as one record and synced, and only then is bbolt's transaction
// committed, without syncing (DB.NoSync): one sequential write and one sync
// per commit. Appending before bbolt commits means no reader ever sees a
// write that is not yet durable.
//
// Unsynced bbolt commits may reach the disk in any order, torn. Recovery
// therefore returns the file to the last checkpoint's state C and replays
// the journal's records on top, which holds because:
//   - C is on disk whole: a checkpoint syncs bbolt (DB.Sync) before its
//     header, holding C's meta pages, is synced into the journal.
//   - No page live in C is written until the next checkpoint: a read
//     transaction (the pin) is held open at C, and bbolt's freelist
//     releases a page freed after C only if it was also allocated after C
//     (ReleasePendingPages: release(minid-1) and releaseRange between
//     readers), so what is written is never one of C's pages; C's meta
//     pages themselves are written back by recovery.
//   - Records are replayed in order on C, each a deterministic list of
//     Puts and Deletes, so replay rebuilds exactly the acknowledged state;
//     a record is synced before its commit is answered and before the next
//     is written, so only the last can be torn, and replay stops at the
//     first invalid one.
// A checkpoint runs inside a write transaction (nothing commits meanwhile):
// when the journal or the file has grown by checkpointEvery since the last,
// or when the pin had to be let go (see guardRemap). Its cost is one sync of
// the pages written since the last checkpoint and one of the header.
//
// Close checkpoints and removes the journal, so a data dir left by a clean
// stop is a plain bbolt file, which older binaries (without the journal)
// open as before. After a crash the bbolt file alone may be torn or lack
// acknowledged writes that only the journal holds: an older binary opening
// such a data dir would see that; this binary (or newer) recovers it.

// checkpointEvery bounds the journal's records and the file's growth
// between checkpoints (pages written since C cannot be reused before the
// next checkpoint). Measured on the bench machine (load 6–8) with the
// durable small-blob (8 clients) and index-push workloads: a checkpoint
// takes 4–25 ms; with 16 MiB one came per ≈ 2,000 commits and the file
// grew to 33 MB (main's: 2–4 MB), with 4 MiB the file stayed at 17 MB (one
// 16 MiB bbolt allocation) at the same speed within the noise.
const checkpointEvery = 4 << 20

// recoverMetas, when the journal at jpath holds a valid checkpoint header,
// writes its meta pages back into the bbolt file at path: bbolt then opens
// at the checkpoint's state, whose pages are intact, and the records are
// replayed by startJournal. It returns the journal, or nil if there is none.
func recoverMetas(path, jpath string) (*journal, error) {
	j, err := openJournal(jpath, 0, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	metas, ok, err := j.readHeader()
	if err != nil || !ok {
		// No valid header: the journal was created and the crash came
		// before its first checkpoint was synced; the file was synced by
		// then (plain bbolt or a checkpoint of an older epoch never
		// existed), so there is nothing to recover.
		return j, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		j.close()
		return nil, fmt.Errorf("kv: the journal %s has no database file to recover: %w", jpath, err)
	}
	defer f.Close()
	// Another process using the file holds its lock: never write into a
	// live database.
	if err := lockFile(f, 2*time.Second); err != nil {
		j.close()
		return nil, err
	}
	have := make([]byte, len(metas))
	if _, err := f.ReadAt(have, 0); err == nil && bytes.Equal(have, metas) {
		return j, nil // a clean stop, or recovered already
	}
	// Meta pages only move forward: after a crash the file holds one of
	// txid C or later, or only torn ones. Valid ones all older than C mean
	// the file was replaced (an older copy restored): C's meta pages would
	// point into pages it does not have.
	ps := len(metas) / 2
	if cTx, ok := metaTxid(newestMeta(metas, ps)); ok {
		t0, ok0 := metaTxid(have[:ps])
		t1, ok1 := metaTxid(have[ps:])
		if (ok0 || ok1) && (!ok0 || t0 < cTx) && (!ok1 || t1 < cTx) {
			j.close()
			return nil, fmt.Errorf("kv: %s is older than the checkpoint its journal %s holds (replaced by an older copy?): "+
				"move the journal away to open the file as it is", path, jpath)
		}
	}
	if _, err := f.WriteAt(metas, 0); err != nil {
		j.close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		j.close()
		return nil, err
	}
	return j, nil
}

// startJournal replays j's records (if any) onto the checkpoint state bbolt
// opened at, and checkpoints: from then on commits go through the journal.
func (b *Bolt) startJournal(path, jpath string, j *journal, initialMmap int64) error {
	info := b.db.Info()
	created := j == nil
	if created {
		var err error
		if j, err = openJournal(jpath, os.O_CREATE, info.PageSize); err != nil {
			return err
		}
	}
	b.j, b.jpath, b.initialMmap = j, jpath, initialMmap
	if j.pageSize == 0 {
		j.pageSize = info.PageSize // a journal whose header never got written
	}
	if j.pageSize != info.PageSize {
		return fmt.Errorf("kv: journal %s has pages of %d bytes, the database %d", jpath, j.pageSize, info.PageSize)
	}
	if !created && j.epoch > 0 {
		// Replay commits unsynced: the checkpoint below syncs it before its
		// header; a crash before that replays again, from the same C.
		err := b.db.Update(func(tx *bolt.Tx) error {
			return j.records(func(p []byte) error { return replayRecord(boltTx{tx: tx}, p) })
		})
		if err != nil {
			return fmt.Errorf("kv: replaying journal %s: %w", jpath, err)
		}
	}
	if created {
		// The journal's name must survive a crash with its header.
		if err := fsync.Dir(filepath.Dir(jpath)); err != nil {
			return err
		}
	}
	var err error
	if b.dbf, err = os.Open(path); err != nil {
		return err
	}
	// bbolt's remap (see guardRemap) needs AllocSize below the map's size.
	if int64(b.db.AllocSize) >= initialMmap {
		b.db.AllocSize = int(initialMmap / 2)
	}
	return b.db.View(func(tx *bolt.Tx) error { return b.checkpoint(tx.Size()) })
}

// errNoCommit rolls back a write transaction that only checkpointed.
var errNoCommit = errors.New("kv: nothing to commit")

// closeJournal checkpoints, lets the pin go and removes the journal: the
// bbolt file alone is the store (and what an older binary expects).
func (b *Bolt) closeJournal() error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		if err := b.checkpoint(tx.Size()); err != nil {
			return err
		}
		return errNoCommit
	})
	if errors.Is(err, errNoCommit) {
		err = nil
	}
	if b.pin != nil {
		b.pin.Rollback()
		b.pin = nil
	}
	if err == nil && b.jerr == nil {
		// Checkpointed: no record is needed. Removed only then, so that a
		// failed checkpoint leaves the journal for recovery.
		if err = os.Remove(b.jpath); err == nil {
			err = fsync.Dir(filepath.Dir(b.jpath))
		}
	}
	b.j.close()
	b.dbf.Close()
	b.j = nil
	return err
}

// checkpoint makes the last commit's state the journal's new base C: sync
// bbolt, store its meta pages as the journal's new header (synced), then
// pin C and let the old pin go. It runs with no commit in progress: inside
// a write transaction (before it commits) or at open. size is bbolt's high
// water mark in bytes.
func (b *Bolt) checkpoint(size int64) error {
	b.needCheckpoint = true // until it is done: a failure leaves it due
	if err := b.db.Sync(); err != nil {
		return err
	}
	metas := make([]byte, 2*b.j.pageSize)
	if _, err := b.dbf.ReadAt(metas, 0); err != nil {
		return err
	}
	if err := b.j.checkpoint(metas); err != nil {
		b.jerr = err
		return err
	}
	// Opened after the header is synced and before the old pin goes: the
	// pages of the state the header names stay untouched from now on.
	pin, err := b.db.Begin(false)
	if err != nil {
		return err
	}
	if b.pin != nil {
		b.pin.Rollback()
	}
	b.pin = pin
	b.cpSize = size
	b.needCheckpoint = false
	b.checkpoints.Add(1)
	return nil
}

// write runs run in one write transaction and makes it durable: through
// the journal, or (without one) by bbolt's synced commit. began is whether a
// transaction began (else the store is closed).
func (b *Bolt) write(run func(Tx) error) (began bool, err error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.j == nil {
		err = b.db.Update(func(tx *bolt.Tx) error { began = true; b.commits.Add(1); return run(boltTx{tx: tx}) })
		return began, err
	}
	for retried := false; ; retried = true {
		at := int64(-1)
		err = b.db.Update(func(tx *bolt.Tx) error {
			began = true
			b.commits.Add(1)
			if b.jerr != nil {
				return b.jerr
			}
			if b.needCheckpoint || b.j.size() >= b.cpEvery || tx.Size()-b.cpSize >= b.cpEvery {
				if err := b.checkpoint(tx.Size()); err != nil {
					return err
				}
			}
			if retried {
				b.unpin()
			}
			b.ws.reset()
			if err := run(boltTx{tx: tx, ws: &b.ws}); err != nil {
				return err
			}
			b.guardRemap(tx.Size())
			if b.ws.ops == 0 {
				// Nothing to replay: bbolt commits a meta page (and maybe a
				// bucket a failed Put created), which a crash may lose with
				// no write lost — an empty bucket reads as an absent one.
				return nil
			}
			a, err := b.j.append(&b.ws)
			if err != nil {
				// The record may be on disk, whole or not; it was not
				// acknowledged, but no write can follow it safely.
				b.jerr = fmt.Errorf("kv: journal append: %w", err)
				return b.jerr
			}
			at = a
			return nil
		})
		if at < 0 || err == nil {
			return began, err
		}
		// The record is durable but bbolt's commit failed: withdraw it, or
		// recovery would apply a write reported as failed.
		if uerr := b.j.unappend(at); uerr != nil {
			b.jerr = fmt.Errorf("kv: journal: withdrawing a failed commit's record: %w", uerr)
			return began, err
		}
		if !errors.Is(err, berrors.ErrMaxSizeReached) || retried {
			return began, err
		}
		// guardRemap's estimate fell short and MaxSize stopped a remap:
		// run again with the pin let go, so the commit may remap.
	}
}

// guardRemap keeps a commit from remapping bbolt's file while the pin is
// open: remapping takes bbolt's mmap lock, which waits for every read
// transaction to end, the pin included — a deadlock. bbolt remaps when an
// allocation reaches the map's size; its map is never smaller than
// bboltMapSize(max(initial map, high water)) (it maps the file whole and
// only in sizes of that function). So while the commit's pages surely fit
// below that, bbolt's MaxSize is set just above it: an allocation that
// would remap then fails with ErrMaxSizeReached instead (allocate checks
// MaxSize before it remaps), and write runs the group again unpinned. When
// the commit might not fit, the pin is let go first: the commit (already
// begun pinned, so it reuses none of C's pages) may remap, and the next
// write transaction checkpoints before it commits.
func (b *Bolt) guardRemap(size int64) {
	mapped := bboltMapSize(max(b.initialMmap, size))
	// A generous bound on what a commit allocates: its data twice over and
	// a path of pages per write.
	need := size + 2*int64(len(b.ws.buf)) + int64(b.ws.ops+4)*8*int64(b.j.pageSize)
	if b.pin == nil || need >= mapped-int64(b.db.AllocSize) {
		b.unpin()
		return
	}
	b.db.MaxSize = int(mapped) + b.db.AllocSize - 1
}

// unpin lets the pin go: until the next checkpoint, commits may remap.
func (b *Bolt) unpin() {
	if b.pin != nil {
		b.pin.Rollback()
		b.pin = nil
	}
	b.db.MaxSize = 0
	b.needCheckpoint = true
}

// bboltMapSize is bbolt's mmapSize (db.go): sizes double from 32 KiB to
// 1 GiB, then grow by 1 GiB.
func bboltMapSize(size int64) int64 {
	for i := uint(15); i <= 30; i++ {
		if size <= 1<<i {
			return 1 << i
		}
	}
	const step = 1 << 30
	return (size + step - 1) / step * step
}

// metaTxid reads a bbolt meta page's txid, if the page is a valid meta page
// (bbolt's layout: after the 16-byte page header, magic, version, page
// size, flags, root bucket, freelist, high water, txid, then an FNV-64a
// checksum of what precedes it).
func metaTxid(page []byte) (uint64, bool) {
	le := binary.LittleEndian
	if len(page) < 80 || le.Uint32(page[16:]) != 0xED0CDAED || le.Uint32(page[20:]) != 2 {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(page[16:72])
	if h.Sum64() != le.Uint64(page[72:]) {
		return 0, false
	}
	return le.Uint64(page[64:]), true
}

// newestMeta returns the meta page (of the two) with the higher txid.
func newestMeta(metas []byte, ps int) []byte {
	t0, _ := metaTxid(metas[:ps])
	t1, _ := metaTxid(metas[ps : 2*ps])
	if t1 > t0 {
		return metas[ps : 2*ps]
	}
	return metas[:ps]
}

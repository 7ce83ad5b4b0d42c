package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/fsync"
)

// How Bolt's commits are made durable without writing bbolt per commit: a
// write transaction runs over the published overlay and bbolt (reading
// the overlay first), and writes into the next overlay. Its commit appends
// its Puts and Deletes to the journal as one record, syncs it, and only
// then publishes the next overlay: one sequential write and one sync per
// commit (per group, with Batch), and no reader ever sees a write that is
// not yet durable.
//
// bbolt gets the writes later, many commits at once (apply, off the
// request path): once the overlay holds applyBytes, or after applyQuiet
// without commits. An apply is an ordinary synced bbolt commit of the
// overlay's writes that also stores the last journal sequence it holds
// (appliedKey), so bbolt's file is always a whole state (bbolt's own
// crash safety: pages synced, then the meta page) of a known sequence.
// Then the applied writes leave the overlay: a new one, of the writes
// made since, is published, based on the apply's state (overlay.without).
// When that leaves it empty, the journal restarts (journal.restart).
//
// Recovery: open bbolt as it is, read its applied sequence A, replay the
// journal's records after A (in one synced commit) and restart the
// journal. A torn last record is ignored (it was never acknowledged); a
// record whose checksum holds but cannot be decoded stops the open; a
// bbolt file older than the journal's first record expects (A+1 before
// the header's firstSeq: a restored copy) is refused.
//
// Close applies what is left and removes the journal, so a data dir left
// by a clean stop is a plain bbolt file, which older binaries (without the
// journal) open as before; it holds one bucket more than they know of
// (appliedBucket), which they never read. After a crash the bbolt file
// alone lacks what only the journal holds: an older binary opening such a
// data dir would see that; this binary (or newer) recovers it.

// applyBytes is how much the overlay holds (about: keys, values and their
// cost) before it is applied without waiting for a quiet moment; at four
// times as much, a writer applies it itself before it returns (back
// pressure: an overlay the applier cannot keep up with stays bounded).
const applyBytes = 4 << 20

// applyQuiet is how long the overlay waits for a quiet moment (no commit
// for that long) before it is applied; it is applied after applyMaxAge of
// commits anyway.
const (
	applyQuiet  = 20 * time.Millisecond
	applyMaxAge = time.Second
)

// journalRestartAt: a journal that has grown past it restarts at the end
// of the next apply even when writes came in meanwhile (they are applied
// too, holding writers back while that second commit runs).
const journalRestartAt = 16 << 20

// appliedBucket and appliedKey hold, in bbolt, the last journal sequence
// it holds (8 bytes, big-endian).
const (
	appliedBucket = "\x00berth.kv"
	appliedKey    = "applied"
)

// appliedMark is an apply's commit: bbolt's transaction id of the state it
// made, and the last journal sequence that state holds.
type appliedMark struct {
	txid, seq uint64
}

// recover replays the journal's records after bbolt's applied sequence
// and restarts the journal (creating it if need be); it publishes the
// first overlay, empty.
func (b *Bolt) recover() error {
	var applied uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte(appliedBucket)); bk != nil {
			if v := bk.Get([]byte(appliedKey)); len(v) == 8 {
				applied = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	j, err := openJournal(b.jpath, 0)
	created := errors.Is(err, os.ErrNotExist)
	if created {
		j, err = openJournal(b.jpath, os.O_CREATE)
	}
	if err != nil {
		return err
	}
	b.j = j
	last := applied
	if !created {
		ok, err := j.readHeader()
		if err != nil {
			return fmt.Errorf("kv: %s: %w", b.jpath, err)
		}
		if ok {
			// No valid header: the journal was created and the crash came
			// before its first header was synced; no record follows it.
			if applied+1 < j.firstSeq {
				return fmt.Errorf("kv: %s holds writes up to journal record %d, but its journal %s begins at %d "+
					"(the file was replaced by an older copy?): move the journal away to open the file as it is",
					filepath.Base(b.jpath[:len(b.jpath)-len(".journal")]), applied, b.jpath, j.firstSeq)
			}
			err = b.db.Update(func(tx *bolt.Tx) error {
				err := j.records(func(seq uint64, p []byte) error {
					if seq <= applied {
						return nil
					}
					last = seq
					return replayRecord(boltWriter{tx}, p)
				})
				if err != nil || last == applied {
					return err
				}
				return putApplied(tx, last)
			})
			if err != nil {
				return fmt.Errorf("kv: replaying journal %s: %w", b.jpath, err)
			}
			last = max(last, j.seq)
		}
	}
	if err := j.restart(last + 1); err != nil {
		return err
	}
	if created {
		// The journal's name must survive a crash with its header.
		if err := fsync.Dir(filepath.Dir(b.jpath)); err != nil {
			return err
		}
	}
	var txid uint64
	b.db.View(func(tx *bolt.Tx) error { txid = uint64(tx.ID()); return nil })
	b.ov.Store(&overlay{version: last, base: last, baseTxid: txid, vbase: last + 1})
	return nil
}

func putApplied(tx *bolt.Tx, seq uint64) error {
	bk, err := tx.CreateBucketIfNotExists([]byte(appliedBucket))
	if err != nil {
		return err
	}
	return bk.Put([]byte(appliedKey), binary.BigEndian.AppendUint64(nil, seq))
}

// boltWriter replays a record's writes into a bbolt write transaction.
type boltWriter struct{ tx *bolt.Tx }

func (w boltWriter) Put(bucket string, key, value []byte) error {
	bk, err := w.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	return bk.Put(key, value)
}

func (w boltWriter) Delete(bucket string, key []byte) error {
	if bk := w.tx.Bucket([]byte(bucket)); bk != nil {
		return bk.Delete(key)
	}
	return nil
}

// write runs run in a write transaction over the published overlay and
// commits it: its record appended to the journal and synced, then its
// overlay published. began is whether a transaction began (else the store
// is closed).
func (b *Bolt) write(run func(Tx) error) (began bool, err error) {
	var size int
	began, size, err = b.commit(run)
	if size >= 4*b.applyBytes {
		// The applier falls behind: apply here, before answering.
		b.amu.Lock()
		if aerr := b.apply(false); aerr != nil && err == nil {
			err = aerr
		}
		b.amu.Unlock()
	}
	return began, err
}

func (b *Bolt) commit(run func(Tx) error) (began bool, size int, err error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.closed {
		return false, 0, ErrClosed
	}
	// The published overlay cannot change while wmu is held.
	pub, rs, err := b.readShared()
	if err != nil {
		return false, 0, err
	}
	defer b.releaseRead(rs)
	b.commits.Add(1)
	if b.jerr != nil {
		return true, 0, b.jerr
	}
	next := beginNext(pub)
	b.ws.reset()
	if err := run(&ovTx{btx: rs.btx, rs: rs, o: next, writable: true, seq: b.j.seq + 1, ws: &b.ws}); err != nil {
		return true, 0, err
	}
	if b.ws.ops == 0 {
		return true, pub.bytes, nil
	}
	if err := b.j.append(&b.ws); err != nil {
		// The record may be on disk, whole or not; it was not
		// acknowledged, but no write can follow it safely.
		b.jerr = fmt.Errorf("kv: journal append: %w", err)
		return true, 0, b.jerr
	}
	next.version = b.j.seq
	b.ov.Store(next)
	if pub.version == pub.base || next.bytes >= b.applyBytes {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return true, next.bytes, nil
}

// applier applies the overlay when it is large, or when commits pause
// (see applyQuiet), until the store closes.
func (b *Bolt) applier() {
	defer close(b.applierEnd)
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		}
		since := time.Now()
		for {
			o := b.ov.Load()
			if o.version == o.base {
				break // empty: wait for the next kick
			}
			if o.bytes < b.applyBytes && time.Since(since) < applyMaxAge {
				t := time.NewTimer(b.applyQuiet)
				select {
				case <-b.stop:
					t.Stop()
					return
				case <-b.kick:
				case <-t.C:
				}
				t.Stop()
				if n := b.ov.Load(); n.version != o.version && n.bytes < b.applyBytes && time.Since(since) < applyMaxAge {
					continue // not quiet yet
				}
			}
			b.amu.Lock()
			err := b.apply(false)
			b.amu.Unlock()
			if err != nil {
				return // writes fail from now on (jerr); Close tries again
			}
			since = time.Now()
		}
	}
}

// apply commits the published overlay's writes in bbolt (synced, with the
// sequence they reach), then publishes what the overlay holds beyond them.
// Writers go on meanwhile unless hold; a journal left long after it holds
// them back for a second apply of what came in. amu is held.
func (b *Bolt) apply(hold bool) error {
	if hold {
		b.wmu.Lock()
		defer b.wmu.Unlock()
	}
	o := b.ov.Load()
	if o.version == o.base {
		return nil
	}
	txid, err := b.applyToBolt(o)
	if !hold {
		b.wmu.Lock()
		defer b.wmu.Unlock()
	}
	if err != nil {
		// The overlay and the journal still hold every write; none can
		// follow safely if bbolt cannot take them.
		b.jerr = fmt.Errorf("kv: applying the journal to bbolt: %w", err)
		return b.jerr
	}
	if err := b.publishApplied(o, txid); err != nil {
		return err
	}
	if n := b.ov.Load(); !hold && n.version != n.base && b.j.size() >= journalRestartAt {
		b.wmu.Unlock()
		err := b.apply(true)
		b.wmu.Lock()
		return err
	}
	return nil
}

// applyToBolt commits o's writes in bbolt, with the sequence they reach,
// and returns the transaction's id.
func (b *Bolt) applyToBolt(o *overlay) (uint64, error) {
	// No read transaction is kept open across the commit: a remap (the
	// file outgrowing bbolt's map) waits for them all.
	b.retireRead(true)
	defer b.retireRead(false)
	var txid uint64
	err := b.db.Update(func(tx *bolt.Tx) error {
		for name, tr := range o.buckets {
			bk, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			tr.Ascend(func(e ovEntry) bool {
				if e.del {
					err = bk.Delete(e.key)
				} else {
					err = bk.Put(e.key, e.val)
				}
				return err == nil
			})
			if err != nil {
				return err
			}
		}
		txid = uint64(tx.ID())
		return putApplied(tx, o.version)
	})
	if err == nil {
		// Before the caller takes wmu: a writer holding it may be
		// waiting for this mark to read bbolt's new state (readShared).
		b.applied.Store(&appliedMark{txid: txid, seq: o.version})
	}
	return txid, err
}

// publishApplied publishes the overlay less o's writes, which bbolt holds
// at txid, and restarts the journal if that leaves it empty. wmu is held.
func (b *Bolt) publishApplied(o *overlay, txid uint64) error {
	b.applies.Add(1)
	n := b.ov.Load().without(o, txid)
	b.ov.Store(n)
	if n.version == n.base && b.j.size() > 0 {
		if err := b.j.restart(n.version + 1); err != nil {
			b.jerr = fmt.Errorf("kv: journal restart: %w", err)
			return b.jerr
		}
	}
	return nil
}

// closeJournal applies the overlay and removes the journal: the bbolt file
// alone is the store (and what an older binary expects). amu and wmu are
// held.
func (b *Bolt) closeJournal() error {
	err := b.jerr
	if err == nil {
		b.wmu.Unlock()
		err = b.apply(true)
		b.wmu.Lock()
	}
	if err == nil {
		// Applied: no record is needed. Removed only then, so that a
		// failed apply leaves the journal for recovery.
		if err = os.Remove(b.jpath); err == nil {
			err = fsync.Dir(filepath.Dir(b.jpath))
		}
	}
	b.j.close()
	return err
}

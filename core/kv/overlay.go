package kv

import (
	"bytes"
	"errors"
	"maps"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// An overlay holds the writes acknowledged (their journal records synced)
// that bbolt does not hold yet: per bucket, an ordered tree of each key's
// last write, a deletion included (a tombstone). Transactions read the
// overlay over bbolt. A published overlay is never changed: a write
// transaction builds the next one from copy-on-write clones of the trees
// it writes (btree's Clone is O(1)), and a commit publishes it whole, so
// a reader sees all of a commit or none of it.
//
// An overlay is right over bbolt in any state that holds its base (the
// writes of records up to base, applied) and none of its later records
// beyond version: the keys written after base are all in the overlay,
// with their last values as of version, and the others are the same in
// every such state. See Bolt.pairs for how a reader pairs the two.
type overlay struct {
	buckets map[string]*btree.BTreeG[ovEntry]
	// version is the journal sequence of the last commit the overlay
	// holds: the state it shows over bbolt.
	version uint64
	// base is the last sequence bbolt holds, baseTxid bbolt's transaction
	// id of that state.
	base     uint64
	baseTxid uint64
	// bytes approximates what the overlay holds (see applyBytes).
	bytes int
	// vers holds the version of each bucket written since the store was
	// opened: its last commit's sequence plus one; vbase is every other
	// bucket's (the sequence at open plus one, below any of those).
	// Applies keep them: they change where data is, not what it is.
	vers  map[string]uint64
	vbase uint64
}

// ovEntry is a key's last write in an overlay.
type ovEntry struct {
	key []byte
	val []byte // not nil for a Put, also when empty
	del bool
	seq uint64 // the journal record that wrote it
}

// ovEntryCost is roughly what an entry costs beyond its key and value
// (its struct and its share of the tree).
const ovEntryCost = 80

func lessEntry(a, b ovEntry) bool { return bytes.Compare(a.key, b.key) < 0 }

func newOvTree() *btree.BTreeG[ovEntry] { return btree.NewG(16, lessEntry) }

// find returns key's last write in bucket, if the overlay holds one.
func (o *overlay) find(bucket string, key []byte) (ovEntry, bool) {
	if len(o.buckets) == 0 {
		return ovEntry{}, false
	}
	t := o.buckets[bucket]
	if t == nil {
		return ovEntry{}, false
	}
	return t.Get(ovEntry{key: key})
}

// ovTx is a transaction: the overlay o over bbolt's read transaction btx.
// A write transaction's o is the next overlay, private to it until its
// commit publishes it; own lists the buckets whose trees it cloned.
type ovTx struct {
	btx      *bolt.Tx
	rs       *readShare // a View's: btx shared, with the buckets it found
	o        *overlay
	writable bool
	seq      uint64 // a write transaction's record sequence
	own      []string
	ownVers  bool // vers is this transaction's copy
	ws       *writeSet
}

// Snapshot identifies the committed state a read transaction sees: the
// journal sequence of its last commit (plus one, so that it is never 0),
// so two read transactions with the same snapshot read the same data, and
// readers may remember what they read by it. A write transaction has none
// (0): its data is in flux.
func (t *ovTx) Snapshot() uint64 {
	if t.writable {
		return 0
	}
	return t.o.version + 1
}

// BucketVersion names the state of one bucket a read transaction sees, as
// Mem's does (see memTx.BucketVersion): two reads that find the same
// non-zero version of a bucket find the same keys and values in it,
// whatever was written to other buckets meanwhile. A write transaction has
// none (0). A transaction rolled back changes no version (nor any data).
func (t *ovTx) BucketVersion(bucket string) uint64 {
	if t.writable {
		return 0
	}
	if v, ok := t.o.vers[bucket]; ok {
		return v
	}
	return t.o.vbase
}

func (t *ovTx) Get(bucket string, key []byte) []byte {
	if e, ok := t.o.find(bucket, key); ok {
		if e.del {
			return nil
		}
		return e.val
	}
	bk := t.bucket(bucket)
	if bk == nil {
		return nil
	}
	return bk.Get(key)
}

// bucket returns bbolt's bucket under the overlay, nil if there is none.
func (t *ovTx) bucket(name string) *bolt.Bucket {
	if t.rs != nil {
		return t.rs.bucket(name)
	}
	return t.btx.Bucket([]byte(name))
}

// maxValueSize is the largest value bbolt stores: a Put checks it, so that
// no acknowledged write can fail when it is applied.
const maxValueSize = bolt.MaxValueSize

var errValueTooLarge = errors.New("kv: value too large")

func (t *ovTx) Put(bucket string, key, value []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	if err := checkPut(bucket, key); err != nil {
		return err
	}
	// Checked now what bbolt would refuse when the write is applied,
	// acknowledged by then: a bucket name is a key of bbolt's root.
	if len(bucket) > MaxKeySize || bucket == appliedBucket {
		return ErrBadKey
	}
	if len(value) > maxValueSize {
		return errValueTooLarge
	}
	// One allocation for both; the value is never nil (bbolt reads an
	// empty value as present and empty, and so does the overlay).
	b := make([]byte, len(key)+len(value))
	copy(b, key)
	copy(b[len(key):], value)
	t.write(bucket, ovEntry{key: b[:len(key):len(key)], val: b[len(key):], seq: t.seq})
	t.ws.put(bucket, key, value)
	return nil
}

func (t *ovTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return ErrReadOnly // also when there is nothing to delete, as in Mem
	}
	if t.Get(bucket, key) == nil {
		return nil // nothing to delete: no tombstone, no record
	}
	t.write(bucket, ovEntry{key: bytes.Clone(key), del: true, seq: t.seq})
	t.ws.delete(bucket, key)
	return nil
}

// write puts e in the next overlay's tree of bucket, cloning the published
// one first if this transaction has not yet.
func (t *ovTx) write(bucket string, e ovEntry) {
	tr := t.o.buckets[bucket]
	mine := false
	for _, b := range t.own {
		if b == bucket {
			mine = true
			break
		}
	}
	if !mine {
		if tr == nil {
			tr = newOvTree()
		} else {
			tr = tr.Clone()
		}
		if t.o.buckets == nil {
			t.o.buckets = map[string]*btree.BTreeG[ovEntry]{}
		}
		t.o.buckets[bucket] = tr
		t.own = append(t.own, bucket)
	}
	tr.ReplaceOrInsert(e)
	t.o.bytes += len(e.key) + len(e.val) + ovEntryCost
	if !t.ownVers {
		t.o.vers = maps.Clone(t.o.vers)
		if t.o.vers == nil {
			t.o.vers = map[string]uint64{}
		}
		t.ownVers = true
	}
	t.o.vers[bucket] = t.seq + 1
}

func (t *ovTx) Scan(bucket string, prefix, start []byte, fn func(k, v []byte) bool) error {
	seek := prefix
	if bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	// bbolt's keys, from its cursor, merged with the overlay's: where both
	// have a key, the overlay's write wins.
	var c *bolt.Cursor
	var bk, bv []byte
	next := func() {
		if bk, bv = c.Next(); bk != nil && !bytes.HasPrefix(bk, prefix) {
			bk = nil
		}
	}
	if b := t.bucket(bucket); b != nil {
		c = b.Cursor()
		if bk, bv = c.Seek(seek); bk != nil && !bytes.HasPrefix(bk, prefix) {
			bk = nil
		}
	}
	if tr := t.o.buckets[bucket]; tr != nil {
		stopped := false
		tr.AscendGreaterOrEqual(ovEntry{key: seek}, func(e ovEntry) bool {
			if !bytes.HasPrefix(e.key, prefix) {
				return false
			}
			for bk != nil && bytes.Compare(bk, e.key) < 0 {
				if !fn(bk, bv) {
					stopped = true
					return false
				}
				next()
			}
			if bk != nil && bytes.Equal(bk, e.key) {
				next()
			}
			if !e.del && !fn(e.key, e.val) {
				stopped = true
				return false
			}
			return true
		})
		if stopped {
			return nil
		}
	}
	for bk != nil {
		if !fn(bk, bv) {
			return nil
		}
		next()
	}
	return nil
}

// beginNext returns the overlay a write transaction builds on pub: the
// same trees (cloned on first write), its own map.
func beginNext(pub *overlay) *overlay {
	n := *pub
	n.buckets = maps.Clone(pub.buckets)
	return &n
}

// without returns o less the writes of applied, an earlier overlay whose
// writes bbolt holds now, at txid: what is left are keys written after it.
func (o *overlay) without(applied *overlay, txid uint64) *overlay {
	seq := applied.version
	n := &overlay{version: o.version, base: seq, baseTxid: txid, vers: o.vers, vbase: o.vbase}
	for name, tr := range o.buckets {
		if tr == applied.buckets[name] {
			continue // not written since: every entry is applied
		}
		var kept *btree.BTreeG[ovEntry]
		tr.Ascend(func(e ovEntry) bool {
			if e.seq > seq {
				if kept == nil {
					kept = newOvTree()
				}
				kept.ReplaceOrInsert(e)
				n.bytes += len(e.key) + len(e.val) + ovEntryCost
			}
			return true
		})
		if kept != nil {
			if n.buckets == nil {
				n.buckets = map[string]*btree.BTreeG[ovEntry]{}
			}
			n.buckets[name] = kept
		}
	}
	return n
}

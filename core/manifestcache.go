package core

import (
	"bytes"
	"sync"

	"github.com/berth-dev/berth/core/kv"
)

// manifestCache remembers, per manifest key, the image record's stored
// bytes with what they decode to and the manifest's body, so that a GET of
// a manifest read before neither decodes its record nor reads and copies
// its body again: every pull of a tag reads the same few manifests.
//
// An entry is used only while the record read in the caller's transaction
// has the same bytes as the remembered one, so the cache cannot answer with
// a stale image (a record rewritten — a pull time noted, archived — has
// other bytes; a deleted one is not found before the cache is asked). The
// body needs no such check: the key ends with the manifest's digest, and
// what is stored under a digest is the content with that digest.
//
// Images with a subject or annotations are not kept: those share a pointer
// and a map that a caller could change, and they are rare among pulls.
//
// A store whose read transactions name the committed state they see
// (snapshotTx: bbolt's) lets a read skip even the lookups: byRef remembers,
// per repository and reference, the entry a read found and the snapshot it
// read it in; a read in the same snapshot reads the same data, so it finds
// the same entry.
type manifestCache struct {
	mu    sync.Mutex
	m     map[string]*manifestEntry
	bytes int // bodies and records held, bounded by manifestCacheBytes
	byRef map[string]refEntry
}

// refEntry is what a reference resolved to in one snapshot: the entry
// under key in m. It is used only while m still holds that very entry, so
// that what the cache keeps alive stays within m's bound.
type refEntry struct {
	snap uint64
	key  string
	e    *manifestEntry
}

// snapshotTx is a read transaction that names the committed state it sees:
// two with the same non-zero snapshot read the same data (kv.Bolt's).
type snapshotTx interface{ Snapshot() uint64 }

// snapshotOf is tx's snapshot, or 0 when it names none.
func snapshotOf(tx kv.Tx) uint64 {
	if s, ok := tx.(snapshotTx); ok {
		return s.Snapshot()
	}
	return 0
}

// byRefMax bounds byRef; past it, it starts over.
const byRefMax = 4096

// atSnapshot returns the entry refKey resolved to in snapshot snap, if
// remembered.
func (c *manifestCache) atSnapshot(refKey []byte, snap uint64) *manifestEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.byRef[string(refKey)]
	if !ok || r.snap != snap || c.m[r.key] != r.e {
		return nil
	}
	return r.e
}

// remember notes that refKey resolved in snapshot snap to e, the entry
// under key.
func (c *manifestCache) remember(refKey string, snap uint64, key []byte, e *manifestEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byRef == nil || len(c.byRef) >= byRefMax {
		c.byRef = make(map[string]refEntry, len(c.byRef)) // as m starts over (put)
	}
	r := refEntry{snap: snap, e: e}
	if old, ok := c.byRef[refKey]; ok && old.key == string(key) {
		r.key = old.key // the same manifest: its key string again
	} else {
		r.key = string(key)
	}
	c.byRef[refKey] = r
}

type manifestEntry struct {
	raw  []byte // the image record as stored
	img  Image
	body []byte // shared with every caller: read-only
}

const (
	// manifestCacheBytes bounds what the cache holds; past it, it starts
	// over. Most manifests are one or two KiB.
	manifestCacheBytes = 8 << 20
	// manifestCacheMaxBody: larger manifests (big indexes) are not kept.
	manifestCacheMaxBody = 64 << 10
)

// get returns the entry of key if it was made from a record of exactly
// raw's bytes.
func (c *manifestCache) get(key, raw []byte) *manifestEntry {
	c.mu.Lock()
	e := c.m[string(key)]
	c.mu.Unlock()
	if e == nil || !bytes.Equal(e.raw, raw) {
		return nil
	}
	return e
}

// put remembers img and body as what the record raw under key gives, and
// returns the entry (nil when it keeps nothing); the cache keeps its own
// copy of raw, and body, which must not change after.
func (c *manifestCache) put(key, raw []byte, img Image, body []byte) *manifestEntry {
	if img.Subject != nil || img.Annotations != nil || img.Tags != nil || img.Parents != nil || len(body) > manifestCacheMaxBody {
		return nil
	}
	e := &manifestEntry{raw: bytes.Clone(raw), img: img, body: body}
	size := len(key) + len(raw) + len(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+size > manifestCacheBytes {
		// Starting over, sized for as many entries as the last map held:
		// a map grown one entry at a time moves its entries at each
		// doubling, and the cache refills as fast as pulls come (an index
		// pull reads a thousand manifests once each).
		c.m, c.bytes = make(map[string]*manifestEntry, len(c.m)), 0
	}
	if old := c.m[string(key)]; old != nil {
		c.bytes -= len(key) + len(old.raw) + len(old.body)
	}
	c.m[string(key)] = e
	c.bytes += size
	return e
}

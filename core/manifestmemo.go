package core

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/opencontainers/go-digest"
)

// parsedManifests remembers the last manifests a push parsed, by their
// exact bytes and declared type. Pushing a manifest again under another
// tag is how ECR retags an image (BatchGetImage, then PutImage of the same
// manifest with the new tag: https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-retag.html),
// and a CI pipeline pushes an unchanged image under each build's tag; such
// a push then skips the parse, which was ≈ 6% of a PutImage's CPU, and the
// SHA-256 of the body (≈ 7% of its instructions): an entry is found by a
// cheap hash of the bytes, confirmed by comparing them, and carries their
// digest. A parse is a function of the body and the declared type alone, so
// an entry never goes stale: nothing needs invalidating, and registries may
// share the memo. Only successful parses are kept.
var parsedManifests manifestMemo

// memoSlots bounds the memo; memoMaxBody keeps large indexes (whose parse is
// a small part of their push, and whose descriptors are many) out of it.
const (
	memoSlots   = 64
	memoMaxBody = 16 << 10
)

// memoSeed is the memo's hash seed; a key only finds a candidate, which
// the bytes confirm, so the seed decides nothing but where entries sit.
var memoSeed = maphash.MakeSeed()

type memoKey struct {
	sum         uint64 // maphash of the body
	contentType string
}

func memoKeyOf(body []byte, contentType string) memoKey {
	return memoKey{maphash.Bytes(memoSeed, body), contentType}
}

// parsedManifest is a memo entry. Its Manifest's slices, map and pointers
// are shared by every push that finds it: they are only read (a push copies
// the struct and sets its own Digest).
type parsedManifest struct {
	body []byte        // the memo's own copy
	dg   digest.Digest // body's sha256 digest
	m    Manifest
	// declaresType: the body names its own mediaType (what RequireMediaType
	// asks when no type is declared beside it).
	declaresType bool
}

type manifestMemo struct {
	mu    sync.Mutex
	byKey map[memoKey]*parsedManifest
	ring  [memoSlots]memoKey // insertion order: the oldest is replaced
	used  int                // ring slots filled
	next  int
}

// get returns the entry for exactly these bytes and declared type.
func (mm *manifestMemo) get(body []byte, contentType string) (*parsedManifest, bool) {
	k := memoKeyOf(body, contentType)
	mm.mu.Lock()
	p, ok := mm.byKey[k]
	mm.mu.Unlock()
	if !ok || !bytes.Equal(p.body, body) { // another body under the same hash: not this one's
		return nil, false
	}
	return p, true
}

// put keeps p for body (whose sha256 digest is dg), copying the body: the
// caller's may be a view of a request's buffer (ECR's PutImage passes the
// manifest string's bytes).
func (mm *manifestMemo) put(dg digest.Digest, contentType string, body []byte, p *parsedManifest) {
	if len(body) > memoMaxBody {
		return
	}
	k := memoKeyOf(body, contentType)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.byKey == nil {
		mm.byKey = make(map[memoKey]*parsedManifest, memoSlots)
	}
	if _, ok := mm.byKey[k]; ok {
		return
	}
	k.contentType = string([]byte(contentType)) // the memo's own, as the body
	p.body, p.dg = bytes.Clone(body), digest.Digest(string([]byte(dg)))
	if mm.used == memoSlots {
		delete(mm.byKey, mm.ring[mm.next])
	} else {
		mm.used++
	}
	mm.ring[mm.next] = k
	mm.next = (mm.next + 1) % memoSlots
	mm.byKey[k] = p
}

// memoLookup is the body's sha256 digest, when the memo may hold it, and
// its entry if it does ("" and nil for a body too large to be kept). A body
// it holds is not hashed with SHA-256 again.
func memoLookup(body []byte, contentType string) (digest.Digest, *parsedManifest) {
	if len(body) > memoMaxBody {
		return "", nil
	}
	if p, ok := parsedManifests.get(body, contentType); ok {
		return p.dg, p
	}
	return digestOf(digest.SHA256, body), nil
}

// memoPut keeps a manifest a push found stored already: one pushed once is
// not kept (most manifests are pushed once, and keeping each would cost
// their pushes), one pushed again is likely to be pushed again.
func memoPut(dg digest.Digest, contentType string, body []byte, m *Manifest, declaresType bool) {
	parsedManifests.put(dg, contentType, body, &parsedManifest{m: *m, declaresType: declaresType})
}

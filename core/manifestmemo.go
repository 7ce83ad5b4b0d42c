package core

import (
	"sync"

	"github.com/opencontainers/go-digest"
)

// parsedManifests remembers the last manifests a push parsed, by their
// sha256 digest and declared type. Pushing a manifest again under another
// tag is how ECR retags an image (BatchGetImage, then PutImage of the same
// manifest with the new tag: https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-retag.html),
// and a CI pipeline pushes an unchanged image under each build's tag; such
// a push then skips the parse, which was ≈ 6% of a PutImage's CPU. A
// parse is a function of the body and the declared type alone, and a digest
// names one body, so an entry never goes stale: nothing needs invalidating,
// and registries may share the memo. Only successful parses are kept.
var parsedManifests manifestMemo

// memoSlots bounds the memo; memoMaxBody keeps large indexes (whose parse is
// a small part of their push, and whose descriptors are many) out of it.
const (
	memoSlots   = 64
	memoMaxBody = 16 << 10
)

type memoKey struct {
	dg          digest.Digest // sha256
	contentType string
}

// parsedManifest is a memo entry. Its Manifest's slices, map and pointers
// are shared by every push that finds it: they are only read (a push copies
// the struct and sets its own Digest).
type parsedManifest struct {
	m Manifest
	// declaresType: the body names its own mediaType (what RequireMediaType
	// asks when no type is declared beside it).
	declaresType bool
}

type manifestMemo struct {
	mu    sync.Mutex
	byKey map[memoKey]*parsedManifest
	ring  [memoSlots]memoKey // insertion order: the oldest is replaced
	next  int
}

func (mm *manifestMemo) get(dg digest.Digest, contentType string) (*parsedManifest, bool) {
	mm.mu.Lock()
	p, ok := mm.byKey[memoKey{dg, contentType}]
	mm.mu.Unlock()
	return p, ok
}

func (mm *manifestMemo) put(dg digest.Digest, contentType string, body []byte, p *parsedManifest) {
	if len(body) > memoMaxBody {
		return
	}
	// The key's strings are the memo's own: the caller's may be views of a
	// request's buffer (ECR's PutImage passes the manifest string's bytes).
	k := memoKey{digest.Digest(string([]byte(dg))), string([]byte(contentType))}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.byKey == nil {
		mm.byKey = make(map[memoKey]*parsedManifest, memoSlots)
	}
	if _, ok := mm.byKey[k]; ok {
		return
	}
	if old := mm.ring[mm.next]; old.dg != "" {
		delete(mm.byKey, old)
	}
	mm.ring[mm.next] = k
	mm.next = (mm.next + 1) % memoSlots
	mm.byKey[k] = p
}

// memoLookup is the body's sha256 digest, when the memo may hold it, and
// its entry if it does ("" and nil for a body too large to be kept).
func memoLookup(body []byte, contentType string) (digest.Digest, *parsedManifest) {
	if len(body) > memoMaxBody {
		return "", nil
	}
	dg := digestOf(digest.SHA256, body)
	p, _ := parsedManifests.get(dg, contentType)
	return dg, p
}

// memoPut keeps a manifest a push found stored already: one pushed once is
// not kept (most manifests are pushed once, and keeping each would cost
// their pushes), one pushed again is likely to be pushed again.
func memoPut(dg digest.Digest, contentType string, body []byte, m *Manifest, declaresType bool) {
	parsedManifests.put(dg, contentType, body, &parsedManifest{m: *m, declaresType: declaresType})
}

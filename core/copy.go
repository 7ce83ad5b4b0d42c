package core

import (
	"context"
	"slices"
	"strconv"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Trusted writes: what berth's features (replication, the pull-through
// cache, lifecycle) do on the registry's behalf. The edges authorize users;
// these are called by the features themselves, which mark ctx with their
// Cause (WithCause) so that subscribers can tell their writes from a user's.

// CopyImageInput names an image and where to copy it.
type CopyImageInput struct {
	From           RegistryID
	FromRepository string
	Reference      string // a tag or digest in the source
	To             RegistryID
	ToRepository   string
	// Tags point at the copy in the destination; nil means the Reference
	// when it is a tag.
	Tags []string
	// Referrers copies the image's referrers too (signatures, SBOMs,
	// attestations), and theirs, when they are in the source repository.
	Referrers bool
	// Create says why a missing destination repository may be created
	// (through the creation templates); empty: it must exist.
	Create CreateReason
}

// CopyImage copies an image — an index with every manifest it lists — into
// another repository, of any account or region, in one transaction. Blobs
// are linked by digest, not copied: every registry shares the blob store.
// A destination tag that would move must be mutable there. It returns the
// copy as stored, without its tags and parents.
func (r *Registry) CopyImage(ctx context.Context, in CopyImageInput) (Image, error) {
	tags := in.Tags
	if tags == nil && !IsDigestReference(in.Reference) {
		tags = []string{in.Reference}
	}
	for _, t := range tags {
		if !ValidTag(t) {
			return Image{}, Errorf(KindTagInvalid, "invalid tag '%s'", t)
		}
	}
	// What to copy, read once outside the write transaction for the before
	// hooks, and again inside it.
	var top Image
	err := r.kv.View(func(tx kv.Tx) error {
		dg, err := resolve(tx, in.From, in.FromRepository, in.Reference)
		if err != nil {
			return err
		}
		top, _, err = getImage(tx, in.From, in.FromRepository, dg, false)
		return err
	})
	if err != nil {
		return Image{}, err
	}
	push := r.imageEvent(ctx, EventPush, in.To, in.ToRepository, &top)
	push.Tags = tags
	if len(tags) > 0 {
		push.Tag = tags[0]
	}
	if err := r.bus.check(ctx, push); err != nil {
		return Image{}, err
	}
	var (
		copied Image
		events []Event
	)
	created, err := r.updateCreating(ctx, in.To, in.ToRepository, in.Create, func(tx kv.Tx) error {
		copied, events = Image{}, nil // a Batch may run this more than once
		order, err := copyOrder(tx, in.From, in.FromRepository, top.Digest, in.Referrers)
		if err != nil {
			return err
		}
		for _, dg := range order {
			isTop := dg == top.Digest
			var t []string
			if isTop {
				t = tags
			}
			st, evs, err := r.copyManifestTx(ctx, tx, in, dg, t)
			if err != nil {
				return err
			}
			events = append(events, evs...)
			if isTop {
				copied = st
			}
		}
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	r.publishAll(ctx, created)
	r.publishAll(ctx, events)
	return copied, nil
}

// copyOrder lists the manifests to copy for top, each after what it needs:
// an index's children before it, a referrer after its subject.
func copyOrder(tx kv.Tx, reg RegistryID, repo string, top digest.Digest, referrers bool) ([]digest.Digest, error) {
	var order []digest.Digest
	seen := map[digest.Digest]bool{}
	var visit func(dg digest.Digest) error
	visit = func(dg digest.Digest) error {
		if seen[dg] {
			return nil
		}
		seen[dg] = true
		img, found, err := getImage(tx, reg, repo, dg, false)
		if err != nil {
			return err
		}
		if !found {
			return Errorf(KindManifestChildMissing, "manifest %s is not in repository '%s'", dg, repo)
		}
		if img.IsIndex() {
			m, err := storedManifest(tx, reg, repo, &img)
			if err != nil {
				return err
			}
			for _, c := range m.Children {
				if err := visit(c.Digest); err != nil {
					return err
				}
			}
		}
		order = append(order, dg)
		if referrers {
			var refs []digest.Digest
			tx.Scan(bReferrers, itemKey(reg, repo, string(dg), ""), nil, func(k, v []byte) bool {
				refs = append(refs, digest.Digest(lastPart(k)))
				return true
			})
			for _, ref := range refs {
				if err := visit(ref); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return order, visit(top)
}

// storedManifest parses a stored manifest's exact bytes.
func storedManifest(tx kv.Tx, reg RegistryID, repo string, img *Image) (Manifest, error) {
	key := itemKey(reg, repo, string(img.Digest))
	m, err := ParseManifest(manifestBody(tx, key), img.MediaType)
	if err != nil {
		return Manifest{}, corrupt("manifest bytes", key, err)
	}
	m.Digest = img.Digest
	return m, nil
}

// copyManifestTx copies one manifest of in's source into its destination:
// its blobs linked, its bytes and record stored, tags pointed at it.
func (r *Registry) copyManifestTx(ctx context.Context, tx kv.Tx, in CopyImageInput, dg digest.Digest, tags []string) (Image, []Event, error) {
	img, _, err := getImage(tx, in.From, in.FromRepository, dg, false)
	if err != nil {
		return Image{}, nil, err
	}
	m, err := storedManifest(tx, in.From, in.FromRepository, &img)
	if err != nil {
		return Image{}, nil, err
	}
	var events []Event
	for _, b := range m.Blobs() {
		if tx.Get(bBlobRefs, blobRefKey(b.Digest, in.To, in.ToRepository)) != nil {
			continue
		}
		v := tx.Get(bBlobRefs, blobRefKey(b.Digest, in.From, in.FromRepository))
		if v == nil {
			return Image{}, nil, Errorf(KindManifestBlobMissing, "blob %s of manifest %s is not in repository '%s'", b.Digest, dg, in.FromRepository)
		}
		size, _ := strconv.ParseInt(string(v), 10, 64)
		if err := linkBlob(tx, in.To, in.ToRepository, b.Digest, size); err != nil {
			return Image{}, nil, err
		}
		e := r.event(ctx, EventUploadComplete, in.To, in.ToRepository)
		e.Digest, e.Size = b.Digest, size
		events = append(events, e)
	}
	existed := tx.Get(bManifests, itemKey(in.To, in.ToRepository, string(dg))) != nil
	st, err := r.storeManifestTx(ctx, tx, in.To, in.ToRepository, &m, manifestBody(tx, itemKey(in.From, in.FromRepository, string(dg))), tags, nil)
	if err != nil {
		return Image{}, nil, err
	}
	if !existed || len(st.events) > 0 {
		push := r.imageEvent(ctx, EventPush, in.To, in.ToRepository, &st.image)
		push.Tags = slices.Clone(tags)
		if len(tags) > 0 {
			push.Tag = tags[0]
		}
		events = append(events, push)
	}
	return st.image, append(events, st.events...), nil
}

// ImportManifest stores a manifest fetched from outside the registry (a
// pull-through cache's upstream): a PutManifest that creates a missing
// repository for the pull-through cache and accepts blobs and child
// manifests that are not there yet, to be fetched when first asked for.
func (r *Registry) ImportManifest(ctx context.Context, reg RegistryID, repo string, in PutManifestInput) (Image, error) {
	in.Create, in.AllowMissing, in.RejectUnchanged = CreateForPullThrough, true, false
	return r.PutManifest(ctx, reg, repo, in)
}

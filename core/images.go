package core

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Image is one stored manifest as the registry keeps it: what DescribeImages,
// lifecycle rules and the image iterator see. The manifest's own content is
// kept beside it as exact bytes (ManifestBytes, ParseManifest).
type Image struct {
	Digest       digest.Digest
	MediaType    string
	ArtifactType string // explicit, or the config media type for OCI images
	Size         int64  // of the manifest itself
	// ImageSize is ECR's imageSizeInBytes: an image's layers, an index's
	// manifests, or the manifest itself when it lists neither.
	ImageSize       int64
	ConfigMediaType string
	Subject         *Descriptor // what a referrer (signature, SBOM) refers to
	Annotations     map[string]string
	PushedAt        time.Time
	LastPulledAt    time.Time

	// Storage class: archived images cannot be pulled until restored.
	Archived    bool
	ArchivedAt  time.Time
	ActivatedAt time.Time // when a restore was asked for

	Tags    []string        // every tag that points at it, in order
	Parents []digest.Digest // the indexes of the repository that list it
}

// IsIndex reports whether the manifest lists other manifests.
func (i *Image) IsIndex() bool { return isIndexType(i.MediaType) }

// Descriptor describes the manifest for a referrers list or an index.
func (i *Image) Descriptor() Descriptor {
	return Descriptor{MediaType: i.MediaType, Digest: i.Digest, Size: i.Size, ArtifactType: i.ArtifactType, Annotations: i.Annotations}
}

// Status is ECR's imageStatus: ACTIVE, ARCHIVED or ACTIVATING.
func (i *Image) Status(now time.Time, restoreDelay time.Duration) string {
	return imageStatus(i.Archived, i.ActivatedAt, now, restoreDelay)
}

func imageStatus(archived bool, activatedAt, now time.Time, restoreDelay time.Duration) string {
	switch {
	case archived:
		return "ARCHIVED"
	case !activatedAt.IsZero() && now.Before(activatedAt.Add(restoreDelay)):
		return "ACTIVATING"
	}
	return "ACTIVE"
}

// ImageID is what a listing of image ids needs of an image: its digest, its
// tags and its storage class.
type ImageID struct {
	Digest      digest.Digest
	Tags        []string // in order
	Archived    bool
	ActivatedAt time.Time
}

// Status is the image's imageStatus, as Image.Status.
func (i *ImageID) Status(now time.Time, restoreDelay time.Duration) string {
	return imageStatus(i.Archived, i.ActivatedAt, now, restoreDelay)
}

// DigestsAfter is the PageImageIDs bound that starts after the digest d.
func DigestsAfter(d digest.Digest) string { return string(d) + sep }

// PageImageIDs lists up to limit images of a repository whose digests are ≥
// from ("" from the first), in digest order, and says whether more follow.
// It reads the tags index and only the storage class of each image record,
// so a page of ids costs a fraction of a page of images (PageImages).
func (r *Registry) PageImageIDs(ctx context.Context, reg RegistryID, repo string, from string, limit int) (ids []ImageID, more bool, err error) {
	err = r.kv.View(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		pre := inRepo(reg, repo)
		ids = make([]ImageID, 0, min(limit, imageBatch))
		// The digests, then the tags, are written into one builder and cut
		// from the strings it holds (a builder never overwrites what it
		// holds, so neither is copied again): one allocation rather than
		// one per item, sized for a digest and a short tag per image.
		var text strings.Builder
		text.Grow(cap(ids) * (len("sha256:") + 64 + 16))
		ends := make([]int, 0, cap(ids))
		var ferr error
		tx.Scan(bManifests, pre, append(slices.Clip(pre), from...), func(k, v []byte) bool {
			if len(ids) == limit {
				more = true
				return false
			}
			var id ImageID
			if rec := recordPart(v); !saysNoStorageClass(rec) {
				if ferr = decodeStorageClass(rec, &id); ferr != nil {
					ferr = corrupt("image", k, ferr)
					return false
				}
			}
			ids = append(ids, id)
			text.Write(k[len(pre):])
			ends = append(ends, text.Len())
			return true
		})
		if ferr != nil || len(ids) == 0 {
			return ferr
		}
		digests, at := text.String(), 0
		for i := range ids {
			ids[i].Digest, at = digest.Digest(digests[at:ends[i]]), ends[i]
		}
		// The tags of a run of digests are one run of keys (reg|repo|digest|tag),
		// in the same order as the run: one scan, walked beside it, that
		// ends at the first key past the run's last digest.
		first := append(slices.Clip(pre), ids[0].Digest...)
		type tagOf struct{ img, end int }
		tags := make([]tagOf, 0, len(ids)) // most images have a tag, few more than one
		i := 0
		tx.Scan(bDigestTags, pre, first, func(k, _ []byte) bool {
			rest := k[len(pre):]
			j := bytes.IndexByte(rest, 0)
			if j < 0 {
				return true
			}
			// Most often the key is the image's the last key was, or the next's.
			for kd := rest[:j]; string(ids[i].Digest) != string(kd); {
				if string(ids[i].Digest) > string(kd) {
					return true // an image not on the page
				}
				if i++; i == len(ids) {
					return false
				}
			}
			text.Write(rest[j+1:])
			tags = append(tags, tagOf{i, text.Len()})
			return true
		})
		names, all := text.String(), make([]string, len(tags))
		at = len(digests)
		for t := range tags {
			all[t], at = names[at:tags[t].end], tags[t].end
		}
		// Each image's tags are a run of all, capped so that appending to
		// one never writes over the next.
		for t := 0; t < len(tags); {
			u := t
			for u < len(tags) && tags[u].img == tags[t].img {
				u++
			}
			ids[tags[t].img].Tags = all[t:u:u]
			t = u
		}
		return nil
	})
	return ids, more, err
}

// corrupt reports a stored record that cannot be read: an internal error,
// never silently skipped or overwritten.
func corrupt(what string, key []byte, err error) error {
	return fmt.Errorf("corrupt %s record %q: %w", what, key, err)
}

// getImage reads one image's record (found=false when absent); tags and
// parents are filled when asked for.
func getImage(tx kv.Tx, reg RegistryID, repo string, dg digest.Digest, withLinks bool) (Image, bool, error) {
	key := itemKey(reg, repo, string(dg))
	b := tx.Get(bManifests, key)
	if b == nil {
		return Image{}, false, nil
	}
	var rec imageRecord
	if err := decodeRecord(b, &rec); err != nil {
		return Image{}, true, corrupt("image", key, err)
	}
	img := rec.image(dg)
	if withLinks {
		img.Tags = tagsOf(tx, reg, repo, dg)
		img.Parents = parentsOf(tx, reg, repo, dg)
	}
	return img, true, nil
}

func putImage(tx kv.Tx, reg RegistryID, repo string, img *Image) error {
	rec := recordOf(img)
	b, err := encodeRecord(&rec)
	if err != nil {
		return err
	}
	return putRecord(tx, itemKey(reg, repo, string(img.Digest)), b)
}

// tagsOf lists the tags that point at dg, from the digest → tags index.
func tagsOf(tx kv.Tx, reg RegistryID, repo string, dg digest.Digest) (tags []string) {
	pre := itemKey(reg, repo, string(dg), "")
	tx.Scan(bDigestTags, pre, nil, func(k, v []byte) bool {
		tags = append(tags, string(k[len(pre):]))
		return true
	})
	return tags
}

// parentsOf lists the indexes that list dg.
func parentsOf(tx kv.Tx, reg RegistryID, repo string, dg digest.Digest) (parents []digest.Digest) {
	pre := itemKey(reg, repo, string(dg), "")
	tx.Scan(bParents, pre, nil, func(k, v []byte) bool {
		parents = append(parents, digest.Digest(k[len(pre):]))
		return true
	})
	return parents
}

// moveTag points tag from prev ("" if none) at dg (whose bytes are
// dgBytes), keeping the digest → tags index in step; keys builds the keys.
func moveTag(tx kv.Tx, keys *keyBuf, tag string, prev, dg digest.Digest, dgBytes []byte) error {
	if prev != "" {
		if err := tx.Delete(bDigestTags, keys.item(string(prev), tag)); err != nil {
			return err
		}
	}
	if err := tx.Put(bTags, keys.item(tag), dgBytes); err != nil {
		return err
	}
	return tx.Put(bDigestTags, keys.item(string(dg), tag), nil)
}

// removeTag deletes a tag and its index entry.
func removeTag(tx kv.Tx, reg RegistryID, repo, tag string, dg digest.Digest) error {
	if err := tx.Delete(bTags, itemKey(reg, repo, tag)); err != nil {
		return err
	}
	return tx.Delete(bDigestTags, itemKey(reg, repo, string(dg), tag))
}

// scanImages calls fn for each image of a repository in digest order,
// starting at the first digest ≥ from, until fn returns false. It reads
// chunk records at a time and fills in their tags and parents with one range
// scan of each index per chunk (not a seek per image), so a page of n images
// costs a seek and n steps in each of the three buckets.
func scanImages(tx kv.Tx, reg RegistryID, repo string, from string, chunk int, fn func(Image) bool) error {
	pre := inRepo(reg, repo)
	start := append(append([]byte{}, pre...), from...)
	batch := make([]Image, 0, chunk)
	for {
		batch = batch[:0]
		var ferr error
		tx.Scan(bManifests, pre, start, func(k, v []byte) bool {
			var rec imageRecord
			if err := decodeRecord(v, &rec); err != nil {
				ferr = corrupt("image", k, err)
				return false
			}
			batch = append(batch, rec.image(digest.Digest(k[len(pre):])))
			return len(batch) < chunk
		})
		if ferr != nil {
			return ferr
		}
		addLinks(tx, reg, repo, batch)
		for i := range batch {
			if !fn(batch[i]) {
				return nil
			}
		}
		if len(batch) < chunk {
			return nil
		}
		start = append(append(append(start[:0], pre...), batch[len(batch)-1].Digest...), 0)
	}
}

// addLinks fills in the tags and parents of imgs, images of one repository
// that follow each other in digest order: the index entries of a run of
// digests are one run of keys (reg|repo|digest|…), read with one scan.
func addLinks(tx kv.Tx, reg RegistryID, repo string, imgs []Image) {
	if len(imgs) == 0 {
		return
	}
	pre := inRepo(reg, repo)
	at := make(map[string]int, len(imgs))
	for i := range imgs {
		at[string(imgs[i].Digest)] = i
	}
	first := append(append([]byte{}, pre...), imgs[0].Digest...)
	// The keys of the last digest continue with the separator (NUL), so they
	// all sort before the same digest followed by \x01.
	end := append(append(append([]byte{}, pre...), imgs[len(imgs)-1].Digest...), 1)
	each := func(bucket string, add func(img *Image, last string)) {
		tx.Scan(bucket, pre, first, func(k, v []byte) bool {
			if bytes.Compare(k, end) >= 0 {
				return false
			}
			rest := k[len(pre):]
			if j := bytes.IndexByte(rest, 0); j > 0 {
				if i, ok := at[string(rest[:j])]; ok {
					add(&imgs[i], string(rest[j+1:]))
				}
			}
			return true
		})
	}
	each(bDigestTags, func(img *Image, tag string) { img.Tags = append(img.Tags, tag) })
	each(bParents, func(img *Image, parent string) { img.Parents = append(img.Parents, digest.Digest(parent)) })
}

// imageBatch is how many images the iterator reads per transaction.
const imageBatch = 256

// Images iterates over a repository's images in digest order, starting after
// the digest after ("" from the first). It reads a batch at a time in its own
// transaction, so the loop body may call back into core (a lifecycle rule
// deleting what it saw, say); it sees each image as it was when its batch was
// read. An unknown repository yields one error.
func (r *Registry) Images(ctx context.Context, reg RegistryID, repo string, after string) iter.Seq2[Image, error] {
	return func(yield func(Image, error) bool) {
		r.settlePulls()
		from := ""
		if after != "" {
			from = after + "\x00"
		}
		for {
			batch := make([]Image, 0, imageBatch)
			err := r.kv.View(func(tx kv.Tx) error {
				if err := getRepo(tx, reg, repo, nil); err != nil {
					return err
				}
				return scanImages(tx, reg, repo, from, imageBatch, func(img Image) bool {
					batch = append(batch, img)
					return len(batch) < imageBatch
				})
			})
			if err != nil {
				yield(Image{}, err)
				return
			}
			for _, img := range batch {
				if !yield(img, nil) {
					return
				}
			}
			if len(batch) < imageBatch {
				return
			}
			from = string(batch[len(batch)-1].Digest) + "\x00"
		}
	}
}

// ListImages returns every image of a repository, in digest order.
func (r *Registry) ListImages(ctx context.Context, reg RegistryID, repo string) ([]Image, error) {
	imgs, _, err := r.PageImages(ctx, reg, repo, ImagePage{})
	return imgs, err
}

// ImagePage asks for part of a repository's images, in digest order: those
// after the digest After that Match accepts (nil: all), at most Limit (0: all).
type ImagePage struct {
	After string
	Limit int
	Match func(*Image) bool
}

// PageImages lists one page of images and says whether more follow. It seeks
// to the page and reads only the records it looks at, so a page costs in
// proportion to its size, not to the repository's.
func (r *Registry) PageImages(ctx context.Context, reg RegistryID, repo string, p ImagePage) (imgs []Image, more bool, err error) {
	r.settlePulls()
	from := ""
	if p.After != "" {
		from = p.After + "\x00"
	}
	chunk := imageBatch // records read per scan: a page and the one that says more follow
	if p.Limit > 0 && p.Limit < imageBatch {
		chunk = p.Limit + 1
	}
	if p.Limit > 0 {
		imgs = make([]Image, 0, min(p.Limit, 1000)) // not grown image by image
	}
	err = r.kv.View(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		return scanImages(tx, reg, repo, from, chunk, func(img Image) bool {
			if p.Match != nil && !p.Match(&img) {
				return true
			}
			if p.Limit > 0 && len(imgs) == p.Limit {
				more = true
				return false
			}
			imgs = append(imgs, img)
			return true
		})
	})
	return imgs, more, err
}

// ResolveImage finds an image by digest and/or tag. With both, the tag must
// point at the digest (else KindManifestNotFound with a message saying so).
func (r *Registry) ResolveImage(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, tag string) (Image, error) {
	r.settlePulls()
	var img Image
	err := r.kv.View(func(tx kv.Tx) error {
		ref := tag
		if dg != "" {
			ref = string(dg)
		}
		d, err := resolve(tx, reg, repo, ref)
		if err != nil {
			return err
		}
		if tag != "" && dg != "" {
			if t := digest.Digest(tx.Get(bTags, itemKey(reg, repo, tag))); t != dg {
				return Errorf(KindManifestNotFound, "Invalid input: Image tag '%s' does not match the image digest '%s'", tag, dg)
			}
		}
		img, _, err = getImage(tx, reg, repo, d, true)
		return err
	})
	return img, err
}

// ManifestBytes returns a stored manifest's exact bytes without counting a pull.
func (r *Registry) ManifestBytes(ctx context.Context, reg RegistryID, repo string, dg digest.Digest) ([]byte, error) {
	var b []byte
	err := r.kv.View(func(tx kv.Tx) error {
		b = slices.Clone(manifestBody(tx, itemKey(reg, repo, string(dg))))
		if b == nil {
			return manifestNotFound(repo, string(dg))
		}
		return nil
	})
	return b, err
}

// SetStorageClass archives an image (ARCHIVE) or restores it (STANDARD).
func (r *Registry) SetStorageClass(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, archive bool) (Image, error) {
	var img Image
	var ev *Event
	err := r.kv.Update(func(tx kv.Tx) error {
		ev = nil
		if _, err := resolve(tx, reg, repo, string(dg)); err != nil {
			return err
		}
		var err error
		if img, _, err = getImage(tx, reg, repo, dg, true); err != nil {
			return err
		}
		now := r.clock.Now()
		var kind EventKind
		switch {
		case archive && !img.Archived:
			img.Archived, img.ArchivedAt, kind = true, now, EventImageArchived
		case !archive && img.Archived:
			img.Archived, img.ActivatedAt, kind = false, now, EventImageRestored
		default:
			return nil
		}
		e := r.imageEvent(ctx, kind, reg, repo, &img)
		ev = &e
		return putImage(tx, reg, repo, &img)
	})
	if err == nil && ev != nil {
		r.bus.publish(ctx, *ev)
	}
	return img, err
}

// imageEvent describes img for an event of kind.
func (r *Registry) imageEvent(ctx context.Context, kind EventKind, reg RegistryID, repo string, img *Image) Event {
	e := r.event(ctx, kind, reg, repo)
	e.Digest, e.MediaType, e.ArtifactType, e.Size = img.Digest, img.MediaType, img.ArtifactType, img.Size
	if img.Subject != nil {
		e.Subject = img.Subject.Digest
	}
	return e
}

// UntagImage removes a tag and, when that was the image's last tag, the
// image itself (ECR's BatchDeleteImage by tag), in one transaction. It
// returns the image as it was and whether the image was deleted.
func (r *Registry) UntagImage(ctx context.Context, reg RegistryID, repo, tag string) (Image, bool, error) {
	ev := r.event(ctx, EventDelete, reg, repo)
	ev.Target, ev.Tag = TargetTag, tag
	if err := r.bus.check(ctx, ev); err != nil {
		return Image{}, false, err
	}
	var (
		img     Image
		deleted bool
		events  []Event
	)
	err := r.kv.Update(func(tx kv.Tx) error {
		dg, err := resolve(tx, reg, repo, tag)
		if err != nil {
			return err
		}
		if img, _, err = getImage(tx, reg, repo, dg, true); err != nil {
			return err
		}
		ev.Digest, ev.MediaType, ev.ArtifactType = dg, img.MediaType, img.ArtifactType
		events = []Event{ev}
		if len(img.Tags) > 1 {
			return removeTag(tx, reg, repo, tag, dg)
		}
		if len(img.Parents) > 0 {
			return Errorf(KindManifestReferenced, "manifest %s is referenced by the manifest list %s", dg, img.Parents[0])
		}
		events, err = r.deleteManifestTx(ctx, tx, reg, repo, dg)
		deleted = err == nil
		return err
	})
	if err != nil {
		return Image{}, false, err
	}
	for _, e := range events {
		r.bus.publish(ctx, e)
	}
	return img, deleted, nil
}

// DeleteImages deletes images by digest, with their tags, in one
// transaction: what lifecycle expiry and other features acting for the
// registry use (mark ctx with their Cause). An index and the images it lists
// may go together; an image still listed by an index that stays is not
// deleted. It returns the images deleted, in the order they went, and why
// each other digest was not.
func (r *Registry) DeleteImages(ctx context.Context, reg RegistryID, repo string, digests []digest.Digest) ([]Image, map[digest.Digest]error, error) {
	failed := map[digest.Digest]error{}
	var allowed []digest.Digest
	for _, dg := range slices.Compact(slices.Sorted(slices.Values(digests))) {
		ev := r.event(ctx, EventDelete, reg, repo)
		ev.Target, ev.Digest = TargetManifest, dg
		if err := r.bus.check(ctx, ev); err != nil {
			failed[dg] = err
			continue
		}
		allowed = append(allowed, dg)
	}
	var (
		deleted []Image
		events  []Event
	)
	err := r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		pending := slices.Clone(allowed)
		for len(pending) > 0 {
			var blocked []digest.Digest
			for _, dg := range pending {
				img, found, err := getImage(tx, reg, repo, dg, true)
				if err != nil {
					return err
				}
				if !found {
					failed[dg] = manifestNotFound(repo, string(dg))
					continue
				}
				if len(img.Parents) > 0 {
					blocked = append(blocked, dg)
					continue
				}
				evs, err := r.deleteManifestTx(ctx, tx, reg, repo, dg)
				if err != nil {
					return err
				}
				deleted, events = append(deleted, img), append(events, evs...)
			}
			if len(blocked) == len(pending) {
				// Nothing more came free: what is left is listed by indexes that stay.
				for _, dg := range blocked {
					parents := parentsOf(tx, reg, repo, dg)
					failed[dg] = Errorf(KindManifestReferenced, "manifest %s is referenced by the manifest list %s", dg, parents[0])
				}
				break
			}
			pending = blocked
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range events {
		r.bus.publish(ctx, e)
	}
	return deleted, failed, nil
}

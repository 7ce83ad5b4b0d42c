package core

import (
	"context"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Image is a stored manifest with the tags that point at it.
type Image struct {
	Manifest
	Tags []string
}

// Status is ECR's imageStatus: ACTIVE, ARCHIVED or ACTIVATING.
func (m *Manifest) Status(now time.Time, restoreDelay time.Duration) string {
	switch {
	case m.Archived:
		return "ARCHIVED"
	case !m.ActivatedAt.IsZero() && now.Before(m.ActivatedAt.Add(restoreDelay)):
		return "ACTIVATING"
	}
	return "ACTIVE"
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
// to the page and decodes only the records it looks at, so listing a large
// repository page by page costs time in proportion to its size.
func (r *Registry) PageImages(ctx context.Context, reg RegistryID, repo string, p ImagePage) (imgs []Image, more bool, err error) {
	r.settlePulls()
	err = r.kv.View(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		pre := inRepo(reg, repo)
		tags := map[digest.Digest][]string{}
		tx.Scan(bTags, pre, nil, func(k, v []byte) bool {
			d := digest.Digest(v)
			tags[d] = append(tags[d], string(k[len(pre):]))
			return true
		})
		var derr error
		tx.Scan(bManifests, pre, after(pre, p.After), func(k, v []byte) bool {
			var img Image
			if derr = jsonUnmarshal(v, &img.Manifest); derr != nil {
				return false
			}
			img.Tags = tags[img.Digest]
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
		return derr
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
		if _, err := getJSON(tx, bManifests, itemKey(reg, repo, string(d)), &img.Manifest); err != nil {
			return err
		}
		img.Tags = tagsOf(tx, reg, repo, d)
		return nil
	})
	return img, err
}

// ManifestBytes returns a stored manifest's exact bytes without counting a pull.
func (r *Registry) ManifestBytes(ctx context.Context, reg RegistryID, repo string, dg digest.Digest) ([]byte, error) {
	var b []byte
	err := r.kv.View(func(tx kv.Tx) error {
		b = append([]byte(nil), tx.Get(bBytes, itemKey(reg, repo, string(dg)))...)
		if b == nil {
			return manifestNotFound(repo, string(dg))
		}
		return nil
	})
	return b, err
}

// SetStorageClass archives an image (ARCHIVE) or restores it (STANDARD).
func (r *Registry) SetStorageClass(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, archive bool) (Manifest, error) {
	var m Manifest
	err := r.kv.Update(func(tx kv.Tx) error {
		if _, err := resolve(tx, reg, repo, string(dg)); err != nil {
			return err
		}
		key := itemKey(reg, repo, string(dg))
		if _, err := getJSON(tx, bManifests, key, &m); err != nil {
			return err
		}
		now := r.clock.Now()
		switch {
		case archive && !m.Archived:
			m.Archived, m.ArchivedAt = true, now
		case !archive && m.Archived:
			m.Archived, m.ActivatedAt = false, now
		default:
			return nil
		}
		return putJSON(tx, bManifests, key, m)
	})
	return m, err
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
		if _, err := getJSON(tx, bManifests, itemKey(reg, repo, string(dg)), &img.Manifest); err != nil {
			return err
		}
		img.Tags = tagsOf(tx, reg, repo, dg)
		ev.Digest, ev.MediaType = dg, img.MediaType
		events = []Event{ev}
		if len(img.Tags) > 1 {
			return tx.Delete(bTags, itemKey(reg, repo, tag))
		}
		del := r.event(ctx, EventDelete, reg, repo)
		del.Target, del.Digest, del.MediaType, del.Size = TargetManifest, dg, img.MediaType, img.Size
		if _, tagEvents, err := r.deleteManifestTx(ctx, tx, reg, repo, dg); err != nil {
			return err
		} else {
			events = append(tagEvents, del)
		}
		deleted = true
		return nil
	})
	if err != nil {
		return Image{}, false, err
	}
	for _, e := range events {
		r.bus.publish(e)
	}
	return img, deleted, nil
}

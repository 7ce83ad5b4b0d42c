package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The index push goes through go-containerregistry's remote.WriteIndex, the
// code `crane push` and `crane copy` run, with its default concurrency (4
// jobs: remote.WithJobs is not set). The index and its images are served to
// it from the same bytes the raw client uses, so the pushed manifests and
// digests are the bench's own.
//
// For each child image WriteIndex sends HEAD of the manifest (404), HEAD of
// the config and of the layer (both already pushed, so nothing is uploaded),
// then PUT of the manifest by digest; then HEAD of the index by tag (404) and
// PUT of the index. Each call starts with a GET /v2/ ping.

// craneTransport is a fresh copy of remote.DefaultTransport (crane's) for one
// registry, so that registries share no connections; no proxy.
func craneTransport() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return t
}

// writeIndex pushes ix to repo:tag with remote.WriteIndex.
func (r *reg) writeIndex(ctx context.Context, repo, tag string, ix *craneIndex) error {
	ref, err := name.NewTag(r.base.Host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, ix, remote.WithTransport(r.crane), remote.WithAuth(authn.Anonymous), remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("%s: remote.WriteIndex %s: %w", r.name, ref, err)
	}
	return nil
}

// craneIndex is an indexSet as a v1.ImageIndex.
type craneIndex struct {
	raw    []byte
	digest v1.Hash
	mf     *v1.IndexManifest
	images map[v1.Hash]*image
}

var _ v1.ImageIndex = (*craneIndex)(nil)

func newCraneIndex(s indexSet) (*craneIndex, error) {
	mf, err := v1.ParseIndexManifest(bytes.NewReader(s.index))
	if err != nil {
		return nil, err
	}
	dg, err := v1.NewHash(sha256Digest(s.index))
	if err != nil {
		return nil, err
	}
	x := &craneIndex{raw: s.index, digest: dg, mf: mf, images: make(map[v1.Hash]*image, len(s.images))}
	for i := range s.images {
		h, err := v1.NewHash(s.images[i].manifest.digest)
		if err != nil {
			return nil, err
		}
		x.images[h] = &s.images[i]
	}
	return x, nil
}

func (x *craneIndex) MediaType() (types.MediaType, error)       { return types.OCIImageIndex, nil }
func (x *craneIndex) Digest() (v1.Hash, error)                  { return x.digest, nil }
func (x *craneIndex) Size() (int64, error)                      { return int64(len(x.raw)), nil }
func (x *craneIndex) IndexManifest() (*v1.IndexManifest, error) { return x.mf, nil }
func (x *craneIndex) RawManifest() ([]byte, error)              { return x.raw, nil }

func (x *craneIndex) Image(h v1.Hash) (v1.Image, error) {
	im, ok := x.images[h]
	if !ok {
		return nil, fmt.Errorf("no image %s in the index", h)
	}
	return partial.CompressedToImage(craneImage{im})
}

func (x *craneIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("no nested index %s", h)
}

// craneImage is one tiny image as a partial.CompressedImageCore.
type craneImage struct{ im *image }

func (c craneImage) RawConfigFile() ([]byte, error)      { return c.im.config.data, nil }
func (c craneImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c craneImage) RawManifest() ([]byte, error)        { return c.im.manifest.data, nil }

func (c craneImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	switch h.String() {
	case c.im.layer.digest:
		return craneBlob{c.im.layer, mediaTypeLayer}, nil
	case c.im.config.digest:
		return craneBlob{c.im.config, mediaTypeConfig}, nil
	}
	return nil, fmt.Errorf("no blob %s in the image", h)
}

// craneBlob is a blob as a partial.CompressedLayer.
type craneBlob struct {
	b  blob
	mt string
}

func (c craneBlob) Digest() (v1.Hash, error) { return v1.NewHash(c.b.digest) }
func (c craneBlob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.b.data)), nil
}
func (c craneBlob) Size() (int64, error)                { return int64(len(c.b.data)), nil }
func (c craneBlob) MediaType() (types.MediaType, error) { return types.MediaType(c.mt), nil }

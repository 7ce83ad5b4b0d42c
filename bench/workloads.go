package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// makeLayer returns a valid gzip stream of about size bytes whose content is
// pseudo-random, hence incompressible (stored deflate blocks).
func makeLayer(size int) ([]byte, error) {
	src := make([]byte, size-size/65535*5-64) // leave room for the block headers
	rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'}).Read(src)
	var buf bytes.Buffer
	buf.Grow(size)
	zw, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// varyLayer makes the layer's bytes (and digest) unique to rep by setting the
// gzip header's MTIME field; it stays a valid gzip stream.
func varyLayer(layer []byte, rep int) string {
	binary.LittleEndian.PutUint32(layer[4:8], uint32(1_700_000_000+rep))
	return sha256Digest(layer)
}

// bigBlob measures pushing and pulling one large layer; it returns MiB/s.
func bigBlob(r *reg, repo string, layer []byte, dg string) (push, pull float64, err error) {
	mib := float64(len(layer)) / (1 << 20)
	t := time.Now()
	if err := r.pushBlob(repo, layer, dg); err != nil {
		return 0, 0, err
	}
	push = mib / time.Since(t).Seconds()
	t = time.Now()
	n, err := r.pullBlob(repo, dg)
	if err != nil {
		return 0, 0, err
	}
	pull = mib / time.Since(t).Seconds()
	if n != int64(len(layer)) {
		return 0, 0, fmt.Errorf("%s: pulled %d bytes, pushed %d", r.name, n, len(layer))
	}
	// Free the memory (ggcr) and disk (berth) before the next round.
	return push, pull, r.deleteBlob(repo, dg)
}

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int       `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

type blob struct {
	data   []byte
	digest string
}

// image is a tiny image: its two blobs and its manifest.
type image struct {
	config, layer, manifest blob
}

func newBlob(b []byte) blob { return blob{data: b, digest: sha256Digest(b)} }

// makeImage builds a unique tiny image; tag makes its bytes unique.
func makeImage(tag string) image {
	var im image
	im.config = newBlob(fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"bench":%q}}}`, tag))
	im.layer = newBlob(fmt.Appendf(nil, "tiny layer %s", tag))
	m, _ := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        &descriptor{MediaType: mediaTypeConfig, Digest: im.config.digest, Size: len(im.config.data)},
		Layers:        []descriptor{{MediaType: mediaTypeLayer, Digest: im.layer.digest, Size: len(im.layer.data)}},
	})
	im.manifest = newBlob(m)
	return im
}

// indexSet is an index of n tiny images, built before anything is timed.
type indexSet struct {
	images []image
	index  []byte
}

func makeIndex(n int, prefix string) indexSet {
	s := indexSet{images: make([]image, n)}
	idx := manifest{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: make([]descriptor, n)}
	for i := range s.images {
		im := makeImage(fmt.Sprintf("%s-%d", prefix, i))
		s.images[i] = im
		idx.Manifests[i] = descriptor{MediaType: mediaTypeManifest, Digest: im.manifest.digest,
			Size: len(im.manifest.data), Platform: &platform{Architecture: "amd64", OS: "linux"}}
	}
	s.index, _ = json.Marshal(idx)
	return s
}

// indexTimes are the three phases of the index workload, in seconds.
type indexTimes struct{ blobs, push, pull float64 }

// indexRound pushes every blob one after the other over the one connection,
// then the manifests and the index (by tag) with remote.WriteIndex and its
// default 4 jobs, then pulls the index and each child manifest back over the
// one connection.
func indexRound(ctx context.Context, r *reg, repo string, s indexSet) (indexTimes, error) {
	var out indexTimes
	ix, err := newCraneIndex(s)
	if err != nil {
		return out, err
	}
	t := time.Now()
	for _, im := range s.images {
		if err := r.pushBlob(repo, im.config.data, im.config.digest); err != nil {
			return out, err
		}
		if err := r.pushBlob(repo, im.layer.data, im.layer.digest); err != nil {
			return out, err
		}
	}
	out.blobs = time.Since(t).Seconds()

	t = time.Now()
	if err := r.writeIndex(ctx, repo, "index", ix); err != nil {
		return out, err
	}
	out.push = time.Since(t).Seconds()

	t = time.Now()
	body, err := r.getManifest(repo, "index")
	if err != nil {
		return out, err
	}
	var idx manifest
	if err := json.Unmarshal(body, &idx); err != nil {
		return out, fmt.Errorf("%s: pulled index: %w", r.name, err)
	}
	if len(idx.Manifests) != len(s.images) {
		return out, fmt.Errorf("%s: pulled index has %d manifests, want %d", r.name, len(idx.Manifests), len(s.images))
	}
	for _, d := range idx.Manifests {
		b, err := r.getManifest(repo, d.Digest)
		if err != nil {
			return out, err
		}
		if len(b) != d.Size {
			return out, fmt.Errorf("%s: manifest %s is %d bytes, want %d", r.name, d.Digest, len(b), d.Size)
		}
	}
	out.pull = time.Since(t).Seconds()
	return out, nil
}

// smallBlobs returns the config and layer blobs of s's images, 2 per image.
func smallBlobs(s indexSet) []blob {
	out := make([]blob, 0, 2*len(s.images))
	for _, im := range s.images {
		out = append(out, im.config, im.layer)
	}
	return out
}

// pushConcurrent pushes blobs into repo from every client at once (each its
// own keep-alive connection), each blob POST+PUT monolithically, the clients
// taking the next blob from a shared counter; it returns seconds.
func pushConcurrent(clients []*reg, repo string, blobs []blob) (float64, error) {
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	t := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				j := int(next.Add(1) - 1)
				if j >= len(blobs) {
					return
				}
				if err := c.pushBlob(repo, blobs[j].data, blobs[j].digest); err != nil {
					errs[i] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t).Seconds()
	return d, errors.Join(errs...)
}

// pushHot pushes one tiny image tagged "hot" for the GET loop.
func pushHot(r *reg, repo string, im image) error {
	for _, b := range []blob{im.config, im.layer} {
		if err := r.pushBlob(repo, b.data, b.digest); err != nil {
			return err
		}
	}
	return r.putManifest(repo, "hot", im.manifest.data, mediaTypeManifest)
}

// manifestGets GETs the "hot" tag n times over the client's one keep-alive
// connection and returns milliseconds per GET.
func manifestGets(r *reg, repo string, n, size int) (float64, error) {
	t := time.Now()
	for range n {
		b, err := r.getManifest(repo, "hot")
		if err != nil {
			return 0, err
		}
		if len(b) != size {
			return 0, fmt.Errorf("%s: hot manifest is %d bytes, want %d", r.name, len(b), size)
		}
	}
	return float64(time.Since(t).Microseconds()) / 1000 / float64(n), nil
}

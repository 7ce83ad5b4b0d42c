package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Benchmarks of the image index: one repository holding N images, on both
// store backends. Run them with
//
//	go test ./core -run '^$' -bench Index
//
// or `go run ./bench/index`, which runs them at 1k and 10k images and prints
// the growth ratios and the targets. No test here asserts a time.
//
// Populating: a template repository is filled once per N through core's own
// PutBlob and PutManifest on the memory store (tiny manifests naming one
// config and one layer blob pushed once; one tag each), and every fixture
// copies the template's records as they are into fresh stores, all in one
// transaction. A bbolt commit costs ~2.5 ms here, so pushing 10,000 images one
// at a time would take half a minute per fixture; the copy writes the very
// same keys and values.

// IndexSizes are the repository sizes the index benchmarks run at.
var indexSizes = []int{1000, 10000}

const indexRepo = "bench"

// indexTemplate is a memory store holding one repository of n images.
type indexTemplate struct {
	n       int
	kv      kv.Store
	blobs   map[digest.Digest][]byte // the config and layer, pushed once
	digests []digest.Digest          // in digest order
	tags    []string                 // tags[i] points at the image pushed i-th
	tagged  map[digest.Digest]string // a digest's tag
}

var (
	templatesMu sync.Mutex
	templates   = map[int]*indexTemplate{}
)

// indexTag names the i-th image pushed.
func indexTag(i int) string { return fmt.Sprintf("t%05d", i) }

// templateOf returns the populated template for n images, building it once.
func templateOf(tb testing.TB, n int) *indexTemplate {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if t := templates[n]; t != nil {
		return t
	}
	t := &indexTemplate{n: n, kv: kv.NewMem(), blobs: map[digest.Digest][]byte{}, tagged: map[digest.Digest]string{}}
	r, err := Open(Options{KV: t.kv, Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Bus().Close() // the store stays open: it is the template
	ctx := context.Background()
	if _, err := r.CreateRepository(ctx, regA, indexRepo); err != nil {
		tb.Fatal(err)
	}
	put := func(content []byte, mt string) Descriptor {
		d := digest.FromBytes(content)
		if _, err := r.PutBlob(ctx, regA, indexRepo, d, strings.NewReader(string(content))); err != nil {
			tb.Fatal(err)
		}
		t.blobs[d] = content
		return Descriptor{MediaType: mt, Digest: d, Size: int64(len(content))}
	}
	cfg := put([]byte(`{"architecture":"amd64","os":"linux"}`), mtConfig)
	layer := put([]byte("the one layer every benchmark image lists"), mtLayer)
	for i := range n {
		body, err := json.Marshal(manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfg,
			Layers: []Descriptor{layer}, Annotations: map[string]string{"n": fmt.Sprint(i)}})
		if err != nil {
			tb.Fatal(err)
		}
		img, err := r.PutManifest(ctx, regA, indexRepo, PutManifestInput{Reference: indexTag(i), ContentType: MediaTypeOCIManifest, Body: body})
		if err != nil {
			tb.Fatal(err)
		}
		t.digests = append(t.digests, img.Digest)
		t.tags = append(t.tags, indexTag(i))
		t.tagged[img.Digest] = indexTag(i)
	}
	slices.Sort(t.digests)
	templates[n] = t
	return t
}

// indexBackend opens a fresh, empty pair of stores under dir.
type indexBackend struct {
	name string
	open func(tb testing.TB, dir string) (kv.Store, blob.Store)
}

var indexBackends = []indexBackend{
	{name: "bolt", open: func(tb testing.TB, dir string) (kv.Store, blob.Store) {
		m, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
		if err != nil {
			tb.Fatal(err)
		}
		b, err := blob.NewFS(filepath.Join(dir, "data"))
		if err != nil {
			tb.Fatal(err)
		}
		return m, b
	}},
	{name: "mem", open: func(tb testing.TB, dir string) (kv.Store, blob.Store) {
		return kv.NewMem(), blob.NewMem()
	}},
}

// indexFixture is a Registry over fresh stores holding a copy of a template.
type indexFixture struct {
	*indexTemplate
	r   *Registry
	dir string
}

func (f *indexFixture) close() {
	f.r.Close()
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// openIndex copies the template for n images into fresh stores of backend,
// under a new directory inside parent.
func openIndex(tb testing.TB, be indexBackend, n int, parent string) *indexFixture {
	t := templateOf(tb, n)
	dir, err := os.MkdirTemp(parent, be.name)
	if err != nil {
		tb.Fatal(err)
	}
	m, bs := be.open(tb, dir)
	for d, content := range t.blobs {
		up, err := bs.CreateUpload("seed")
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.Copy(up, strings.NewReader(string(content))); err != nil {
			tb.Fatal(err)
		}
		if _, err := up.Commit(d); err != nil {
			tb.Fatal(err)
		}
	}
	err = m.Update(func(dst kv.Tx) error {
		return t.kv.View(func(src kv.Tx) error {
			for _, bucket := range append(slices.Clone(allBuckets), bMeta) {
				var perr error
				src.Scan(bucket, nil, nil, func(k, v []byte) bool {
					perr = dst.Put(bucket, k, v)
					return perr == nil
				})
				if perr != nil {
					return perr
				}
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	var version []byte
	m.View(func(tx kv.Tx) error { version = slices.Clone(tx.Get(bMeta, schemaKey)); return nil })
	if string(version) != schemaVersion {
		tb.Fatalf("the copy has layout version %q, want %s: the template was not copied whole", version, schemaVersion)
	}
	r, err := Open(Options{KV: m, Blobs: bs, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return &indexFixture{indexTemplate: t, r: r, dir: dir}
}

// BenchmarkIndex measures the image index of one repository of N images, per
// backend and N: BenchmarkIndex/<backend>/n=<N>/<operation>.
func BenchmarkIndex(b *testing.B) {
	ctx := context.Background()
	for _, be := range indexBackends {
		for _, n := range indexSizes {
			b.Run(fmt.Sprintf("%s/n=%d", be.name, n), func(b *testing.B) {
				f := openIndex(b, be, n, b.TempDir())
				defer f.close()
				mid := f.digests[n/2-1] // the (N/2)th digest: a page after it is the middle one
				pages := []struct{ name, after string }{
					{"start", ""},
					{"middle", string(mid)},
					{"end", string(f.digests[n-101])},
				}

				b.Run("Images", func(b *testing.B) {
					for b.Loop() {
						count := 0
						for _, err := range f.r.Images(ctx, regA, indexRepo, "") {
							if err != nil {
								b.Fatal(err)
							}
							count++
						}
						if count != n {
							b.Fatalf("iterated %d images, want %d", count, n)
						}
					}
				})

				for _, p := range pages {
					b.Run("PageImages100/"+p.name, func(b *testing.B) {
						for b.Loop() {
							imgs, _, err := f.r.PageImages(ctx, regA, indexRepo, ImagePage{After: p.after, Limit: 100})
							if err != nil || len(imgs) != 100 {
								b.Fatalf("page: %d images, %v", len(imgs), err)
							}
						}
					})
				}

				b.Run("ResolveImage/tag", func(b *testing.B) {
					tag := f.tagged[mid]
					for b.Loop() {
						img, err := f.r.ResolveImage(ctx, regA, indexRepo, "", tag)
						if err != nil || img.Digest != mid {
							b.Fatal(img.Digest, err)
						}
					}
				})
				b.Run("ResolveImage/digest", func(b *testing.B) {
					for b.Loop() {
						img, err := f.r.ResolveImage(ctx, regA, indexRepo, mid, "")
						if err != nil || len(img.Tags) != 1 {
							b.Fatal(img.Tags, err)
						}
					}
				})

				for _, p := range []struct{ name, last string }{{"start", ""}, {"middle", f.tags[n/2-1]}} {
					b.Run("ListTags100/"+p.name, func(b *testing.B) {
						for b.Loop() {
							tags, _, err := f.r.ListTags(ctx, regA, indexRepo, Page{Last: p.last, N: 100})
							if err != nil || len(tags) != 100 {
								b.Fatalf("page: %d tags, %v", len(tags), err)
							}
						}
					})
				}

				// Half the repository in one call (5,000 of 10,000): every
				// iteration deletes from a fresh copy, made with the timer stopped.
				b.Run("DeleteImagesHalf", func(b *testing.B) {
					victims := make([]digest.Digest, 0, n/2)
					for i := 0; i < n; i += 2 {
						victims = append(victims, f.digests[i])
					}
					parent := b.TempDir()
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						g := openIndex(b, be, n, parent)
						b.StartTimer()
						deleted, failed, err := g.r.DeleteImages(ctx, regA, indexRepo, victims)
						b.StopTimer()
						if err != nil || len(deleted) != n/2 || len(failed) != 0 {
							b.Fatalf("deleted %d, failed %v, %v", len(deleted), failed, err)
						}
						g.close()
						b.StartTimer()
					}
				})
			})
		}
	}
}

package core

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/internal/benchcpu"
	"github.com/opencontainers/go-digest"
)

// BenchmarkPush measures pushes as clients make them, on both store
// backends (bolt = bbolt + fs blobs in a temporary directory, every commit
// synced, as berth serve runs them; mem = --memory):
//
//	blob            a small blob (≈ 40 B) through an upload session: StartUpload (POST), then
//	                CompleteUpload with the bytes (PUT ?digest=), one client
//	blob/clients=8  the same from 8 goroutines at once
//	manifest/jobs=4 PutManifest of distinct tiny manifests from 4 goroutines (crane's default)
//
//	go test ./core -run '^$' -bench Push -count 10
func BenchmarkPush(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) (kv.Store, blob.Store)
	}{
		{"bolt", func(b *testing.B) (kv.Store, blob.Store) {
			dir := b.TempDir()
			m, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
			if err != nil {
				b.Fatal(err)
			}
			s, err := blob.NewFS(filepath.Join(dir, "data"))
			if err != nil {
				b.Fatal(err)
			}
			return m, s
		}},
		{"mem", func(*testing.B) (kv.Store, blob.Store) { return kv.NewMem(), blob.NewMem() }},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.Run("blob", func(b *testing.B) { benchBlobPush(b, st.open, 0) })
			b.Run("blob/clients=8", func(b *testing.B) { benchBlobPush(b, st.open, 8) })
			b.Run("manifest/jobs=4", func(b *testing.B) { benchManifestPush(b, st.open, 4) })
		})
	}
}

var pushRound atomic.Int64

func pushRegistry(b *testing.B, open func(b *testing.B) (kv.Store, blob.Store)) *Registry {
	m, s := open(b)
	o := Options{KV: m, Blobs: s, CreateOnPush: true, Log: slog.New(slog.DiscardHandler)}
	if _, mem := m.(*kv.Mem); !mem {
		o.InlineBlobs = DefaultInlineBlobs // as berth serve runs on disk
	}
	r := New(o)
	b.Cleanup(func() { r.Close() })
	if _, err := r.CreateRepository(context.Background(), regA, "bench"); err != nil {
		b.Fatal(err)
	}
	return r
}

// inParallel runs op(i) for i in [0, b.N) from n goroutines taking the
// next i from a shared counter (one after another for n = 0).
func inParallel(b *testing.B, n int, op func(i int) error) {
	if n == 0 {
		for i := 0; i < b.N; i++ {
			if err := op(i); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func benchBlobPush(b *testing.B, open func(b *testing.B) (kv.Store, blob.Store), clients int) {
	r := pushRegistry(b, open)
	ctx := context.Background()
	round := pushRound.Add(1)
	b.ReportAllocs()
	defer reportWrites(b, r)()
	b.ResetTimer()
	benchcpu.PerOp(b)
	inParallel(b, clients, func(i int) error {
		content := fmt.Appendf(nil, "small blob %d of round %d", i, round)
		st, err := r.StartUpload(ctx, regA, "bench")
		if err != nil {
			return err
		}
		_, err = r.CompleteUpload(ctx, regA, "bench", st.ID, -1, bytes.NewReader(content), digest.FromBytes(content))
		return err
	})
}

func benchManifestPush(b *testing.B, open func(b *testing.B) (kv.Store, blob.Store), jobs int) {
	r := pushRegistry(b, open)
	ctx := context.Background()
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","round":%d}`, pushRound.Add(1))
	if _, err := r.PutBlob(ctx, regA, "bench", digest.FromBytes(cfg), bytes.NewReader(cfg)); err != nil {
		b.Fatal(err)
	}
	round := pushRound.Add(1)
	b.ReportAllocs()
	defer reportWrites(b, r)()
	b.ResetTimer()
	benchcpu.PerOp(b)
	inParallel(b, jobs, func(i int) error {
		body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"annotations":{"n":"%d-%d"}}`,
			digest.FromBytes(cfg), len(cfg), round, i)
		_, err := r.PutManifest(ctx, regA, "bench", PutManifestInput{Reference: digest.FromBytes(body).String(), Body: body})
		return err
	})
}

// reportWrites, on a bbolt store, reports the commits and the pages they
// wrote (meta pages included) per operation from now until the function it
// returns is called.
func reportWrites(b *testing.B, r *Registry) func() {
	bs, ok := r.kv.(*kv.Bolt)
	if !ok {
		return func() {}
	}
	c0, p0 := bs.WriteCounts()
	return func() {
		c1, p1 := bs.WriteCounts()
		b.ReportMetric(float64(c1-c0)/float64(b.N), "commits/op")
		b.ReportMetric(float64(p1-p0)/float64(b.N), "pages/op")
	}
}

package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/benchcpu"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The benchmarks here run the whole request path — net/http, the server's
// middleware, the /v2 handler, core and the stores — over loopback
// keep-alive connections, against berth in memory, berth on disk and
// go-containerregistry's in-memory registry (the peer of bench/'s
// "berth --memory vs ggcr" rows) side by side, so that a CPU profile of one
// can be read against the other's. Each sub-benchmark's ns/op includes the
// client's work, the same for every registry.

const (
	benchManifestType = "application/vnd.oci.image.manifest.v1+json"
	benchIndexType    = "application/vnd.oci.image.index.v1+json"
)

// benchTarget is one registry under test, served by httptest.
type benchTarget struct {
	name string
	url  string
	c    *http.Client
	h    http.Handler
}

func benchTargets(b *testing.B) []benchTarget {
	var out []benchTarget
	add := func(name string, h http.Handler) {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
		b.Cleanup(c.CloseIdleConnections)
		out = append(out, benchTarget{name: name, url: srv.URL, c: c, h: h})
	}
	for _, memory := range []bool{true, false} {
		cfg := Defaults()
		cfg.Memory, cfg.NoAuth, cfg.CreateOnPush = memory, true, true
		cfg.DataDir = b.TempDir()
		cfg.Log = slog.New(slog.DiscardHandler)
		cfg.LifecycleInterval = 0
		s, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Shutdown(b.Context()) })
		name := "berth-disk"
		if memory {
			name = "berth-memory"
		}
		add(name, s.Handler())
	}
	add("ggcr", registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	return out
}

func benchDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (t benchTarget) do(b *testing.B, method, path string, body []byte, header http.Header, want int) *http.Response {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if path[0] == '/' {
		u = t.url + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := t.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.Fatalf("%s: %s %s: %d, want %d: %s", t.name, method, path, resp.StatusCode, want, msg)
	}
	return resp
}

func drain(resp *http.Response) int64 {
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return n
}

// pushBlob uploads data as the bench's clients do: POST, then PUT ?digest=.
func (t benchTarget) pushBlob(b *testing.B, repo string, data []byte) string {
	dg := benchDigest(data)
	resp := t.do(b, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	drain(resp)
	loc, err := resp.Location()
	if err != nil {
		b.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", dg)
	loc.RawQuery = q.Encode()
	drain(t.do(b, http.MethodPut, loc.String(), data, http.Header{"Content-Type": {"application/octet-stream"}}, http.StatusCreated))
	return dg
}

// imageSeq makes the images each benchmark run pushes new: a run of a
// benchmark with -count above 1, or with a fixed -benchtime Nx, sees the same
// b.N again, and would find images a run before it pushed.
var imageSeq atomic.Int64

// tinyImage pushes a config and a layer unique to tag and returns the
// manifest that lists them.
func (t benchTarget) tinyImage(b *testing.B, repo, tag string) []byte {
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"bench":%q}}}`, tag)
	layer := fmt.Appendf(nil, "tiny layer %s", tag)
	cd, ld := t.pushBlob(b, repo, cfg), t.pushBlob(b, repo, layer)
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		benchManifestType, cd, len(cfg), ld, len(layer))
}

func (t benchTarget) putManifest(b *testing.B, repo, ref string, body []byte, mediaType string) {
	drain(t.do(b, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, http.Header{"Content-Type": {mediaType}}, http.StatusCreated))
}

var acceptManifests = http.Header{"Accept": {benchManifestType + ", " + benchIndexType}}

// BenchmarkManifestGet is bench/'s "manifest GET by tag, keep-alive" row:
// one client GETs one tag over and over.
func BenchmarkManifestGet(b *testing.B) {
	for _, t := range benchTargets(b) {
		m := t.tinyImage(b, "bench", "hot")
		t.putManifest(b, "bench", "hot", m, benchManifestType)
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				if n := drain(t.do(b, http.MethodGet, "/v2/bench/manifests/hot", nil, acceptManifests, http.StatusOK)); n != int64(len(m)) {
					b.Fatalf("got %d bytes, want %d", n, len(m))
				}
			}
		})
	}
}

// BenchmarkManifestGetParallel is the same GET from several clients at once.
func BenchmarkManifestGetParallel(b *testing.B) {
	for _, t := range benchTargets(b) {
		m := t.tinyImage(b, "bench", "hot")
		t.putManifest(b, "bench", "hot", m, benchManifestType)
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					drain(t.do(b, http.MethodGet, "/v2/bench/manifests/hot", nil, acceptManifests, http.StatusOK))
				}
			})
		})
	}
}

// BenchmarkSmallBlobPush is bench/'s small blob rows: one blob of a few
// dozen bytes per POST+PUT, each blob new.
func BenchmarkSmallBlobPush(b *testing.B) {
	var seq atomic.Int64
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				t.pushBlob(b, "bench", []byte("tiny blob "+strconv.FormatInt(seq.Add(1), 10)))
			}
		})
	}
}

// BenchmarkSmallBlobPushParallel pushes small blobs from several clients.
func BenchmarkSmallBlobPushParallel(b *testing.B) {
	var seq atomic.Int64
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t.pushBlob(b, "bench", []byte("tiny blob "+strconv.FormatInt(seq.Add(1), 10)))
				}
			})
		})
	}
}

// BenchmarkManifestHeadPut is what remote.WriteIndex does per child of an
// index: HEAD the manifest (absent), then PUT it by digest. The blobs it
// lists are pushed before the timer starts.
func BenchmarkManifestHeadPut(b *testing.B) {
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			ms := make([][]byte, b.N)
			for i := range ms {
				ms[i] = t.tinyImage(b, "bench", t.name+"-"+strconv.FormatInt(imageSeq.Add(1), 10))
			}
			b.ReportAllocs()
			b.ResetTimer()
			benchcpu.PerOp(b)
			for i := range b.N {
				dg := benchDigest(ms[i])
				drain(t.do(b, http.MethodHead, "/v2/bench/manifests/"+dg, nil, acceptManifests, http.StatusNotFound))
				t.putManifest(b, "bench", dg, ms[i], benchManifestType)
			}
		})
	}
}

// BenchmarkManifestGetByDigest is the index pull row's work per child: a GET
// by digest of a different small manifest each time.
func BenchmarkManifestGetByDigest(b *testing.B) {
	const n = 200
	for _, t := range benchTargets(b) {
		dgs := make([]string, n)
		for i := range dgs {
			m := t.tinyImage(b, "bench", "d"+strconv.Itoa(i))
			dgs[i] = benchDigest(m)
			t.putManifest(b, "bench", dgs[i], m, benchManifestType)
		}
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			i := 0
			for b.Loop() {
				drain(t.do(b, http.MethodGet, "/v2/bench/manifests/"+dgs[i%n], nil, acceptManifests, http.StatusOK))
				i++
			}
		})
	}
}

// BenchmarkBlobPull is the large blob pull row, on a 16 MiB blob.
func BenchmarkBlobPull(b *testing.B) {
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, t := range benchTargets(b) {
		dg := t.pushBlob(b, "bench", data)
		b.Run(t.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if n := drain(t.do(b, http.MethodGet, "/v2/bench/blobs/"+dg, nil, nil, http.StatusOK)); n != int64(len(data)) {
					b.Fatalf("got %d bytes", n)
				}
			}
		})
	}
}

// nullWriter is a ResponseWriter that keeps nothing but the status, so that
// BenchmarkHandlerManifestGet measures the handler stack alone.
type nullWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *nullWriter) Header() http.Header { return w.h }
func (w *nullWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *nullWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}

// BenchmarkHandlerManifestGet calls each registry's handler directly, no
// network and no net/http server: what the registry itself does per GET.
func BenchmarkHandlerManifestGet(b *testing.B) {
	for _, t := range benchTargets(b) {
		m := t.tinyImage(b, "bench", "hot")
		t.putManifest(b, "bench", "hot", m, benchManifestType)
		b.Run(t.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v2/bench/manifests/hot", nil)
			req.Header = acceptManifests.Clone()
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				w := &nullWriter{h: http.Header{}}
				t.h.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.n != len(m) {
					b.Fatalf("status %d, %d bytes", w.status, w.n)
				}
			}
		})
	}
}

// BenchmarkHandlerSmallBlobPush is a small blob's POST and PUT through each
// registry's handler directly.
func BenchmarkHandlerSmallBlobPush(b *testing.B) {
	var seq atomic.Int64
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				data := []byte("tiny blob " + strconv.FormatInt(seq.Add(1), 10))
				w := &nullWriter{h: http.Header{}}
				t.h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/bench/blobs/uploads/", nil))
				if w.status != http.StatusAccepted {
					b.Fatalf("POST: %d", w.status)
				}
				loc := w.h.Get("Location")
				sepr := "?"
				if strings.Contains(loc, "?") {
					sepr = "&"
				}
				w = &nullWriter{h: http.Header{}}
				req := httptest.NewRequest(http.MethodPut, loc+sepr+"digest="+benchDigest(data), bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/octet-stream")
				t.h.ServeHTTP(w, req)
				if w.status != http.StatusCreated {
					b.Fatalf("PUT: %d", w.status)
				}
			}
		})
	}
}

// BenchmarkHandlerManifestHeadMissing is the HEAD that remote.WriteIndex
// sends before each manifest it pushes: the manifest is not there yet.
func BenchmarkHandlerManifestHeadMissing(b *testing.B) {
	for _, t := range benchTargets(b) {
		m := t.tinyImage(b, "bench", "hot")
		t.putManifest(b, "bench", "hot", m, benchManifestType)
		b.Run(t.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodHead, "/v2/bench/manifests/"+benchDigest([]byte("absent")), nil)
			req.Header = acceptManifests.Clone()
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				w := &nullWriter{h: http.Header{}}
				t.h.ServeHTTP(w, req)
				if w.status != http.StatusNotFound {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// BenchmarkHandlerBlobHead is the HEAD a push sends before each layer, and
// remote.WriteIndex before each image's config and layer: the blob is there.
func BenchmarkHandlerBlobHead(b *testing.B) {
	for _, t := range benchTargets(b) {
		dg := t.pushBlob(b, "bench", []byte("a small layer to HEAD"))
		b.Run(t.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodHead, "/v2/bench/blobs/"+dg, nil)
			b.ReportAllocs()
			benchcpu.PerOp(b)
			for b.Loop() {
				w := &nullWriter{h: http.Header{}}
				t.h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// BenchmarkBlobPush is the large blob push row (POST, then PUT with the
// whole body and its digest), on a 64 MiB blob; each push is a new blob.
func BenchmarkBlobPush(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, t := range benchTargets(b) {
		if t.name == "berth-disk" {
			continue // the durable write path is measured elsewhere
		}
		b.Run(t.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			benchcpu.PerOp(b)
			i := 0
			for b.Loop() {
				i++
				data[0], data[1] = byte(i), byte(i>>8) // a new blob each time
				t.pushBlob(b, "bench", data)
			}
		})
	}
}

// BenchmarkIndexPushPull is bench/'s index rows through go-containerregistry's
// remote package, as the bench's client does: an index of 20 small images
// (a config and a layer each, fresh per iteration) written with
// remote.WriteIndex (its HEADs of absent manifests included), then read back,
// index and children.
func BenchmarkIndexPushPull(b *testing.B) {
	const children = 20
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			b.ReportAllocs()
			host := strings.TrimPrefix(t.url, "http://")
			i := 0
			for b.Loop() {
				b.StopTimer()
				idx, err := random.Index(64, 1, children)
				if err != nil {
					b.Fatal(err)
				}
				i++
				ref, err := name.ParseReference(host+"/bench/index:"+strconv.Itoa(i), name.Insecure)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := remote.WriteIndex(ref, idx, remote.WithTransport(t.c.Transport)); err != nil {
					b.Fatal(err)
				}
				got, err := remote.Index(ref, remote.WithTransport(t.c.Transport))
				if err != nil {
					b.Fatal(err)
				}
				m, err := got.IndexManifest()
				if err != nil || len(m.Manifests) != children {
					b.Fatalf("pulled index: %v, %v", m, err)
				}
				for _, d := range m.Manifests {
					if _, err := remote.Get(ref.Context().Digest(d.Digest.String()), remote.WithTransport(t.c.Transport)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkHandlerManifestGetOnce is the index pull row's work per child
// through each registry's handler directly: a GET by digest of a manifest
// pushed before the timer started and not read since.
func BenchmarkHandlerManifestGetOnce(b *testing.B) {
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			reqs := make([]*http.Request, b.N)
			sizes := make([]int, b.N)
			for i := range reqs {
				m := t.tinyImage(b, "bench", "once-"+strconv.FormatInt(imageSeq.Add(1), 10))
				dg := benchDigest(m)
				t.putManifest(b, "bench", dg, m, benchManifestType)
				reqs[i] = httptest.NewRequest(http.MethodGet, "/v2/bench/manifests/"+dg, nil)
				reqs[i].Header = acceptManifests.Clone()
				sizes[i] = len(m)
			}
			serveEach(b, t.h, reqs, func(i int, w *nullWriter) {
				if w.status != http.StatusOK || w.n != sizes[i] {
					b.Fatalf("status %d, %d bytes", w.status, w.n)
				}
			})
		})
	}
}

// BenchmarkHandlerManifestPut is the PUT remote.WriteIndex sends for each
// child of an index, through each registry's handler directly: a new small
// manifest by digest, its blobs pushed before the timer started.
func BenchmarkHandlerManifestPut(b *testing.B) {
	for _, t := range benchTargets(b) {
		b.Run(t.name, func(b *testing.B) {
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				m := t.tinyImage(b, "bench", "put-"+strconv.FormatInt(imageSeq.Add(1), 10))
				reqs[i] = httptest.NewRequest(http.MethodPut, "/v2/bench/manifests/"+benchDigest(m), bytes.NewReader(m))
				reqs[i].Header.Set("Content-Type", benchManifestType)
			}
			serveEach(b, t.h, reqs, func(_ int, w *nullWriter) {
				if w.status != http.StatusCreated {
					b.Fatalf("status %d", w.status)
				}
			})
		})
	}
}

// serveEach times h serving each of reqs once, prepared (with whatever they
// pushed) before the timer starts; check looks at each answer.
func serveEach(b *testing.B, h http.Handler, reqs []*http.Request, check func(i int, w *nullWriter)) {
	runtime.GC() // the preparation's garbage is not the timed requests' to collect
	b.ReportAllocs()
	b.ResetTimer()
	benchcpu.PerOp(b)
	for i, req := range reqs {
		w := &nullWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		check(i, w)
	}
}

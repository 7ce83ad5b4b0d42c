package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/benchcpu"
)

// BenchmarkHandlerPutImage is bench/moto's PutImage row without the
// network: the whole server (its features subscribed to the bus, as berth
// serve runs), one image pushed under a new tag per call, from parallel
// callers. A profile of it shows what a PutImage costs besides net/http.
func BenchmarkHandlerPutImage(b *testing.B) {
	cfg := Defaults()
	cfg.Memory, cfg.NoAuth, cfg.CreateOnPush = true, true, true
	cfg.DataDir = b.TempDir()
	cfg.Log = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	t := benchTarget{name: "berth-memory", url: srv.URL, c: srv.Client(), h: s.Handler()}
	m := t.tinyImage(b, "bench", "base")
	mj, _ := json.Marshal(string(m))
	h := s.Handler()
	call := func(body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.PutImage")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		w := &nullWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("PutImage: %d", w.status)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	before := benchcpu.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call(fmt.Sprintf(`{"repositoryName":"bench","imageTag":"t%d","imageManifest":%s}`, n.Add(1), mj))
		}
	})
	b.ReportMetric(float64(benchcpu.Now()-before)/float64(b.N), "cpu-ns/op")
}

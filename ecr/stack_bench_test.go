//go:build unix

package ecr_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/ecr"
	"github.com/berth-dev/berth/internal/benchcpu"
	"github.com/berth-dev/berth/server"
)

// The server-bound workloads of bench/moto, in process: the whole stack of
// `berth --memory` (server.New: chi, middleware, the IAM authorizer, the
// subscribers) and the same request bytes the raw client sends, from
// parallel goroutines. BenchmarkStack/<workload>; the CPU each call costs is
// what bounds the moto bench's rates on this machine.

// stackAuth is the raw client's Authorization header: an access key that is
// not 12 digits, so the default account's root.
const stackAuth = "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"

type stack struct {
	tb   testing.TB
	h    http.Handler
	have map[string]bool // repository and digest of each blob uploaded
}

func (s stack) call(op string, body []byte) []byte {
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", ecr.TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", "20261122T000000Z")
	req.Header.Set("Authorization", stackAuth)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		s.tb.Fatalf("%s: %d %s", op, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func (s stack) upload(repo string, data []byte) string {
	d := sha256.Sum256(data)
	dg := "sha256:" + hex.EncodeToString(d[:])
	if s.have[repo+"@"+dg] {
		return dg
	}
	s.have[repo+"@"+dg] = true
	var init struct {
		UploadID string `json:"uploadId"`
	}
	json.Unmarshal(s.call("InitiateLayerUpload", fmt.Appendf(nil, `{"repositoryName":%q}`, repo)), &init)
	s.call("UploadLayerPart", fmt.Appendf(nil, `{"repositoryName":%q,"uploadId":%q,"partFirstByte":0,"partLastByte":%d,"layerPartBlob":%q}`,
		repo, init.UploadID, len(data)-1, base64.StdEncoding.EncodeToString(data)))
	s.call("CompleteLayerUpload", fmt.Appendf(nil, `{"repositoryName":%q,"uploadId":%q,"layerDigests":[%q]}`, repo, init.UploadID, dg))
	return dg
}

// image pushes a config and one layer distinct to i into repo and returns
// the manifest naming them (as bench/moto's manifests do).
func (s stack) image(repo string, i int) string {
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := make([]byte, 512)
	copy(layer, fmt.Sprintf("berth bench layer %d", i))
	desc := func(media string, data []byte, dg string) map[string]any {
		return map[string]any{"mediaType": media, "digest": dg, "size": len(data)}
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", cfg, s.upload(repo, cfg)),
		"layers": []any{desc("application/vnd.oci.image.layer.v1.tar+gzip", layer, s.upload(repo, layer))}})
	return string(m)
}

func openStack(b *testing.B) stack {
	cfg := server.Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.LifecycleInterval = 0
	srv, err := server.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Shutdown(b.Context()) })
	s := stack{tb: b, h: srv.Handler(), have: map[string]bool{}}
	for _, repo := range []string{"bench/raw", "bench/raw-put", "bench/raw-big"} {
		s.call("CreateRepository", fmt.Appendf(nil, `{"repositoryName":%q}`, repo))
	}
	m := s.image("bench/raw", 0)
	s.call("PutImage", fmt.Appendf(nil, `{"repositoryName":"bench/raw","imageTag":"base","imageManifest":%q}`, m))
	s.call("PutImage", fmt.Appendf(nil, `{"repositoryName":"bench/raw-put","imageTag":"base","imageManifest":%q}`, s.image("bench/raw-put", 0)))
	return s
}

// fill pushes images tagged images into repo (created here unless it is
// bench/raw-big, which openStack creates).
func (s stack) fill(repo string, images int) {
	if repo != "bench/raw-big" {
		s.call("CreateRepository", fmt.Appendf(nil, `{"repositoryName":%q}`, repo))
	}
	for i := range images {
		s.call("PutImage", fmt.Appendf(nil, `{"repositoryName":%q,"imageTag":"t%05d","imageManifest":%q}`, repo, i, s.image(repo, i)))
	}
}

// pages follows nextToken through op's listing of bench/raw-big and returns
// the request body of each page.
func (s stack) pages(op string) [][]byte {
	var bodies [][]byte
	tok := ""
	for {
		req := map[string]any{"repositoryName": "bench/raw-big", "maxResults": 100}
		if tok != "" {
			req["nextToken"] = tok
		}
		body, _ := json.Marshal(req)
		bodies = append(bodies, body)
		var out struct {
			NextToken string `json:"nextToken"`
		}
		json.Unmarshal(s.call(op, body), &out)
		if tok = out.NextToken; tok == "" {
			return bodies
		}
	}
}

func BenchmarkStack(b *testing.B) {
	s := openStack(b)
	m := s.image("bench/raw-put", 0)
	// The 1,000-image repository is filled when a paged workload first runs,
	// so that -bench filters leave it out of the others' profiles.
	filled := sync.OnceFunc(func() { s.fill("bench/raw-big", 1000) })
	// bench/moto's like-for-like rows: the whole of a 100-image repository
	// (one tag each) in one answer of maxResults 100, as moto answers it.
	const wholeBody = `{"repositoryName":"bench/raw-page","maxResults":100}`
	filledPage := sync.OnceFunc(func() {
		s.fill("bench/raw-page", 100)
		var out struct {
			ImageIds, ImageDetails []json.RawMessage
			NextToken              string
		}
		for _, op := range []string{"ListImages", "DescribeImages"} {
			out.ImageIds, out.ImageDetails = nil, nil
			json.Unmarshal(s.call(op, []byte(wholeBody)), &out)
			if n := len(out.ImageIds) + len(out.ImageDetails); n != 100 || out.NextToken != "" {
				b.Fatalf("%s of bench/raw-page: %d images, nextToken %q; want 100 in one answer", op, n, out.NextToken)
			}
		}
	})
	whole := func() []byte {
		filledPage()
		return []byte(wholeBody)
	}
	var n atomic.Int64
	cycle := func(op string) func() []byte {
		var p [][]byte
		return func() []byte {
			if p == nil {
				filled()
				p = s.pages(op)
			}
			return p[int(n.Add(1))%len(p)]
		}
	}
	fixed := func(body string) func() []byte { return func() []byte { return []byte(body) } }
	for _, w := range []struct {
		name, op string
		body     func() []byte
	}{
		{"PutImage", "PutImage", func() []byte {
			return fmt.Appendf(nil, `{"repositoryName":"bench/raw-put","imageTag":"p%d","imageManifest":%q}`, n.Add(1), m)
		}},
		{"BatchGetImage", "BatchGetImage", fixed(`{"repositoryName":"bench/raw","imageIds":[{"imageTag":"base"}]}`)},
		{"DescribeImagesById", "DescribeImages", fixed(`{"repositoryName":"bench/raw","imageIds":[{"imageTag":"base"}]}`)},
		{"DescribeImages100", "DescribeImages", cycle("DescribeImages")},
		{"DescribeImagesWhole100", "DescribeImages", whole},
		{"DescribeRepositories", "DescribeRepositories", fixed(`{"repositoryNames":["bench/raw"]}`)},
		{"ListImages100", "ListImages", cycle("ListImages")},
		{"ListImagesWhole100", "ListImages", whole},
	} {
		b.Run(w.name, func(b *testing.B) {
			s := stack{tb: b, h: s.h, have: s.have}
			w.body() // a paged workload's setup
			b.ReportAllocs()
			b.ResetTimer()
			before := benchcpu.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.call(w.op, w.body())
				}
			})
			// The process's CPU time (every goroutine's: the subscribers'
			// too) per call: steadier than ns/op on a shared machine.
			b.ReportMetric(float64(benchcpu.Now()-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

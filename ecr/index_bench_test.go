package ecr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Paged image listings through the handler, over one repository of N
// images on both store backends (see core/index_bench_test.go for the core
// side). A template is filled once per N through the handler itself
// (PutImage, tiny manifests naming one config blob, one tag each) on the
// memory store; each fixture copies its records into fresh stores.

// storeBuckets are the buckets core writes (core/reset.go's allBuckets and
// the layout version in "meta"). A fixture missing one fails its checks.
var storeBuckets = []string{"repos", "manifests", "tags", "digest-tags", "blob-refs",
	"referrers", "parents", "uploads", "registry-settings", "meta"}

type ecrIndexTemplate struct {
	kv      kv.Store
	cfg     []byte
	digests []digest.Digest // in digest order
}

var (
	ecrTemplatesMu sync.Mutex
	ecrTemplates   = map[int]*ecrIndexTemplate{}
)

func ecrTemplateOf(b *testing.B, n int) *ecrIndexTemplate {
	ecrTemplatesMu.Lock()
	defer ecrTemplatesMu.Unlock()
	if t := ecrTemplates[n]; t != nil {
		return t
	}
	t := &ecrIndexTemplate{kv: kv.NewMem()}
	reg, err := core.Open(core.Options{KV: t.kv, Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Bus().Close() // the store stays open: it is the template
	h := New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1"})
	t.cfg = pushConfig(b, h)
	cfg := digest.FromBytes(t.cfg).String()
	for i := range n {
		m := manifestFor(cfg, i)
		if c := serve(h, "PutImage", fmt.Sprintf(`{"repositoryName":"bench","imageTag":"t%05d","imageManifest":%q}`, i, m)); c != 200 {
			b.Fatalf("PutImage: %d", c)
		}
		t.digests = append(t.digests, digest.FromString(m))
	}
	slices.Sort(t.digests)
	ecrTemplates[n] = t
	return t
}

// pushConfig creates the repository "bench" and pushes its one config blob.
func pushConfig(b *testing.B, h *Handler) []byte {
	post(b, h, "CreateRepository", `{"repositoryName":"bench"}`, "AKIDEXAMPLE", "us-east-1")
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	_, out := post(b, h, "InitiateLayerUpload", `{"repositoryName":"bench"}`, "AKIDEXAMPLE", "us-east-1")
	id := out["uploadId"].(string)
	post(b, h, "UploadLayerPart", fmt.Sprintf(`{"repositoryName":"bench","uploadId":%q,"partFirstByte":0,"partLastByte":%d,"layerPartBlob":%q}`,
		id, len(cfg)-1, base64.StdEncoding.EncodeToString(cfg)), "AKIDEXAMPLE", "us-east-1")
	rec, _ := post(b, h, "CompleteLayerUpload", fmt.Sprintf(`{"repositoryName":"bench","uploadId":%q,"layerDigests":[%q]}`, id, digest.FromBytes(cfg)), "AKIDEXAMPLE", "us-east-1")
	if rec.Code != 200 {
		b.Fatalf("CompleteLayerUpload: %d %s", rec.Code, rec.Body)
	}
	return cfg
}

// openECRIndex serves a copy of the template for n images from fresh stores.
func openECRIndex(b *testing.B, backend string, n int) *Handler {
	t := ecrTemplateOf(b, n)
	var m kv.Store
	var bs blob.Store
	switch backend {
	case "bolt":
		dir := b.TempDir()
		var err error
		if m, err = kv.OpenBolt(filepath.Join(dir, "meta.db")); err != nil {
			b.Fatal(err)
		}
		if bs, err = blob.NewFS(filepath.Join(dir, "data")); err != nil {
			b.Fatal(err)
		}
	default:
		m, bs = kv.NewMem(), blob.NewMem()
	}
	up, err := bs.CreateUpload("seed")
	if err == nil {
		_, err = up.Write(t.cfg)
	}
	if err == nil {
		_, err = up.Commit(digest.FromBytes(t.cfg))
	}
	if err != nil {
		b.Fatal(err)
	}
	err = m.Update(func(dst kv.Tx) error {
		return t.kv.View(func(src kv.Tx) error {
			for _, bucket := range storeBuckets {
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
		b.Fatal(err)
	}
	reg, err := core.Open(core.Options{KV: m, Blobs: bs, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	h := New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1"})
	// The copy is whole: the last page ends where the template does, tagged.
	out := describe(b, h, fmt.Sprintf(`{"repositoryName":"bench","nextToken":%q}`, encodeToken(t.digests[n-101].String())))
	if len(out.ImageDetails) != 100 || out.NextToken != "" || out.ImageDetails[99].ImageDigest != t.digests[n-1].String() || len(out.ImageDetails[99].ImageTags) != 1 {
		b.Fatalf("the copied repository does not end as the template does: %d images, next %q", len(out.ImageDetails), out.NextToken)
	}
	return h
}

func describe(b *testing.B, h *Handler, body string) DescribeImagesResponse {
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+".DescribeImages")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out DescribeImagesResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != 200 || err != nil {
		b.Fatalf("DescribeImages: %d %s", rec.Code, rec.Body)
	}
	return out
}

// BenchmarkIndexECR: BenchmarkIndexECR/<backend>/n=<N>/<operation>/<where>.
// A page of 100 at the start, after the (N/2)th digest (nextToken), and the
// last 100.
func BenchmarkIndexECR(b *testing.B) {
	for _, backend := range []string{"bolt", "mem"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/n=%d", backend, n), func(b *testing.B) {
				h := openECRIndex(b, backend, n)
				t := ecrTemplateOf(b, n)
				pages := []struct{ name, token string }{
					{"start", ""},
					{"middle", encodeToken(t.digests[n/2-1].String())},
					{"end", encodeToken(t.digests[n-101].String())},
				}
				for _, p := range pages {
					body := `{"repositoryName":"bench","maxResults":100}`
					if p.token != "" {
						body = fmt.Sprintf(`{"repositoryName":"bench","maxResults":100,"nextToken":%q}`, p.token)
					}
					b.Run("DescribeImages100/"+p.name, func(b *testing.B) {
						for b.Loop() {
							if c := serve(h, "DescribeImages", body); c != 200 {
								b.Fatal(c)
							}
						}
					})
				}
				// ListImages pages through the tag-level identifiers (digest, tag).
				b.Run("ListImages100/start", func(b *testing.B) {
					for b.Loop() {
						if c := serve(h, "ListImages", `{"repositoryName":"bench","maxResults":100}`); c != 200 {
							b.Fatal(c)
						}
					}
				})
			})
		}
	}
}

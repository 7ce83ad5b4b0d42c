package ecr

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// benchHandler holds a repository with one pushed image tagged v1.
func benchHandler(b *testing.B) *Handler {
	h := newTestHandler(b)
	post(b, h, "CreateRepository", `{"repositoryName":"bench"}`, "", "")
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	_, out := post(b, h, "InitiateLayerUpload", `{"repositoryName":"bench"}`, "", "")
	id := out["uploadId"].(string)
	post(b, h, "UploadLayerPart", fmt.Sprintf(`{"repositoryName":"bench","uploadId":%q,"partFirstByte":0,"partLastByte":%d,"layerPartBlob":%q}`,
		id, len(cfg)-1, base64.StdEncoding.EncodeToString(cfg)), "", "")
	post(b, h, "CompleteLayerUpload", fmt.Sprintf(`{"repositoryName":"bench","uploadId":%q,"layerDigests":[%q]}`, id, digest.FromBytes(cfg)), "", "")
	return h
}

func manifestFor(cfg string, i int) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":37},"layers":[],"annotations":{"n":"%d"}}`, cfg, i)
}

func serve(h *Handler, op, body string) int {
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func BenchmarkPutImage(b *testing.B) {
	h := benchHandler(b)
	cfg := digest.FromBytes([]byte(`{"architecture":"amd64","os":"linux"}`)).String()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := fmt.Sprintf(`{"repositoryName":"bench","imageTag":"t%d","imageManifest":%q}`, i, manifestFor(cfg, i))
		if c := serve(h, "PutImage", body); c != 200 {
			b.Fatal(c)
		}
	}
}

func BenchmarkBatchGetImage(b *testing.B) {
	h := benchHandler(b)
	cfg := digest.FromBytes([]byte(`{"architecture":"amd64","os":"linux"}`)).String()
	serve(h, "PutImage", fmt.Sprintf(`{"repositoryName":"bench","imageTag":"v1","imageManifest":%q}`, manifestFor(cfg, 0)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := serve(h, "BatchGetImage", `{"repositoryName":"bench","imageIds":[{"imageTag":"v1"}]}`); c != 200 {
			b.Fatal(c)
		}
	}
}

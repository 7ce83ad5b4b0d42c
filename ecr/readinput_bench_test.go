package ecr

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkReadInput is readInput alone (read, check, read into the typed
// input) on bench/moto's request bodies: the part of every call that is the
// edge's own reading of JSON.
func BenchmarkReadInput(b *testing.B) {
	cfg := digest.FromBytes([]byte(`{"architecture":"amd64","os":"linux"}`)).String()
	put := fmt.Appendf(nil, `{"repositoryName":"bench/raw-put","imageTag":"p12345","imageManifest":%q}`, manifestFor(cfg, 1))
	get := []byte(`{"repositoryName":"bench/raw","imageIds":[{"imageTag":"base"}]}`)
	for _, w := range []struct {
		name, op string
		body     []byte
		decode   func(*input) bool
	}{
		{"PutImage", "PutImage", put, func(in *input) bool { _, ok := in.typed.(*PutImageRequest); return ok }},
		{"BatchGetImage", "BatchGetImage", get, func(in *input) bool { _, ok := in.typed.(*BatchGetImageRequest); return ok }},
	} {
		b.Run(w.name, func(b *testing.B) {
			spec := operations[w.op]
			b.ReportAllocs()
			for b.Loop() {
				r := &http.Request{Body: io.NopCloser(bytes.NewReader(w.body)), ContentLength: int64(len(w.body))}
				in, err := readInput(r, spec)
				if err != nil || !w.decode(in) {
					b.Fatal(err)
				}
			}
		})
	}
}

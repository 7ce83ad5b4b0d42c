package e2e

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// berth --memory keeps an upload of 4 MiB or more in a memory file rather
// than on the Go heap, switching mid-stream, and serves it with sendfile.
// Through go-containerregistry: two images with layers past that size pushed
// at once pull back bit for bit, and a byte range from the middle of a layer
// is exactly those bytes.
func TestMemoryModeServesLargeLayersWholeAndByRange(t *testing.T) {
	t.Parallel()
	b := Start(t, "--memory")
	s := defaultSDK(t, b)
	s.createRepo("mem/large")
	opts := ggcr(newTransport(t, b), s.token())

	imgs := make([]v1.Image, 2)
	for i := range imgs {
		img, err := random.Image(9<<20, 1)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = img
	}
	var wg sync.WaitGroup
	errs := make([]error, len(imgs))
	for i, img := range imgs {
		wg.Go(func() { errs[i] = remote.Write(ref(t, b, fmt.Sprintf("mem/large:v%d", i)), img, opts...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}

	for i, img := range imgs {
		got, err := remote.Image(ref(t, b, fmt.Sprintf("mem/large:v%d", i)), opts...)
		if err != nil {
			t.Fatalf("pull %d: %v", i, err)
		}
		compareImages(t, img, got)
	}

	layers, err := imgs[0].Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	whole, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) < 6<<20 {
		t.Fatalf("the layer is %d bytes: too small to reach a memory file", len(whole))
	}
	dg, _ := layers[0].Digest()
	from, to := 5<<20+123, 6<<20+456
	resp, body := raw(t, b, s.token()).do("GET", "/v2/mem/large/blobs/"+dg.String(), nil,
		map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", from, to)})
	eq(t, "ranged GET status", resp.StatusCode, 206)
	if !bytes.Equal(body, whole[from:to+1]) {
		t.Fatalf("ranged GET: %d bytes, not the layer's bytes %d-%d", len(body), from, to)
	}
}

package pullthrough

import (
	"fmt"
	"io"
	"testing"

	"github.com/berth-dev/berth/core/coretest"
)

// BenchmarkFirstBlobPull is the cache's side of a first pull of a 100 MiB
// layer on the disk stores: fetched from a live upstream in the test,
// stored and read through at once (the reader discards it).
func BenchmarkFirstBlobPull(b *testing.B) {
	u := newUpstream(b)
	svc, err := New(Options{Refresh: DefaultRefresh})
	if err != nil {
		b.Fatal(err)
	}
	f := coretest.New(b, coretest.Disk, coretest.Options{Upstream: svc})
	svc.Bind(f.Registry())
	if _, err := svc.Create(bg(), reg, Input{Prefix: "hub", UpstreamURL: "http://" + u.host}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100 << 20)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		img := u.push(b, fmt.Sprintf("app%d", i), "v1", 100<<20, 1)
		layers, _ := img.Layers()
		d, _ := layers[0].Digest()
		b.StartTimer()
		rd, err := f.Registry().OpenBlob(bg(), reg, fmt.Sprintf("hub/app%d", i), digestOf(d))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			b.Fatal(err)
		}
		rd.Close()
		b.StopTimer()
	}
}

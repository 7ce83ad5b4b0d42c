package replication

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
)

// BenchmarkReplicateToThreeDestinations measures, for a 5-layer image, the
// time from its manifest push to COMPLETE in three destinations (two
// regions of the source's account, and another account whose registry
// policy allows it), blobs shared: the push's blobs are uploaded before the
// clock starts. ms/complete is the mean per push.
func BenchmarkReplicateToThreeDestinations(b *testing.B) {
	for _, stores := range coretest.AllStores {
		b.Run(string(stores), func(b *testing.B) {
			e := newEnv(b, stores)
			e.registryPolicy(regB, allowReplicationFrom(regA.Account))
			e.configure(regA, Rule{Destinations: []Destination{to(west), to(regA3), to(regB)}})
			e.CreateRepository(regA, "app")
			var total time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				m := fiveLayers(e, n)
				b.StartTimer()
				start := time.Now()
				e.PushManifest(regA, "app", fmt.Sprintf("v%d", n), m)
				e.Wait()
				total += time.Since(start)
				b.StopTimer()
				e.want(regA, "app", m.Digest, complete(regA3), complete(west), complete(regB))
				b.StartTimer()
				n++
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/complete")
		})
	}
}

// fiveLayers uploads the config and five 64 KiB layers of a new image and
// returns its manifest, not pushed.
func fiveLayers(e *env, n int) coretest.Manifest {
	cfg := e.PushBlob(regA, "app", fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","n":%d}`, n), coretest.MediaTypeConfig)
	var layers []core.Descriptor
	for i := range 5 {
		data := make([]byte, 64<<10)
		copy(data, fmt.Sprintf("image %d layer %d", n, i))
		layers = append(layers, e.PushBlob(regA, "app", data, coretest.MediaTypeLayer))
	}
	return coretest.Document{MediaType: core.MediaTypeOCIManifest, Config: &cfg, Layers: layers}.Build()
}

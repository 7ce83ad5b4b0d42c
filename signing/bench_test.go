package signing

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/coretest"
)

// BenchmarkPushToCompleteSigningStatus measures, for a one-layer image
// whose blobs are uploaded before the clock starts, the time from its
// manifest push to a COMPLETE signing status: the Notation envelope signed
// with the profile's ECDSA P-256 key, its blobs and manifest stored, both
// statuses recorded. ms/complete is the mean per push.
func BenchmarkPushToCompleteSigningStatus(b *testing.B) {
	for _, stores := range coretest.AllStores {
		b.Run(string(stores), func(b *testing.B) {
			e := newEnv(b, stores)
			e.configure(regA, Rule{SigningProfileArn: release, RepositoryFilters: filters("app*")})
			e.CreateRepository(regA, "app")
			var total time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				m := e.BuildImage(regA, "app", fmt.Sprintf("image %d", n))
				b.StartTimer()
				start := time.Now()
				e.PushManifest(regA, "app", fmt.Sprintf("v%d", n), m)
				e.Wait()
				total += time.Since(start)
				b.StopTimer()
				if st := e.statuses(regA, "app", m.Digest); len(st) != 1 || st[0].Status != Complete {
					b.Fatalf("statuses = %+v", st)
				}
				b.StartTimer()
				n++
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/complete")
		})
	}
}

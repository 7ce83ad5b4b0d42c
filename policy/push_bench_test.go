package policy

import (
	"context"
	"log/slog"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/internal/benchcpu"
)

// BenchmarkAuthorizeUpload is what each request of a blob push pays for
// its decision, as berth serve makes it (Registry.Authorize with this
// package's Authorizer, the memory store): the POST's
// ecr:InitiateLayerUpload and the PUT's ecr:CompleteLayerUpload on one
// repository, with a write between them (each push commits one) so that
// no read is remembered from the snapshot before.
func BenchmarkAuthorizeUpload(b *testing.B) {
	m := kv.NewMem()
	az := NewAuthorizer(nil, AuthorizerOptions{Log: slog.New(slog.DiscardHandler)})
	r := core.New(core.Options{KV: m, Blobs: blob.NewMem(), Authorizer: az, Log: slog.New(slog.DiscardHandler)})
	defer r.Close()
	reg := core.RegistryID{Account: "123456789012", Region: "us-east-1"}
	ctx := core.WithCaller(context.Background(), core.Caller{Registry: reg, Principal: "arn:aws:iam::123456789012:root", SourceIP: "127.0.0.1"})
	if _, err := r.CreateRepository(ctx, reg, "bench"); err != nil {
		b.Fatal(err)
	}
	actions := []string{"ecr:InitiateLayerUpload", "ecr:CompleteLayerUpload"}
	b.ReportAllocs()
	start := benchcpu.Now()
	for i := 0; b.Loop(); i++ {
		req := core.AuthRequest{Action: actions[i%2], Resources: []core.Resource{core.RepositoryResource(reg, "bench")}}
		if err := r.Authorize(ctx, req); err != nil {
			b.Fatal(err)
		}
		if i%2 == 1 {
			m.Update(func(tx kv.Tx) error { return tx.Put("bench-writes", []byte{byte(i)}, nil) })
		}
	}
	b.ReportMetric(float64(benchcpu.Now()-start)/float64(b.N), "cpu-ns/op")
}

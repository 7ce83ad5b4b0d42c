package scanning

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/opencontainers/go-digest"
)

// resolveCounter counts the images a Service reads.
type resolveCounter struct {
	Core
	n atomic.Int32
}

func (c *resolveCounter) ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error) {
	c.n.Add(1)
	return c.Core.ResolveImage(ctx, reg, repo, dg, tag)
}

// A push to a repository that does not scan on push is not read: reading
// the image lists its tags, so a burst of pushes of one image under ever
// more tags would cost in proportion to their square.
func TestPushNotScannedReadsNoImage(t *testing.T) {
	f := coretest.New(t, coretest.Memory, coretest.Options{})
	f.CreateRepository(reg, "plain")
	p := f.PushImage(reg, "plain", "v1", "seed")
	counter := &resolveCounter{Core: f.Registry()}
	svc := New(counter, Config{Clock: f.Clock, Log: slog.New(slog.DiscardHandler)})
	defer svc.Close()
	ev := core.Event{Kind: core.EventPush, Registry: reg, Repository: "plain", Digest: p.Manifest.Digest, Tag: "v1"}
	if err := svc.onPush(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load(); n != 0 {
		t.Fatalf("%d images read for a push that is not scanned", n)
	}
}

package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Durable berth commits metadata through a write-ahead journal
// (meta.db.journal) and applies it to bbolt later, many commits at once,
// each apply a synced bbolt commit. After a kill -9 the journal holds what
// bbolt lacks: with bbolt's older meta page destroyed (the one an apply
// interrupted by a power cut would have been writing: the newer one was
// synced before the journal let go of its records), the next start opens
// bbolt at its last apply, replays the journal's records after it, and
// serves the image; a clean stop then leaves no journal.
func TestKillAfterPushRecoversFromTheJournalEvenWithATornMetaPage(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	opts := ggcr(tr, token)
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "journal/app:v1"), img, opts...); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	tr.CloseIdleConnections()
	b.Kill()

	journal := filepath.Join(b.DataDir, "meta.db.journal")
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("after a kill: %v (the push's commits must be in the journal)", err)
	}
	// bbolt's two meta pages: pages 0 and 1 of 16 KiB; the older (lower
	// txid, after the page header and seven fields) is torn.
	f, err := os.OpenFile(filepath.Join(b.DataDir, "meta.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	metas := make([]byte, 2*16<<10)
	if _, err := f.ReadAt(metas, 0); err != nil {
		t.Fatal(err)
	}
	older := int64(0)
	if binary.LittleEndian.Uint64(metas[16<<10+64:]) < binary.LittleEndian.Uint64(metas[64:]) {
		older = 16 << 10
	}
	junk := make([]byte, 16<<10)
	rand.Read(junk)
	if _, err := f.WriteAt(junk, older); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	b.StartAgain()
	for _, r := range []string{"journal/app:v1", "journal/app@" + dg.String()} {
		got, err := remote.Image(ref(t, b, r), opts...)
		if err != nil {
			t.Fatalf("pull %s after the kill: %v", r, err)
		}
		compareImages(t, img, got)
	}
	tr.CloseIdleConnections()
	b.Stop()
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("after a clean stop the journal is still there (%v): an older berth would open meta.db alone", err)
	}
}

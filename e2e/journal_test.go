package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Durable berth commits metadata through a write-ahead journal
// (meta.db.journal) and bbolt unsynced. After a kill -9 the journal is
// what makes the acknowledged push durable: with both of bbolt's meta
// pages destroyed (as unsynced writes torn by a power cut could leave
// them), the next start restores the checkpoint from the journal, replays
// the push, and serves the image; a clean stop then leaves no journal.
func TestKillAfterPushRecoversFromTheJournalEvenWithTornMetaPages(t *testing.T) {
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
	// bbolt's two meta pages: pages 0 and 1 of 16 KiB.
	f, err := os.OpenFile(filepath.Join(b.DataDir, "meta.db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 2*16<<10)
	rand.Read(junk)
	if _, err := f.WriteAt(junk, 0); err != nil {
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

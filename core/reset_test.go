package core

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// Reset and a CompleteUpload holding the upload session's lock both finish,
// and the repository is gone afterwards: Reset waits for the session's lock
// without holding the GC lock (which the completing request needs to commit)
// or the session map lock (which it needs to forget the session).
func TestResetDuringCompleteUploadDoesNotDeadlock(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		content := []byte("blob completed while a reset runs")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(content))
		must(t, err, "WriteUpload")

		entered, release := make(chan struct{}), make(chan struct{})
		f.r.Bus().Before(func(ctx context.Context, e Event) error {
			if e.Kind == EventUploadComplete {
				close(entered)
				<-release
			}
			return nil
		})
		completed := make(chan error, 1)
		go func() {
			_, err := f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, digest.FromBytes(content))
			completed <- err
		}()
		<-entered // CompleteUpload holds the session's lock
		reset := make(chan error, 1)
		go func() { reset <- f.r.Reset(bg) }()
		time.Sleep(100 * time.Millisecond) // let Reset reach the session's lock
		close(release)

		timeout := time.After(10 * time.Second)
		for range 2 {
			select {
			case err := <-completed:
				if err != nil && !IsKind(err, KindRepositoryNotFound) {
					t.Errorf("CompleteUpload: %v", err)
				}
			case err := <-reset:
				must(t, err, "Reset")
			case <-timeout:
				// The stuck registry can never be closed: let cleanup
				// close a fresh one over the same stores instead.
				f.r = f.build()
				t.Fatal("Reset and CompleteUpload deadlocked")
			}
		}
		if _, err := f.r.GetRepository(bg, regA, "app"); !IsKind(err, KindRepositoryNotFound) {
			t.Fatalf("after Reset the repository is still there: %v", err)
		}
	})
}

package blob

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A committed small blob keeps its bytes, not its upload: the upload's hash
// state and buffers are garbage once Commit returns (an in-memory registry
// holds tens of thousands of small blobs, and the collector marks what they
// hold on every cycle).
func TestMemSmallBlobDoesNotHoldItsUpload(t *testing.T) {
	s := NewMem()
	data := []byte("a small layer")
	d := digest.FromBytes(data)
	up, err := s.CreateUpload("u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(data); err != nil {
		t.Fatal(err)
	}
	freed := make(chan struct{})
	runtime.AddCleanup(up.(*memUpload), func(ch chan struct{}) { close(ch) }, freed)
	if _, err := up.Commit(d); err != nil {
		t.Fatal(err)
	}
	up = nil
	deadline := time.After(10 * time.Second)
wait:
	for {
		runtime.GC()
		select {
		case <-freed:
			break wait
		case <-deadline:
			t.Fatal("the upload is still reachable after its Commit")
		case <-time.After(10 * time.Millisecond):
		}
	}
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != string(data) {
		t.Fatalf("blob reads %q, want %q", got, data)
	}
	if n, _ := s.Stat(d); n != int64(len(data)) {
		t.Fatalf("Stat: %d, want %d", n, len(data))
	}
}

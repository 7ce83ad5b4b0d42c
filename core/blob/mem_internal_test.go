package blob

import (
	"bytes"
	"fmt"
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

// Uploads' first pieces are reused (firstPieces) once their upload ends
// without a blob keeping them: a blob of more than one piece keeps its
// first, and whatever uploads come after it, committed, cancelled or
// committed as a blob already stored, no stored blob's bytes change.
func TestMemReusedFirstPiecesLeaveStoredBlobsAsTheyWere(t *testing.T) {
	s := NewMem()
	want := map[digest.Digest][]byte{}
	push := func(id string, data []byte, commit bool) {
		t.Helper()
		up, err := s.CreateUpload(id)
		if err != nil {
			t.Fatal(err)
		}
		// In steps smaller than a piece, as a body is read.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 100)
			if _, err := up.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if !commit {
			if err := up.Cancel(); err != nil {
				t.Fatal(err)
			}
			return
		}
		d := digest.FromBytes(data)
		if _, err := up.Commit(d); err != nil {
			t.Fatal(err)
		}
		want[d] = data
	}
	fill := func(seed, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(seed + i*7)
		}
		return b
	}
	for i := range 200 {
		id := fmt.Sprintf("u%d", i)
		switch i % 4 {
		case 0:
			push(id, fill(i, minPiece+300), true) // two pieces, the first kept
		case 1:
			push(id, fill(i, 40), true) // one piece, copied
		case 2:
			push(id, fill(i, minPiece), false) // cancelled
		case 3:
			push(id, fill(i-3, minPiece+300), true) // the blob of i-3 again
		}
	}
	for d, data := range want {
		rd, err := s.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob %s: read %d bytes (%v), changed since it was stored", d, len(got), err)
		}
	}
}

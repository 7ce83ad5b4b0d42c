package blob

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
)

func stores(t *testing.T) map[string]Store {
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Store{"fs": fs, "mem": NewMem()}
}

func TestStore(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			data := make([]byte, 3<<20+17)
			rand.Read(data)
			want := digest.SHA256.FromBytes(data)

			u, err := s.CreateUpload("up1")
			if err != nil {
				t.Fatal(err)
			}
			u.Write(data[:1000])
			u.Write(data[1000:])
			if u.Size() != int64(len(data)) {
				t.Fatalf("Size = %d", u.Size())
			}
			if _, err := u.Commit(digest.SHA256.FromString("other")); !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("Commit with a wrong digest: %v", err)
			}
			if _, err := s.Stat(want); !errors.Is(err, ErrNotFound) {
				t.Fatal("a blob appeared before a successful commit")
			}
			n, err := u.Commit(want)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("Commit = %d, %v", n, err)
			}
			r, err := s.Open(want)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(got, data) || r.Size() != int64(len(data)) {
				t.Fatal("blob content differs")
			}
			seen := 0
			s.Walk(func(d digest.Digest, size int64) error {
				if d == want && size == int64(len(data)) {
					seen++
				}
				return nil
			})
			if seen != 1 {
				t.Errorf("Walk saw the blob %d times", seen)
			}
			s.Delete(want)
			if _, err := s.Stat(want); !errors.Is(err, ErrNotFound) {
				t.Error("blob still there after Delete")
			}
		})
	}
}

func TestSHA512AndResume(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			data := []byte("hello sha512 world")
			want := digest.SHA512.FromBytes(data)
			u, _ := s.CreateUpload("up2")
			u.Write(data[:5])
			u.Close()
			u, err := s.ResumeUpload("up2")
			if err != nil {
				t.Fatal(err)
			}
			if u.Size() != 5 {
				t.Fatalf("resumed Size = %d", u.Size())
			}
			u.Write(data[5:])
			if _, err := u.Commit(want); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Stat(want); err != nil || n != int64(len(data)) {
				t.Fatalf("Stat = %d, %v", n, err)
			}
			if _, err := s.ResumeUpload("up2"); !errors.Is(err, ErrNotFound) {
				t.Error("a committed upload can still be resumed")
			}
		})
	}
}

func TestBadUploadID(t *testing.T) {
	for name, s := range stores(t) {
		if _, err := s.CreateUpload("../escape"); !errors.Is(err, ErrBadID) {
			t.Errorf("%s: CreateUpload(../escape) = %v", name, err)
		}
	}
}

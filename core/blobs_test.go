package core

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/kv"

	"github.com/opencontainers/go-digest"
)

func readBlob(t *testing.T, f *fixture, reg RegistryID, repo string, d digest.Digest) string {
	t.Helper()
	rd, err := f.r.OpenBlob(bg, reg, repo, d)
	if err != nil {
		t.Fatalf("OpenBlob(%s, %s): %v", repo, d, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	must(t, err, "reading blob")
	if rd.Size() != int64(len(b)) {
		t.Fatalf("Reader.Size = %d, read %d bytes", rd.Size(), len(b))
	}
	return string(b)
}

func TestChunkedUpload(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		content := "hello, chunked world"
		d := digest.FromString(content)

		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		id := st.ID
		if id == "" || st.Size != 0 {
			t.Fatalf("StartUpload = %+v", st)
		}
		st, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader(content[:5]))
		must(t, err, "first chunk")
		if st.Size != 5 {
			t.Fatalf("after first chunk Size = %d", st.Size)
		}
		// A chunk that does not start where the upload ends is refused and changes nothing.
		for _, off := range []int64{0, 4, 6, 100} {
			st, err = f.r.WriteUpload(bg, regA, "app", st.ID, off, strings.NewReader("zzz"))
			wantKind(t, err, KindRangeInvalid, "chunk at a wrong offset")
			if st.Size != 5 {
				t.Fatalf("refused chunk: Size = %d, want 5", st.Size)
			}
		}
		// Offset -1: no Content-Range, append.
		st, err = f.r.WriteUpload(bg, regA, "app", st.ID, -1, strings.NewReader(content[5:10]))
		must(t, err, "chunk without offset")
		st, err = f.r.GetUpload(bg, regA, "app", st.ID)
		must(t, err, "GetUpload")
		if st.Size != 10 || st.ID != id {
			t.Fatalf("GetUpload = %+v", st)
		}

		// Completing with a wrong offset is refused too.
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, 3, strings.NewReader(content[10:]), d)
		wantKind(t, err, KindRangeInvalid, "last chunk at a wrong offset")

		// A wrong digest: refused, nothing becomes reachable or stored.
		wrong := digest.FromString("something else")
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, wrong)
		wantKind(t, err, KindDigestInvalid, "complete with a wrong digest")
		_, err = f.r.StatBlob(bg, regA, "app", wrong)
		wantKind(t, err, KindBlobNotFound, "blob after a digest mismatch")
		_, err = f.r.StatBlob(bg, regA, "app", d)
		wantKind(t, err, KindBlobNotFound, "real digest before completion")
		if f.blobBytesStored(wrong) || f.blobBytesStored(d) {
			t.Fatal("a failed completion stored blob bytes")
		}

		desc, err := f.r.CompleteUpload(bg, regA, "app", st.ID, 10, strings.NewReader(content[10:]), d)
		must(t, err, "CompleteUpload")
		if desc.Digest != d || desc.Size != int64(len(content)) {
			t.Fatalf("CompleteUpload = %+v", desc)
		}
		size, err := f.r.StatBlob(bg, regA, "app", d)
		if err != nil || size != int64(len(content)) {
			t.Fatalf("StatBlob = %d, %v", size, err)
		}
		if got := readBlob(t, f, regA, "app", d); got != content {
			t.Fatalf("blob = %q", got)
		}
		// The session is over.
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "GetUpload after completion")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, -1, strings.NewReader("x"))
		wantKind(t, err, KindUploadNotFound, "WriteUpload after completion")
		_, err = f.r.GetUpload(bg, regA, "app", "no-such-upload")
		wantKind(t, err, KindUploadNotFound, "unknown upload")
	})
}

func TestUploadMissingRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, err := f.r.StartUpload(bg, regA, "missing")
		wantKind(t, err, KindRepositoryNotFound, "StartUpload into a missing repository")
	})
}

func TestCancelUpload(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("doomed"))
		must(t, err, "WriteUpload")
		must(t, f.r.CancelUpload(bg, regA, "app", st.ID), "CancelUpload")
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "GetUpload after cancel")
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, digest.FromString("doomed"))
		wantKind(t, err, KindUploadNotFound, "CompleteUpload after cancel")
		wantKind(t, f.r.CancelUpload(bg, regA, "app", st.ID), KindUploadNotFound, "cancelling twice")
		// Not even a restart brings it back.
		f.restart()
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "GetUpload after cancel and restart")
	})
}

func TestUploadBoundToRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		f.createRepo(regB, "app")
		f.createRepo(regA2, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("abc"))
		must(t, err, "WriteUpload")

		check := func(reg RegistryID, repo, what string) {
			t.Helper()
			_, err := f.r.GetUpload(bg, reg, repo, st.ID)
			wantKind(t, err, KindUploadNotFound, "GetUpload from "+what)
			_, err = f.r.WriteUpload(bg, reg, repo, st.ID, -1, strings.NewReader("x"))
			wantKind(t, err, KindUploadNotFound, "WriteUpload from "+what)
			_, err = f.r.CompleteUpload(bg, reg, repo, st.ID, -1, nil, digest.FromString("abc"))
			wantKind(t, err, KindUploadNotFound, "CompleteUpload from "+what)
			wantKind(t, f.r.CancelUpload(bg, reg, repo, st.ID), KindUploadNotFound, "CancelUpload from "+what)
		}
		check(regA, "other", "another repository")
		check(regB, "app", "another account")
		check(regA2, "app", "another region")
		// After a restart the binding comes from the stored record.
		f.restart()
		check(regA, "other", "another repository after a restart")
		check(regB, "app", "another account after a restart")

		// None of that touched the upload.
		got, err := f.r.GetUpload(bg, regA, "app", st.ID)
		if err != nil || got.Size != 3 {
			t.Fatalf("GetUpload = %+v, %v", got, err)
		}
		_, err = f.r.StatBlob(bg, regA, "other", digest.FromString("abc"))
		wantKind(t, err, KindBlobNotFound, "blob in the other repository")
	})
}

func TestUploadResumesAfterRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		content := "first half|second half"
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader(content[:11]))
		must(t, err, "WriteUpload")

		f.restart()

		got, err := f.r.GetUpload(bg, regA, "app", st.ID)
		if err != nil || got.Size != 11 || got.ID != st.ID {
			t.Fatalf("GetUpload after restart = %+v, %v", got, err)
		}
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 5, strings.NewReader("x"))
		wantKind(t, err, KindRangeInvalid, "wrong offset after restart")
		// New ids after the restart do not collide with the pending upload.
		other, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "another StartUpload after restart")
		if other.ID == st.ID {
			t.Fatal("upload id reused")
		}
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 11, strings.NewReader(content[11:]))
		must(t, err, "WriteUpload after restart")
		d := digest.FromString(content)
		desc, err := f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, d)
		must(t, err, "CompleteUpload after restart")
		if desc.Size != int64(len(content)) {
			t.Fatalf("size %d", desc.Size)
		}
		if got := readBlob(t, f, regA, "app", d); got != content {
			t.Fatalf("blob after resume = %q", got)
		}
		f.restart()
		if got := readBlob(t, f, regA, "app", d); got != content {
			t.Fatalf("blob after another restart = %q", got)
		}
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "completed upload after restart")
	})
}

func TestPutBlob(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		content := []byte("monolithic")
		d := digest.FromBytes(content)
		_, err := f.r.PutBlob(bg, regA, "app", digest.FromString("not it"), bytes.NewReader(content))
		wantKind(t, err, KindDigestInvalid, "PutBlob with a wrong digest")
		if f.blobBytesStored(d) {
			t.Fatal("a refused PutBlob stored bytes")
		}
		_, err = f.r.StatBlob(bg, regA, "app", d)
		wantKind(t, err, KindBlobNotFound, "blob after a refused PutBlob")

		desc, err := f.r.PutBlob(bg, regA, "app", d, bytes.NewReader(content))
		must(t, err, "PutBlob")
		if desc.Digest != d || desc.Size != int64(len(content)) {
			t.Fatalf("PutBlob = %+v", desc)
		}
		if got := readBlob(t, f, regA, "app", d); got != string(content) {
			t.Fatalf("blob = %q", got)
		}
		// Pushing the same content again is fine.
		_, err = f.r.PutBlob(bg, regA, "app", d, bytes.NewReader(content))
		must(t, err, "PutBlob again")

		// sha512 digests work too.
		d512 := digest.SHA512.FromBytes(content)
		_, err = f.r.PutBlob(bg, regA, "app", d512, bytes.NewReader(content))
		must(t, err, "PutBlob sha512")
		if got := readBlob(t, f, regA, "app", d512); got != string(content) {
			t.Fatalf("sha512 blob = %q", got)
		}
	})
}

func TestBlobIsolation(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "repo-a")
		f.createRepo(regA, "repo-b")
		f.createRepo(regB, "repo-a")
		d := f.putBlob(regA, "repo-a", []byte("secret layer"), mtLayer).Digest

		for _, c := range []struct {
			reg  RegistryID
			repo string
		}{{regA, "repo-b"}, {regB, "repo-a"}} {
			_, err := f.r.StatBlob(bg, c.reg, c.repo, d)
			wantKind(t, err, KindBlobNotFound, "StatBlob elsewhere")
			_, err = f.r.OpenBlob(bg, c.reg, c.repo, d)
			wantKind(t, err, KindBlobNotFound, "OpenBlob elsewhere")
			wantKind(t, f.r.DeleteBlob(bg, c.reg, c.repo, d), KindBlobNotFound, "DeleteBlob elsewhere")
		}
		_, err := f.r.StatBlob(bg, regA, "missing", d)
		wantKind(t, err, KindRepositoryNotFound, "StatBlob in a missing repository")
		// Still there for its own repository.
		if got := readBlob(t, f, regA, "repo-a", d); got != "secret layer" {
			t.Fatalf("blob = %q", got)
		}
	})
}

func TestDeleteBlob(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "one")
		f.createRepo(regA, "two")
		d := f.putBlob(regA, "one", []byte("twice linked"), mtLayer).Digest
		f.putBlob(regA, "two", []byte("twice linked"), mtLayer)

		must(t, f.r.DeleteBlob(bg, regA, "one", d), "DeleteBlob")
		_, err := f.r.StatBlob(bg, regA, "one", d)
		wantKind(t, err, KindBlobNotFound, "after DeleteBlob")
		if !f.blobBytesStored(d) {
			t.Fatal("bytes deleted while another repository links them")
		}
		must(t, f.r.DeleteBlob(bg, regA, "two", d), "DeleteBlob last link")
		if f.blobBytesStored(d) {
			t.Fatal("bytes kept after the last link went")
		}
	})
}

func TestMountBlob(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "src")
		f.createRepo(regA, "dst")
		f.createRepo(regA, "anon")
		f.createRepo(regA, "fresh")
		f.createRepo(regA2, "dst")
		f.createRepo(regB, "src")
		f.createRepo(regB, "dst")
		content := []byte("mountable")
		d := f.putBlob(regA, "src", content, mtLayer).Digest
		other := f.putBlob(regB, "src", []byte("account B only"), mtLayer).Digest

		// ECR's BLOB_MOUNTING account setting is off by default.
		if _, ok, err := f.r.MountBlob(asRoot(regA), regA, "dst", "src", d); ok || err != nil {
			t.Fatalf("MountBlob with mounting disabled = %v, %v", ok, err)
		}
		for _, reg := range []RegistryID{regA, regA2, regB} {
			_, err := f.r.UpdateSettings(bg, reg, func(s *RegistrySettings) error {
				s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
				return nil
			})
			must(t, err, "enabling blob mounting")
		}

		desc, ok, err := f.r.MountBlob(asRoot(regA), regA, "dst", "src", d)
		if err != nil || !ok {
			t.Fatalf("MountBlob from src = %v, %v", ok, err)
		}
		if desc.Digest != d || desc.Size != int64(len(content)) {
			t.Fatalf("MountBlob = %+v", desc)
		}
		if got := readBlob(t, f, regA, "dst", d); got != string(content) {
			t.Fatalf("mounted blob = %q", got)
		}

		// Anonymous: found in some repository of the same registry.
		desc, ok, err = f.r.MountBlob(asRoot(regA), regA, "anon", "", d)
		if err != nil || !ok || desc.Size != int64(len(content)) {
			t.Fatalf("anonymous MountBlob = %+v %v, %v", desc, ok, err)
		}
		if _, err := f.r.StatBlob(bg, regA, "anon", d); err != nil {
			t.Fatalf("anonymously mounted blob: %v", err)
		}

		// Nothing to mount: false, no error, nothing linked.
		for _, c := range []struct {
			reg       RegistryID
			repo, src string
			d         digest.Digest
			what      string
		}{
			{regA, "fresh", "anon", digest.FromString("never pushed"), "unknown digest"},
			{regA, "fresh", "nosuchrepo", d, "missing source repository"},
			{regA, "fresh", "src", other, "another account's digest named by a same-named repository"},
			{regA, "fresh", "", other, "another account's blob, anonymously"},
			{regB, "dst", "src", d, "account A's blob from account B"},
			{regB, "dst", "", d, "account A's blob from account B, anonymously"},
			{regA2, "dst", "", d, "same account, other region, anonymously"},
			{regA2, "dst", "src", d, "same account, other region"},
		} {
			_, ok, err := f.r.MountBlob(asRoot(c.reg), c.reg, c.repo, c.src, c.d)
			if err != nil || ok {
				t.Fatalf("%s: MountBlob = %v, %v; want false, nil", c.what, ok, err)
			}
			_, err = f.r.StatBlob(bg, c.reg, c.repo, c.d)
			wantKind(t, err, KindBlobNotFound, c.what+": blob after a failed mount")
		}

		// The target repository must exist (no create-on-push).
		_, _, err = f.r.MountBlob(asRoot(regA), regA, "nosuchrepo", "src", d)
		wantKind(t, err, KindRepositoryNotFound, "mount into a missing repository")

		// The caller needs ecr:GetDownloadUrlForLayer on the source: a denied
		// source is as good as none, named or found anonymously.
		f.createRepo(regA, "secret")
		f.createRepo(regA, "denied")
		hidden := f.putBlob(regA, "secret", []byte("only in secret"), mtLayer).Digest
		az := &recordingAuthorizer{decide: func(req AuthRequest) error {
			if req.Resources[0].Repository == "secret" {
				return Denied("not the secret")
			}
			return nil
		}}
		f.r.authz = az
		for _, src := range []string{"secret", ""} {
			if _, ok, err := f.r.MountBlob(asRoot(regA), regA, "denied", src, hidden); ok || err != nil {
				t.Fatalf("mount from a denied source %q = %v, %v", src, ok, err)
			}
		}
		last := az.asked[len(az.asked)-1]
		if last.Action != "ecr:GetDownloadUrlForLayer" || last.Resources[0].ARN != RepositoryARN(regA, "secret") {
			t.Fatalf("the source was authorized as %+v", last)
		}
		// Found anonymously in a denied and an allowed repository: the allowed one serves.
		f.putBlob(regA, "src", []byte("only in secret"), mtLayer)
		if _, ok, err := f.r.MountBlob(asRoot(regA), regA, "denied", "", hidden); !ok || err != nil {
			t.Fatalf("anonymous mount with one allowed source = %v, %v", ok, err)
		}
		f.r.authz = AccountBoundary{}

		// A mounted link keeps the bytes alive after the source lets go.
		must(t, f.r.DeleteBlob(bg, regA, "src", d), "DeleteBlob in src")
		if got := readBlob(t, f, regA, "dst", d); got != string(content) {
			t.Fatalf("mounted blob after source delete = %q", got)
		}
	})
}

// TestBlobGCRace pushes and deletes the same content in several repositories
// at once: whenever a repository still links the blob, its bytes must exist.
func TestBlobGCRace(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		content := []byte("contended layer")
		d := digest.FromBytes(content)
		repos := []string{"r0", "r1", "r2", "r3"}
		for _, r := range repos {
			f.createRepo(regA, r)
		}
		done := make(chan error, len(repos))
		for i, repo := range repos {
			go func() {
				for j := 0; j < 25; j++ {
					if _, err := f.r.PutBlob(bg, regA, repo, d, bytes.NewReader(content)); err != nil {
						done <- err
						return
					}
					// Every other repository lets go again; odd ones keep the link at the end.
					if i%2 == 0 || j < 24 {
						if err := f.r.DeleteBlob(bg, regA, repo, d); err != nil {
							done <- err
							return
						}
					}
				}
				done <- nil
			}()
		}
		for range repos {
			must(t, <-done, "worker")
		}
		for i, repo := range repos {
			_, err := f.r.StatBlob(bg, regA, repo, d)
			if i%2 == 1 {
				must(t, err, "link kept by "+repo)
				if got := readBlob(t, f, regA, repo, d); got != string(content) {
					t.Fatalf("%s reads %q", repo, got)
				}
			} else {
				wantKind(t, err, KindBlobNotFound, "link dropped by "+repo)
			}
		}
	})
}

func TestUploadIntoDeletedRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("abc"))
		must(t, err, "WriteUpload")
		_, err = f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")

		d := digest.FromString("abc")
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, d)
		wantKind(t, err, KindRepositoryNotFound, "completing an upload of a deleted repository")
		if f.blobBytesStored(d) {
			t.Fatal("the upload of a deleted repository left blob bytes nothing links")
		}
		// The session went with its repository, also for a same-named successor.
		f.createRepo(regA, "app")
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "upload of the deleted repository")
	})
}

// raceKV runs afterView once, right after the next View returns: a window
// between a check and the transaction that acts on it.
type raceKV struct {
	kv.Store
	mu        sync.Mutex
	afterView func()
}

func (s *raceKV) View(fn func(kv.Tx) error) error {
	err := s.Store.View(fn)
	s.mu.Lock()
	hook := s.afterView
	s.afterView = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return err
}

func TestUploadRepositoryDeletedDuringCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		rk := &raceKV{Store: f.kv}
		r := New(Options{KV: rk, Blobs: f.blobs, Clock: f.clock, NewID: f.ids.next, Bus: NewBus(BusOptions{Log: quietLog()})})
		defer r.Bus().Close()

		st, err := r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("racy"))
		must(t, err, "WriteUpload")
		// The repository disappears after commit's existence check, before the link.
		rk.afterView = func() {
			must(t, f.kv.Update(func(tx kv.Tx) error { return tx.Delete(bRepos, repoKey(regA, "app")) }), "deleting the repository record")
		}
		d := digest.FromString("racy")
		_, err = r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, d)
		wantKind(t, err, KindRepositoryNotFound, "completion racing a repository delete")
		if f.blobBytesStored(d) {
			t.Fatal("committed but unlinked bytes were kept")
		}
		_, err = r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindRepositoryNotFound, "the session of a deleted repository")
		f.createRepo(regA, "app")
		_, err = r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "the consumed session, in a re-created repository")

		// Bytes another repository links are never dropped that way.
		f.createRepo(regA, "keeper")
		f.putBlob(regA, "keeper", []byte("shared"), mtLayer)
		_, err = r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		rk.afterView = func() {
			must(t, f.kv.Update(func(tx kv.Tx) error { return tx.Delete(bRepos, repoKey(regA, "app")) }), "deleting the repository record")
		}
		_, err = r.PutBlob(bg, regA, "app", digest.FromString("shared"), strings.NewReader("shared"))
		wantKind(t, err, KindRepositoryNotFound, "PutBlob racing a repository delete")
		if got := readBlob(t, f, regA, "keeper", digest.FromString("shared")); got != "shared" {
			t.Fatalf("keeper's blob = %q", got)
		}
	})
}

// ECR's rule for uploads made of layer parts: every part but the last is at
// least 5 MiB. A refused completion leaves the session usable; chunks sent
// over /v2 do not count as layer parts.
func TestCompleteLayerUploadRequiresLargeNonFinalParts(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		big := bytes.Repeat([]byte("x"), MinLayerPartSize)
		part := func(id string, b []byte) {
			t.Helper()
			_, err := f.r.WriteLayerPart(bg, regA, "app", id, -1, bytes.NewReader(b))
			must(t, err, "WriteLayerPart")
		}
		complete := func(id string, content ...[]byte) error {
			_, err := f.r.CompleteLayerUpload(bg, regA, "app", id, digest.FromBytes(bytes.Join(content, nil)))
			return err
		}

		// 5 MiB, then a small last part: fine.
		ok, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		part(ok.ID, big)
		part(ok.ID, []byte("tail"))
		must(t, complete(ok.ID, big, []byte("tail")), "5 MiB then a small last part")

		// A small part followed by another: refused, and the session stays.
		small, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		part(small.ID, []byte("head"))
		part(small.ID, []byte("tail"))
		wantKind(t, complete(small.ID, []byte("head"), []byte("tail")), KindLayerPartTooSmall, "a small part that was not the last")
		if st, err := f.r.GetUpload(bg, regA, "app", small.ID); err != nil || st.Size != 8 {
			t.Fatalf("session after the refusal: %+v, %v", st, err)
		}
		// The rule holds across a restart.
		f.restart()
		wantKind(t, complete(small.ID, []byte("head"), []byte("tail")), KindLayerPartTooSmall, "after a restart")

		// One small part is the last part: fine. /v2 chunks are not layer parts.
		one, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		part(one.ID, []byte("only"))
		_, err = f.r.WriteUpload(bg, regA, "app", one.ID, -1, strings.NewReader(" and a /v2 chunk"))
		must(t, err, "WriteUpload")
		must(t, complete(one.ID, []byte("only and a /v2 chunk")), "one small layer part, then a /v2 chunk")
	})
}

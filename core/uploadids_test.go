package core

import (
	"bytes"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// writeCounter counts the write transactions a Registry asks of its store.
type writeCounter struct {
	kv.Store
	writes atomic.Int64
}

func (c *writeCounter) Update(fn func(kv.Tx) error) error {
	c.writes.Add(1)
	return c.Store.Update(fn)
}

func (c *writeCounter) Batch(fn func(kv.Tx) error) error {
	c.writes.Add(1)
	return c.Store.Batch(fn)
}

// uploadRecords counts the session records in the store.
func (f *fixture) uploadRecords() int {
	n := 0
	f.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bUploads, nil, nil, func(k, v []byte) bool { n++; return true })
	})
	return n
}

// Starting an upload session writes nothing (once the store has its secret
// for upload ids): the session is known by its id, and after a restart the
// id alone makes it known again, as a session of no bytes, into which the
// blob is then pushed whole.
func TestASessionSurvivesARestartWithoutARecord(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		_, err := f.r.StartUpload(bg, regA, "app") // the store's secret is made once
		must(t, err, "StartUpload")
		wc := &writeCounter{Store: f.kv}
		r := New(Options{KV: wc, Blobs: f.blobs, Clock: f.clock, Rand: f.rand, Log: quietLog()})
		defer r.Bus().Close()
		st, err := r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		if n := wc.writes.Load(); n != 0 {
			t.Fatalf("StartUpload asked for %d write transactions, want none", n)
		}
		if n := f.uploadRecords(); n != 0 {
			t.Fatalf("%d session records after two POSTs, want none", n)
		}

		f.restart()
		got, err := f.r.GetUpload(bg, regA, "app", st.ID)
		if err != nil || got.Size != 0 {
			t.Fatalf("GetUpload after a restart: %+v, %v; want the empty session", got, err)
		}
		content := []byte("pushed after a restart")
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(content), digest.FromBytes(content))
		must(t, err, "CompleteUpload after a restart")
		rd, err := f.r.OpenBlob(bg, regA, "app", digest.FromBytes(content))
		must(t, err, "OpenBlob")
		b, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(b, content) {
			t.Fatalf("read %q, want %q", b, content)
		}
	})
}

// A session that completed, or was cancelled, stays unknown — in this
// process and after a restart — though its id would still check.
func TestAnEndedSessionStaysUnknownAfterARestart(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		done, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.CompleteUpload(bg, regA, "app", done.ID, -1, strings.NewReader("x"), digest.FromString("x"))
		must(t, err, "CompleteUpload")
		cancelled, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		must(t, f.r.CancelUpload(bg, regA, "app", cancelled.ID), "CancelUpload")
		withBytes, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", withBytes.ID, 0, strings.NewReader("chunk"))
		must(t, err, "WriteUpload")
		must(t, f.r.CancelUpload(bg, regA, "app", withBytes.ID), "CancelUpload")

		unknown := func(when string) {
			t.Helper()
			for _, id := range []string{done.ID, cancelled.ID, withBytes.ID} {
				_, err := f.r.GetUpload(bg, regA, "app", id)
				wantKind(t, err, KindUploadNotFound, "GetUpload of an ended session "+when)
				_, err = f.r.WriteUpload(bg, regA, "app", id, 0, strings.NewReader("more"))
				wantKind(t, err, KindUploadNotFound, "WriteUpload into an ended session "+when)
			}
		}
		unknown("in the process that ended it")
		f.restart()
		unknown("after a restart")
	})
}

// An id berth did not hand out for the repository it is used in is unknown:
// forged, of another repository or registry, spelt otherwise, or older than
// the janitor's horizon when no record keeps its session.
func TestAForgedOrExpiredUploadIDIsUnknown(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		f.createRepo(regB, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		f.restart() // no longer held: only the id speaks for it
		flip := []byte(st.ID)
		if flip[35] == '0' {
			flip[35] = '1'
		} else {
			flip[35] = '0'
		}
		for _, c := range []struct {
			what string
			reg  RegistryID
			repo string
			id   string
		}{
			{"a forged MAC", regA, "app", string(flip)},
			{"a random UUID", regA, "app", NewUUID()},
			{"the id in upper case", regA, "app", strings.ToUpper(st.ID)},
			{"not a UUID", regA, "app", "upload-0001"},
			{"another repository", regA, "other", st.ID},
			{"another registry", regB, "app", st.ID},
		} {
			_, err := f.r.GetUpload(bg, c.reg, c.repo, c.id)
			wantKind(t, err, KindUploadNotFound, c.what)
		}
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		must(t, err, "GetUpload of the genuine id")

		old, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		f.restart()
		f.clock.Advance(sessionHorizon)
		_, err = f.r.GetUpload(bg, regA, "app", old.ID)
		wantKind(t, err, KindUploadNotFound, "an id as old as the horizon, without a record")
	})
}

// Deleting a repository ends its sessions, held by this process or not
// (after a restart): a repository created again under the name knows none
// of them. Reset ends every session the same way.
func TestDeletionAndResetEndSessionsWithoutRecords(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		held, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")
		f.createRepo(regA, "app")
		_, err = f.r.GetUpload(bg, regA, "app", held.ID)
		wantKind(t, err, KindUploadNotFound, "a held session of a deleted repository")

		notHeld, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		f.restart()
		_, err = f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")
		f.createRepo(regA, "app")
		_, err = f.r.GetUpload(bg, regA, "app", notHeld.ID)
		wantKind(t, err, KindUploadNotFound, "a session of a deleted repository, after a restart")

		for _, restart := range []bool{false, true} {
			st, err := f.r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
			if restart {
				f.restart()
			}
			must(t, f.r.Reset(bg), "Reset")
			f.createRepo(regA, "app")
			_, err = f.r.GetUpload(bg, regA, "app", st.ID)
			wantKind(t, err, KindUploadNotFound, "a session from before a Reset")
		}
	})
}

// The bytes of a session without a record (its first chunk cut off by a
// crash after they reached a file, before the record that would have
// acknowledged them) are not taken for the session's: it is rebuilt empty.
func TestUnacknowledgedBytesOfASessionWithoutARecordAreDropped(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	up, err := f.blobs.CreateUpload(st.ID)
	must(t, err, "CreateUpload")
	up.Write([]byte("never acknowledged"))
	must(t, up.Close(), "Close")
	f.restart()
	got, err := f.r.GetUpload(bg, regA, "app", st.ID)
	if err != nil || got.Size != 0 {
		t.Fatalf("GetUpload: %+v, %v; want the session empty", got, err)
	}
	if _, u := fileCount(t, f); u != 0 {
		t.Fatalf("%d upload files left, want none", u)
	}
}

// The janitor purges the tombstones of ids past the horizon, when no id of
// theirs rebuilds a session anyway; younger ones stay.
func TestTombstonesArePurgedPastTheHorizon(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		tombstones := func() int {
			n := 0
			f.kv.View(func(tx kv.Tx) error {
				return tx.Scan(bUploadEnds, nil, nil, func(k, v []byte) bool { n++; return true })
			})
			return n
		}
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		must(t, f.r.CancelUpload(bg, regA, "app", st.ID), "CancelUpload")
		f.clock.Advance(sessionHorizon / 2)
		_, err = f.r.ExpireUploads(bg, sessionHorizon)
		must(t, err, "ExpireUploads")
		if n := tombstones(); n != 1 {
			t.Fatalf("%d tombstones before the horizon, want 1", n)
		}
		f.clock.Advance(sessionHorizon / 2)
		_, err = f.r.ExpireUploads(bg, sessionHorizon)
		must(t, err, "ExpireUploads")
		if n := tombstones(); n != 0 {
			t.Fatalf("%d tombstones past the horizon, want none", n)
		}
		f.restart()
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "a cancelled session past the horizon")
	})
}

// The janitor expires sessions without a record that this process holds,
// and they stay unknown after a restart.
func TestExpireUploadsEndsSessionsWithoutRecords(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		f.clock.Advance(2 * activityPrecision)
		fresh, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		n, err := f.r.ExpireUploads(bg, activityPrecision)
		must(t, err, "ExpireUploads")
		if n != 1 {
			t.Fatalf("ExpireUploads discarded %d, want the idle session", n)
		}
		f.restart()
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "an expired session after a restart")
		_, err = f.r.GetUpload(bg, regA, "app", fresh.ID)
		must(t, err, "GetUpload of the fresh session")
	})
}

package core

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
// for upload ids, and the process its block of nonces: one write per
// nonceBlock sessions): the session is known by its id, and after a restart
// the id alone makes it known again, as a session of no bytes, into which
// the blob is then pushed whole.
func TestASessionSurvivesARestartWithoutARecord(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.skipIfEphemeral()
		f.createRepo(regA, "app")
		_, err := f.r.StartUpload(bg, regA, "app") // the store's secret is made once
		must(t, err, "StartUpload")
		wc := &writeCounter{Store: f.kv}
		r := New(Options{KV: wc, Blobs: f.blobs, Clock: f.clock, Rand: f.rand, Log: quietLog()})
		defer r.Bus().Close()
		_, err = r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		if n := wc.writes.Load(); n != 1 {
			t.Fatalf("a process's first StartUpload asked for %d write transactions, want 1 (its block of nonces)", n)
		}
		var st UploadStatus
		for range 10 {
			st, err = r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
		}
		if n := wc.writes.Load(); n != 1 {
			t.Fatalf("10 more StartUploads asked for %d write transactions, want none", n-1)
		}
		if n := f.uploadRecords(); n != 0 {
			t.Fatalf("%d session records after 12 POSTs, want none", n)
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
		f.skipIfEphemeral()
		f.createRepo(regA, "app")
		tombstones := func() int {
			n := 0
			f.kv.View(func(tx kv.Tx) error {
				tx.Scan(bUploadEnds, nil, nil, func(k, v []byte) bool { n++; return true })
				return tx.Scan(bUploadEnded, nil, nil, func(k, v []byte) bool { n++; return true })
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

// endedStore counts what the store keeps of ended sessions: runs of nonces
// and tombstones per id.
func (f *fixture) endedStore() (runs, tombstones int) {
	f.kv.View(func(tx kv.Tx) error {
		tx.Scan(bUploadEnded, nil, nil, func(k, v []byte) bool { runs++; return true })
		return tx.Scan(bUploadEnds, nil, nil, func(k, v []byte) bool { tombstones++; return true })
	})
	return runs, tombstones
}

// Sessions that end, in any order, are kept as runs of nonces, joined as
// the sessions between them end; one left open splits a run and is still
// rebuilt from its id after a restart, and every ended one stays unknown,
// also after a restart. The janitor purges runs past the horizon.
func TestEndedSessionsAreKeptAsRunsOfNonces(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.skipIfEphemeral()
		f.createRepo(regA, "app")
		_, err := f.r.StartUpload(bg, regA, "app") // the counter starts from the next second
		must(t, err, "StartUpload")
		f.clock.Advance(2 * time.Second)
		var s [6]UploadStatus
		for i := range s {
			s[i], err = f.r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
		}
		complete := func(i int) {
			t.Helper()
			c := []byte("blob " + itoa(int64(i)))
			_, err := f.r.CompleteUpload(bg, regA, "app", s[i].ID, 0, bytes.NewReader(c), digest.FromBytes(c))
			must(t, err, "CompleteUpload")
		}
		complete(0)
		complete(2)
		complete(1)
		must(t, f.r.CancelUpload(bg, regA, "app", s[4].ID), "CancelUpload")
		if runs, ts := f.endedStore(); runs != 2 || ts != 0 {
			t.Fatalf("sessions 0–2 and 4 ended, 3 and 5 open: %d runs and %d tombstones, want 2 runs (0–2, 4) and none", runs, ts)
		}
		check := func(when string, ended ...int) {
			t.Helper()
			for i := range s {
				_, err := f.r.GetUpload(bg, regA, "app", s[i].ID)
				if slices.Contains(ended, i) {
					wantKind(t, err, KindUploadNotFound, "GetUpload of ended session "+itoa(int64(i))+" "+when)
				} else if err != nil {
					t.Fatalf("GetUpload of open session %d %s: %v", i, when, err)
				}
			}
		}
		check("in the process that ended them", 0, 1, 2, 4)
		f.restart()
		check("after a restart", 0, 1, 2, 4)
		complete(3)
		must(t, f.r.CancelUpload(bg, regA, "app", s[5].ID), "CancelUpload")
		if runs, _ := f.endedStore(); runs != 1 {
			t.Fatalf("sessions 0–5 ended: %d runs, want 1", runs)
		}
		f.restart()
		check("after a restart", 0, 1, 2, 3, 4, 5)
		fresh, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload after a restart")
		for _, st := range s {
			if fresh.ID[:18] == st.ID[:18] {
				t.Fatalf("a new process handed out the start and nonce of %s again: %s", st.ID, fresh.ID)
			}
		}

		f.clock.Advance(sessionHorizon / 2)
		_, err = f.r.ExpireUploads(bg, sessionHorizon)
		must(t, err, "ExpireUploads")
		if runs, _ := f.endedStore(); runs != 1 {
			t.Fatalf("%d runs before the horizon, want 1", runs)
		}
		f.clock.Advance(sessionHorizon / 2)
		_, err = f.r.ExpireUploads(bg, sessionHorizon)
		must(t, err, "ExpireUploads")
		if runs, _ := f.endedStore(); runs != 0 {
			t.Fatalf("%d runs past the horizon, want none", runs)
		}
		f.restart()
		check("past the horizon", 0, 1, 2, 3, 4, 5)
	})
}

// A store of layout 7 (ids of random nonces, a tombstone per ended one)
// opened by this berth: its ended sessions stay unknown, one left open is
// rebuilt from its id and can be completed, after which it stays unknown;
// sessions started since are ended by the runs of nonces, and the two kinds
// of id do not mistake each other, though the counter starts at nonces the
// old ids had.
func TestOpenKeepsLayout7TombstonesAndSessions(t *testing.T) {
	f := onDisk(t)
	f.createRepo(regA, "app")
	done, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	open, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	_, err = f.r.CompleteUpload(bg, regA, "app", done.ID, -1, strings.NewReader("x"), digest.FromString("x"))
	must(t, err, "CompleteUpload")
	// As layout 7 left it: no counter, no runs, tombstones per id.
	must(t, f.kv.Update(func(tx kv.Tx) error {
		if err := tx.Delete(bUploadKey, noncesName); err != nil {
			return err
		}
		return tx.Put(bMeta, schemaKey, []byte("7"))
	}), "downgrade to layout 7")
	if runs, ts := f.endedStore(); runs != 0 || ts != 1 {
		t.Fatalf("layout 7's store: %d runs, %d tombstones; want 0 and 1", runs, ts)
	}
	f.r.Close()
	f.kv, f.blobs = f.reopen()
	r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock, Rand: f.rand, Log: quietLog(), InlineBlobs: DefaultInlineBlobs})
	must(t, err, "Open")
	f.r = r
	var version string
	f.kv.View(func(tx kv.Tx) error { version = string(tx.Get(bMeta, schemaKey)); return nil })
	if version != schemaVersion {
		t.Fatalf("layout %q after Open, want %s", version, schemaVersion)
	}
	_, err = f.r.GetUpload(bg, regA, "app", done.ID)
	wantKind(t, err, KindUploadNotFound, "a session layout 7 ended")
	_, err = f.r.GetUpload(bg, regA, "app", open.ID)
	must(t, err, "GetUpload of a session layout 7 left open")

	_, err = f.r.StartUpload(bg, regA, "app") // the counter starts from the next second
	must(t, err, "StartUpload")
	f.clock.Advance(2 * time.Second)
	var fresh [2]UploadStatus
	for i := range fresh {
		fresh[i], err = f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
	}
	_, err = f.r.CompleteUpload(bg, regA, "app", open.ID, -1, strings.NewReader("y"), digest.FromString("y"))
	must(t, err, "CompleteUpload of layout 7's session")
	must(t, f.r.CancelUpload(bg, regA, "app", fresh[0].ID), "CancelUpload")
	if runs, ts := f.endedStore(); runs != 1 || ts != 2 {
		t.Fatalf("%d runs, %d tombstones; want 1 (the new session's) and 2 (layout 7's ids')", runs, ts)
	}
	f.restart()
	for _, id := range []string{done.ID, open.ID, fresh[0].ID} {
		_, err = f.r.GetUpload(bg, regA, "app", id)
		wantKind(t, err, KindUploadNotFound, "an ended session after a restart")
	}
	_, err = f.r.GetUpload(bg, regA, "app", fresh[1].ID)
	must(t, err, "GetUpload of the open new session after a restart")
}

// The counter of nonces wraps: nonces still ended are skipped, not handed
// out again.
func TestNoncesStillEndedAreSkippedAfterTheCounterWraps(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.skipIfEphemeral()
		f.createRepo(regA, "app")
		counter := func(next uint32, epoch int64) {
			t.Helper()
			must(t, f.kv.Update(func(tx kv.Tx) error {
				v := binary.BigEndian.AppendUint32(nil, next)
				return tx.Put(bUploadKey, noncesName, binary.BigEndian.AppendUint64(v, uint64(epoch)))
			}), "set the counter")
		}
		// A counter started before, so that the first nonce, 0, is ended by its run.
		counter(0, f.clock.Now().Unix()-10)
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		must(t, f.r.CancelUpload(bg, regA, "app", st.ID), "CancelUpload")
		if runs, _ := f.endedStore(); runs != 1 {
			t.Fatalf("%d runs, want 1", runs)
		}
		// The next process finds the counter at its end.
		counter(1<<32-1, f.clock.Now().Unix()-10)
		f.restart()
		fresh, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload after the counter wrapped")
		if fresh.ID[9:18] == st.ID[9:18] {
			t.Fatalf("the wrapped counter handed out the ended nonce of %s again: %s", st.ID, fresh.ID)
		}
		_, err = f.r.GetUpload(bg, regA, "app", fresh.ID)
		must(t, err, "GetUpload of the fresh session")
		_, err = f.r.GetUpload(bg, regA, "app", st.ID)
		wantKind(t, err, KindUploadNotFound, "the ended session")
	})
}

// parseUUID is every session's lookup: it must take exactly what formatUUID
// writes, and nothing else (an id is known by its exact spelling).
func TestParseUUIDTakesExactlyWhatFormatUUIDWrites(t *testing.T) {
	for _, b := range [][16]byte{{}, {0: 0xff, 15: 0x01}, {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}} {
		id := formatUUID(b)
		got, ok := parseUUID(id)
		if !ok || got != b {
			t.Errorf("parseUUID(%q) = %x, %v; want %x", id, got, ok, b)
		}
	}
	good := formatUUID([16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10})
	bad := []string{
		"", good[:35], good + "0", strings.ToUpper(good),
		"0-234567-89ab-cdef-fedc-ba9876543210",    // a dash where a digit goes
		"01234567089ab-cdef-fedc-ba9876543210",    // a digit where the dash goes
		"0123456-789ab-cdef-fedc-ba9876543210",    // a group a digit short, the next a digit long
		"01234567-89ab-cdef-fedc-ba987654321g",    // not hex
		"01234567-89ab-cdef-fedc-ba98765432 0",    // a space
		"01234567-89ab-cdef-fedc-ba987654321\x00", // a NUL
		"+1234567-89ab-cdef-fedc-ba9876543210",
	}
	for _, id := range bad {
		if b, ok := parseUUID(id); ok {
			t.Errorf("parseUUID(%q) = %x, true; want false", id, b)
		}
	}
}

// A session without a record whose id the store already counts as ended
// (ended by another transaction while this process still held it open) does
// not complete: the completion's transaction finds the end and links
// nothing.
func TestASessionEndedInTheStoreDoesNotComplete(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.skipIfEphemeral()
		f.createRepo(regA, "app")
		for _, counted := range []bool{false, true} {
			if counted {
				f.clock.Advance(2 * time.Second) // past the counter's epoch
			}
			st, err := f.r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
			b, _ := parseUUID(st.ID)
			must(t, f.r.kv.Update(func(tx kv.Tx) error {
				if countedID(tx, b) != counted {
					t.Fatalf("id %s counted %v, want %v", st.ID, !counted, counted)
				}
				return endIDTx(tx, st.ID, f.clock.Now())
			}), "ending the id")
			c := []byte("ended meanwhile " + st.ID)
			_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(c), digest.FromBytes(c))
			wantKind(t, err, KindUploadNotFound, "CompleteUpload of a session ended in the store")
			_, err = f.r.StatBlob(bg, regA, "app", digest.FromBytes(c))
			wantKind(t, err, KindBlobNotFound, "StatBlob of the refused completion's blob")
		}
	})
}

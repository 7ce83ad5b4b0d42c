package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// noApplies keeps the overlay (and the journal) whole until a test applies
// it itself: only Close and applyNow apply.
var noApplies = boltConfig{applyBytes: 1 << 40, applyQuiet: time.Hour}

// crash ends b as a crash would, as far as the files go: nothing applied,
// the journal left as it is (every commit synced its own record; bbolt's
// commits, the applies, synced theirs).
func (b *Bolt) crash() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.applierEnd
	b.amu.Lock()
	defer b.amu.Unlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.closed = true
	b.retireRead(true) // bbolt's Close waits for the shared read transaction
	b.db.Close()
	b.j.close()
}

// applyNow applies the overlay as the applier would.
func (b *Bolt) applyNow(t *testing.T) {
	t.Helper()
	if err := b.applyLocked(); err != nil {
		t.Fatal(err)
	}
}

// applyLocked applies what the journal holds, as the applier does (for a
// goroutine other than the test's).
func (b *Bolt) applyLocked() error {
	b.amu.Lock()
	defer b.amu.Unlock()
	return b.apply(false)
}

// appliedSeq is the journal sequence bbolt's file holds.
func (b *Bolt) appliedSeq(t *testing.T) uint64 {
	t.Helper()
	var seq uint64
	b.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte(appliedBucket)); bk != nil {
			seq = binary.BigEndian.Uint64(bk.Get([]byte(appliedKey)))
		}
		return nil
	})
	return seq
}

type kvWrite struct {
	bucket, key, value string // value "": deleted
}

func applyWrites(t *testing.T, b *Bolt, ws []kvWrite, batch bool) {
	t.Helper()
	fn := func(tx Tx) error {
		for _, w := range ws {
			var err error
			if w.value == "" {
				err = tx.Delete(w.bucket, []byte(w.key))
			} else {
				err = tx.Put(w.bucket, []byte(w.key), []byte(w.value))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if batch {
		err = b.Batch(fn)
	} else {
		err = b.Update(fn)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// checkStore verifies that the store holds exactly want and passes bbolt's
// consistency check.
func checkStore(t *testing.T, b *Bolt, want map[[2]string]string) {
	t.Helper()
	err := b.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tx.Check: %v", err)
	}
	got := map[[2]string]string{}
	b.View(func(tx Tx) error {
		for _, bk := range []string{"a", "b", "c"} {
			tx.Scan(bk, nil, nil, func(k, v []byte) bool {
				got[[2]string{bk, string(k)}] = string(v)
				return true
			})
		}
		return nil
	})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s/%s = %.20q, want %.20q", k[0], k[1], got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s/%s present, never written or deleted", k[0], k[1])
		}
	}
}

type journalRecord struct {
	seq       uint64
	off, size int64
}

// journalRecords lists the journal's records after its header.
func journalRecords(t *testing.T, jpath string) []journalRecord {
	t.Helper()
	j, err := openJournal(jpath, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if ok, err := j.readHeader(); err != nil || !ok {
		t.Fatalf("no journal header: %v", err)
	}
	var out []journalRecord
	off := int64(recordsAt)
	err = j.records(func(seq uint64, p []byte) error {
		out = append(out, journalRecord{seq, off, int64(recordHead + len(p))})
		off += int64(recordHead + len(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Writes reach bbolt only when applied, and then many commits in one
// bbolt commit; until then the overlay serves them, over bbolt.
func TestBoltAppliesManyCommitsAtOnce(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), noApplies)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := map[[2]string]string{}
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		applyWrites(t, b, []kvWrite{{"a", k, "v" + k}}, false)
		want[[2]string{"a", k}] = "v" + k
	}
	_, pages0 := b.WriteCounts()
	if b.applies.Load() != 0 || b.appliedSeq(t) != 0 {
		t.Fatalf("%d applies before any was asked for", b.applies.Load())
	}
	checkStore(t, b, want)
	b.applyNow(t)
	_, pages1 := b.WriteCounts()
	if b.applies.Load() != 1 || b.appliedSeq(t) != 20 {
		t.Fatalf("after one apply: %d applies, bbolt holds records up to %d, want 1 and 20", b.applies.Load(), b.appliedSeq(t))
	}
	if o := b.ov.Load(); len(o.buckets) != 0 || o.version != 20 || o.base != 20 {
		t.Fatalf("after the apply the overlay holds %d buckets, version %d, base %d", len(o.buckets), o.version, o.base)
	}
	if b.j.size() != 0 {
		t.Fatalf("the journal holds %d bytes after an apply of everything: it did not restart", b.j.size())
	}
	t.Logf("20 commits applied in one bbolt commit of %d pages", pages1-pages0)
	checkStore(t, b, want)
}

// A torn last record (the crash came while it was written, so it was never
// acknowledged) is ignored, and a record whose checksum fails stops replay
// there: nothing after it is applied. A record whose checksum holds but
// whose writes cannot be read is not something a crash leaves: the store
// does not open.
func TestBoltJournalStopsAtATornOrBadRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(f *os.File, rs []journalRecord) // of 8 records
		survive int                                  // writes kept; -1: the open fails
	}{
		{"torn tail", func(f *os.File, rs []journalRecord) {
			last := rs[len(rs)-1]
			f.Truncate(last.off + last.size/2)
		}, 7},
		{"bad checksum in the middle", func(f *os.File, rs []journalRecord) {
			b := make([]byte, 1)
			f.ReadAt(b, rs[5].off+rs[5].size-1)
			f.WriteAt([]byte{b[0] ^ 0xff}, rs[5].off+rs[5].size-1)
		}, 5},
		{"undecodable record", func(f *os.File, rs []journalRecord) {
			spoilRecord(f, rs[5])
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			b, err := openBolt(path, noApplies)
			if err != nil {
				t.Fatal(err)
			}
			applyWrites(t, b, []kvWrite{{"a", "base", "before the apply"}}, false)
			b.applyNow(t)
			for i := 0; i < 8; i++ {
				applyWrites(t, b, []kvWrite{{"a", fmt.Sprintf("k%d", i), strings.Repeat("v", 100+i)}}, false)
			}
			b.crash()
			rs := journalRecords(t, path+".journal")
			if len(rs) != 8 {
				t.Fatalf("%d records, want 8", len(rs))
			}
			f, err := os.OpenFile(path+".journal", os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(f, rs)
			f.Close()

			b, err = openBolt(path, noApplies)
			if tc.survive < 0 {
				if err == nil {
					b.Close()
					t.Fatal("a journal with an undecodable record opened")
				}
				if !errors.Is(err, errBadRecord) {
					t.Fatalf("error %v, want errBadRecord", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			want := map[[2]string]string{{"a", "base"}: "before the apply"}
			for i := 0; i < tc.survive; i++ {
				want[[2]string{"a", fmt.Sprintf("k%d", i)}] = strings.Repeat("v", 100+i)
			}
			checkStore(t, b, want)
		})
	}
}

// spoilRecord replaces r's payload with one of the same length whose
// first write has no valid op, under a valid checksum.
func spoilRecord(f *os.File, r journalRecord) {
	n := int(r.size) - recordHead
	p := make([]byte, 0, n)
	p = append(p, 9, 1, 'a')
	p = binary.AppendUvarint(p, uint64(n-len(p)-1)) // n < 128 here: one byte
	p = p[:n]
	head := make([]byte, recordHead)
	f.ReadAt(head, r.off)
	le := binary.LittleEndian
	le.PutUint32(head[4:], crc32.Update(crc32.Checksum(head[8:], castagnoli), castagnoli, p))
	f.WriteAt(append(head, p...), r.off)
}

// Recovery replays exactly the records after the sequence bbolt holds: the
// ones before (still in the journal when writes came in during the apply)
// are not read again — one made undecodable does not stop the open — and
// every one after is.
func TestBoltRecoveryReplaysTheRecordsAfterTheApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := openBolt(path, noApplies)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		applyWrites(t, b, []kvWrite{{"a", "k", fmt.Sprint(i)}, {"a", fmt.Sprintf("k%d", i), "x"}}, false)
	}
	// An apply of records 1–4, with a commit published between its
	// snapshot and its end: the journal cannot restart.
	o := b.ov.Load()
	txid, err := b.applyToBolt(o)
	if err != nil {
		t.Fatal(err)
	}
	applyWrites(t, b, []kvWrite{{"a", "k", "4"}, {"a", "k0", ""}}, false)
	cur := b.ov.Load()
	b.wmu.Lock()
	err = b.publishApplied(o, txid)
	b.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.ov.Load(); got.version != cur.version || got.base != 4 {
		t.Fatalf("after the apply: overlay version %d base %d, want %d and 4", got.version, got.base, cur.version)
	}
	applyWrites(t, b, []kvWrite{{"b", "k", "after"}}, false)
	b.crash()
	if s := readApplied(t, path); s != 4 {
		t.Fatalf("bbolt holds records up to %d, want 4", s)
	}
	rs := journalRecords(t, path+".journal")
	if len(rs) != 6 || rs[0].seq != 1 {
		t.Fatalf("journal records %v, want 1–6", rs)
	}
	f, err := os.OpenFile(path+".journal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	spoilRecord(f, rs[1]) // record 2: applied already
	f.Close()
	b, err = openBolt(path, noApplies)
	if err != nil {
		t.Fatalf("a record bbolt holds was replayed: %v", err)
	}
	defer b.Close()
	checkStore(t, b, map[[2]string]string{
		{"a", "k"}: "4", {"a", "k1"}: "x", {"a", "k2"}: "x", {"a", "k3"}: "x", {"b", "k"}: "after",
	})
	if s := b.appliedSeq(t); s != 6 {
		t.Fatalf("after recovery bbolt holds records up to %d, want 6", s)
	}
}

func readApplied(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq uint64
	db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte(appliedBucket)); bk != nil {
			seq = binary.BigEndian.Uint64(bk.Get([]byte(appliedKey)))
		}
		return nil
	})
	return seq
}

// A View sees all of a commit or none of it, and never bbolt in a state its
// overlay does not fit, while applies run after every commit: each commit
// sets a counter and adds the key of its value; a reader that finds the
// counter at n must find keys up to n and none beyond.
func TestBoltViewsSeeWholeCommitsDuringApplies(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), boltConfig{applyBytes: 1, applyQuiet: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const commits = 400
	var done atomic.Bool
	var wg sync.WaitGroup
	var views, bad atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				b.View(func(tx Tx) error {
					c := tx.Get("c", []byte("n"))
					if c == nil {
						return nil
					}
					n := binary.BigEndian.Uint64(c)
					has := func(i uint64) bool { return tx.Get("k", binary.BigEndian.AppendUint64(nil, i)) != nil }
					if !has(n) || has(n+1) {
						bad.Add(1)
					}
					views.Add(1)
					return nil
				})
			}
		}()
	}
	for i := uint64(1); i <= commits; i++ {
		err := b.Batch(func(tx Tx) error {
			v := binary.BigEndian.AppendUint64(nil, i)
			if err := tx.Put("k", v, v); err != nil {
				return err
			}
			return tx.Put("c", []byte("n"), v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d views during %d commits and %d applies", views.Load(), commits, b.applies.Load())
	if bad.Load() > 0 {
		t.Fatalf("%d of %d views saw a counter and keys of different commits", bad.Load(), views.Load())
	}
	if b.applies.Load() < 10 {
		t.Fatalf("only %d applies during the test", b.applies.Load())
	}
}

// The crash test: a child process (this test binary, re-executed) writes
// with Batch from several goroutines and prints each key once Batch has
// returned, applying often; it is killed (SIGKILL) at a random instant —
// in a journal append, an apply, a journal restart — and every key it
// printed must be in the reopened store, which must pass bbolt's check.
func TestBoltJournalSurvivesKill(t *testing.T) {
	if dir := os.Getenv("BERTH_KV_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.db")
	acked := map[string]string{}
	rng := rand.New(rand.NewPCG(3, 4))
	var replayed int
	for run := 0; run < 30; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBoltJournalSurvivesKill$")
		cmd.Env = append(os.Environ(), "BERTH_KV_CRASH_CHILD="+dir, fmt.Sprintf("BERTH_KV_CRASH_RUN=%d", run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill after a random number of acknowledged writes, so the
		// instant falls anywhere in a commit or an apply.
		n := 20 + rng.IntN(400)
		for i := 0; i < n; {
			l, ok := <-lines
			if !ok {
				t.Fatalf("run %d: the child ended: %v", run, cmd.Wait())
			}
			if k, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(k, "k") {
				acked[k] = v
				i++
			}
		}
		cmd.Process.Kill()
		for l := range lines { // printed before it died: acknowledged too
			if k, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(k, "k") {
				acked[k] = v
			}
		}
		cmd.Wait()

		before := readApplied(t, path)
		b, err := openBolt(path, noApplies)
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
		}
		if b.appliedSeq(t) > before {
			replayed++
		}
		err = b.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatalf("run %d: tx.Check: %v", run, err)
		}
		missing := 0
		b.View(func(tx Tx) error {
			for k, v := range acked {
				if string(tx.Get("a", []byte(k))) != v {
					missing++
				}
			}
			return nil
		})
		if missing > 0 {
			t.Fatalf("run %d: %d of %d acknowledged writes lost", run, missing, len(acked))
		}
		// Half the runs leave the store as the crash did, for the next
		// child to recover; the others close it (a clean stop).
		if run%2 == 0 {
			b.crash()
		} else if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d acknowledged writes survived 30 kills; %d recoveries replayed journal records", len(acked), replayed)
	if replayed < 10 {
		t.Errorf("only %d of 30 recoveries replayed records: the kills did not test the journal", replayed)
	}
}

// crashChild writes until killed: 4 goroutines Batch a key each (some
// large, so that the file grows and applies come often), and print it
// once acknowledged.
func crashChild(dir string) {
	b, err := openBolt(filepath.Join(dir, "meta.db"), boltConfig{applyBytes: 64 << 10, applyQuiet: time.Millisecond})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	run := os.Getenv("BERTH_KV_CRASH_RUN")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("k%s-%d-%d", run, g, i)
				v := strings.Repeat(fmt.Sprintf("%d.", i), 1+(i*37)%900)
				err := b.Batch(func(tx Tx) error {
					if err := tx.Put("a", []byte(k), []byte(v)); err != nil {
						return err
					}
					// Churn: overwrite and delete, so pages are freed and reused.
					tx.Put("b", []byte(fmt.Sprintf("x%d", i%50)), []byte(v))
					return tx.Delete("b", []byte(fmt.Sprintf("x%d", (i+25)%50)))
				})
				if err != nil {
					fmt.Println("batch:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("%s %s\n", k, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// Close applies and removes the journal: what it leaves is a plain bbolt
// file holding every write, as an older binary (without the journal)
// expects.
func TestBoltCloseLeavesAPlainDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := openBolt(path, noApplies)
	if err != nil {
		t.Fatal(err)
	}
	applyWrites(t, b, []kvWrite{{"a", "k", "v"}}, true)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the journal is still there after Close: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte("a")); bk == nil || string(bk.Get([]byte("k"))) != "v" {
			return errors.New("the write is not in the bbolt file")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An older copy of the database file put back after a crash is not
// "recovered" with a journal that no longer holds what the copy lacks:
// OpenBolt refuses it and says why.
func TestBoltJournalRefusesAnOlderFileThanItExpects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := openBolt(path, noApplies)
	if err != nil {
		t.Fatal(err)
	}
	applyWrites(t, b, []kvWrite{{"a", "k1", "v"}}, false)
	b.applyNow(t)
	older, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		applyWrites(t, b, []kvWrite{{"a", fmt.Sprintf("k%d", i+2), "v"}}, false)
	}
	b.applyNow(t) // the journal restarts after record 6
	applyWrites(t, b, []kvWrite{{"a", "last", "v"}}, false)
	b.crash()
	if err := os.WriteFile(path, older, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = openBolt(path, noApplies)
	if err == nil {
		b.Close()
		t.Fatal("an older file than the journal expects was opened")
	}
	if !strings.Contains(err.Error(), "older copy") {
		t.Fatalf("error %q does not say why", err)
	}
}

// A journal left by round 8's berth (format 1) is refused, not misread.
func TestBoltRefusesAnOlderJournalFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	b.crash()
	h := make([]byte, 32)
	copy(h, journalMagic)
	binary.LittleEndian.PutUint32(h[8:], 1)
	f, err := os.Create(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(h, 256<<10) // format 1's first header is in its second slot
	f.Close()
	b, err = OpenBolt(path)
	if err == nil {
		b.Close()
		t.Fatal("a format-1 journal was opened")
	}
	if !errors.Is(err, errOldJournal) {
		t.Fatalf("error %v, want errOldJournal", err)
	}
}

// A commit whose journal record cannot be written is not acknowledged and
// never seen: readers see the overlay only once the record is synced, and
// writes fail from then on.
func TestBoltFailedAppendIsNeverSeen(t *testing.T) {
	b, err := openBolt(filepath.Join(t.TempDir(), "meta.db"), noApplies)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	applyWrites(t, b, []kvWrite{{"a", "k", "1"}}, false)
	b.j.f.Close() // the append's write fails
	err = b.Update(func(tx Tx) error { return tx.Put("a", []byte("k"), []byte("2")) })
	if err == nil {
		t.Fatal("a commit whose record could not be written succeeded")
	}
	b.View(func(tx Tx) error {
		if v := string(tx.Get("a", []byte("k"))); v != "1" {
			t.Errorf("a/k = %q after a failed commit, want %q", v, "1")
		}
		return nil
	})
	if err := b.Update(func(tx Tx) error { return tx.Put("a", []byte("j"), []byte("3")) }); err == nil {
		t.Fatal("a write after a failed append succeeded")
	}
}

package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crash ends b as a crash would, as far as the files go: no checkpoint, no
// sync; what was written stays in the page cache, which the tests scribble
// over where a crash could have lost or torn it.
func (b *Bolt) crash() {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.pin != nil {
		b.pin.Rollback()
		b.pin = nil
	}
	b.db.Close() // NoSync: closing writes and syncs nothing
	b.j.close()
	b.dbf.Close()
	b.j = nil
}

// checkpointNow checkpoints as a write transaction would.
func (b *Bolt) checkpointNow(t *testing.T) {
	t.Helper()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	err := b.db.Update(func(tx *bolt.Tx) error {
		if err := b.checkpoint(tx.Size()); err != nil {
			return err
		}
		return errNoCommit
	})
	if !errors.Is(err, errNoCommit) {
		t.Fatal(err)
	}
}

// livePages lists the pages reachable from a meta page's root in a bbolt
// file image (bbolt's page layout: a 16-byte header — id, flags, count,
// overflow — then 16-byte elements whose pos is relative to the element).
func livePages(img []byte, ps int, meta []byte) map[uint64]bool {
	le := binary.LittleEndian
	live := map[uint64]bool{}
	var walk func(id uint64)
	walk = func(id uint64) {
		p := img[int(id)*ps:]
		flags, count, overflow := le.Uint16(p[8:]), int(le.Uint16(p[10:])), uint64(le.Uint32(p[12:]))
		for i := uint64(0); i <= overflow; i++ {
			live[id+i] = true
		}
		for i := 0; i < count; i++ {
			e := 16 + i*16
			switch flags {
			case 0x01: // branch: pos, ksize, pgid
				walk(le.Uint64(p[e+8:]))
			case 0x02: // leaf: flags, pos, ksize, vsize
				if le.Uint32(p[e:])&0x01 != 0 { // a bucket: its root, or inline
					v := p[e+int(le.Uint32(p[e+4:]))+int(le.Uint32(p[e+8:])):]
					if root := le.Uint64(v); root != 0 {
						walk(root)
					}
				}
			}
		}
	}
	walk(le.Uint64(meta[32:])) // the meta's root bucket, after the page header and 4 fields
	return live
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

// A crash loses no acknowledged write and leaves a consistent store, even
// when every page not live at the last checkpoint, and both meta pages, were
// torn: recovery writes the checkpoint's meta pages back and replays the
// journal. It also checks the pin's promise: no page live at the checkpoint
// was written after it.
func TestBoltJournalRecoversFromTornUnsyncedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	// Checkpoints only where the test makes them: the last must be the
	// one whose image it keeps.
	b, err := openBolt(path, boltConfig{journal: true, initialMmap: defaultInitialMmap, checkpointEvery: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[[2]string]string{}
	round := func(n int) {
		for i := 0; i < n; i++ {
			var ws []kvWrite
			for k := 0; k < 1+rng.IntN(5); k++ {
				w := kvWrite{bucket: []string{"a", "b", "c"}[rng.IntN(3)], key: fmt.Sprintf("k%04d", rng.IntN(400))}
				if rng.IntN(5) > 0 {
					w.value = strings.Repeat(strconv.Itoa(i), 1+rng.IntN(3000))
				}
				ws = append(ws, w)
			}
			applyWrites(t, b, ws, i%2 == 0)
			for _, w := range ws {
				if w.value == "" {
					delete(want, [2]string{w.bucket, w.key})
				} else {
					want[[2]string{w.bucket, w.key}] = w.value
				}
			}
		}
	}
	for i := 0; i < 3; i++ {
		round(100)
		b.checkpointNow(t)
	}
	imgC, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	round(300) // journaled, unsynced in bbolt
	b.crash()

	j, err := openJournal(path+".journal", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	metas, ok, err := j.readHeader()
	j.close()
	if err != nil || !ok {
		t.Fatalf("no journal header: %v", err)
	}
	ps := len(metas) / 2
	live := livePages(imgC, ps, newestMeta(metas, ps))
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scribbled := 0
	for id := 0; id*ps < len(img); id++ {
		page := img[id*ps : (id+1)*ps]
		if live[uint64(id)] {
			if string(page) != string(imgC[id*ps:(id+1)*ps]) {
				t.Fatalf("page %d, live at the checkpoint, was written after it", id)
			}
			continue
		}
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		scribbled++
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d live pages at the checkpoint, %d scribbled (metas included)", len(live), scribbled)

	b, err = openBolt(path, boltConfig{journal: true, initialMmap: defaultInitialMmap})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkStore(t, b, want)
}

// journalRecords returns the offsets of the current epoch's records.
func journalRecords(t *testing.T, jpath string) (offsets []int64, lens []int64) {
	t.Helper()
	j, err := openJournal(jpath, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if _, ok, err := j.readHeader(); err != nil || !ok {
		t.Fatalf("no journal header: %v", err)
	}
	off := j.recordsAt
	err = j.records(func(p []byte) error {
		offsets = append(offsets, off)
		lens = append(lens, int64(recordHead+len(p)))
		off += int64(recordHead + len(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offsets, lens
}

// A torn last record (the crash came while it was written, so it was never
// acknowledged) is ignored, and a record whose checksum fails stops replay
// there: nothing after it is applied.
func TestBoltJournalStopsAtATornOrBadRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(f *os.File, offs, lens []int64) // on the record at index 5 (of 8)
		survive int                                  // writes kept
	}{
		{"torn tail", func(f *os.File, offs, lens []int64) {
			// The last record, half written.
			last := len(offs) - 1
			f.Truncate(offs[last] + lens[last]/2)
		}, 7},
		{"bad checksum in the middle", func(f *os.File, offs, lens []int64) {
			b := make([]byte, 1)
			f.ReadAt(b, offs[5]+lens[5]-1)
			f.WriteAt([]byte{b[0] ^ 0xff}, offs[5]+lens[5]-1)
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			b, err := OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			applyWrites(t, b, []kvWrite{{"a", "base", "before the checkpoint"}}, false)
			b.checkpointNow(t)
			for i := 0; i < 8; i++ {
				applyWrites(t, b, []kvWrite{{"a", fmt.Sprintf("k%d", i), strings.Repeat("v", 100+i)}}, false)
			}
			b.crash()
			offs, lens := journalRecords(t, path+".journal")
			if len(offs) != 8 {
				t.Fatalf("%d records, want 8", len(offs))
			}
			f, err := os.OpenFile(path+".journal", os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(f, offs, lens)
			f.Close()

			b, err = OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			want := map[[2]string]string{{"a", "base"}: "before the checkpoint"}
			for i := 0; i < tc.survive; i++ {
				want[[2]string{"a", fmt.Sprintf("k%d", i)}] = strings.Repeat("v", 100+i)
			}
			checkStore(t, b, want)
		})
	}
}

// A store that outgrows bbolt's map while the pin is open neither deadlocks
// (a remap waits for every read transaction, the pin included) nor loses
// writes: commits that may remap let the pin go first.
func TestBoltJournalGrowsPastTheMapWithoutDeadlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	open := func() *Bolt {
		b, err := openBolt(path, boltConfig{journal: true, initialMmap: 256 << 10, checkpointEvery: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	want := map[[2]string]string{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 150; i++ {
					k, v := fmt.Sprintf("g%dk%04d", g, i), strings.Repeat(string(rune('a'+g)), 20000)
					if err := b.Batch(func(tx Tx) error { return tx.Put("a", []byte(k), []byte(v)) }); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					want[[2]string{"a", k}] = v
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a deadlock, not a slow machine
		t.Fatal("writes still blocked after 2 minutes: a remap waits for the pin")
	}
	if fi, _ := os.Stat(path); fi.Size() < 4<<20 {
		t.Fatalf("the file grew to %d bytes only: no remap was needed", fi.Size())
	}
	b.crash()
	b = open()
	defer b.Close()
	checkStore(t, b, want)
}

// The crash test: a child process (this test binary, re-executed) writes
// with Batch from several goroutines and prints each key once Batch has
// returned; it is killed (SIGKILL) at a random instant, and every key it
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
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill after a random number of acknowledged writes, so the
		// instant falls anywhere in a commit or a checkpoint.
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

		b, err := openBolt(path, boltConfig{journal: true, initialMmap: defaultInitialMmap})
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
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
	t.Logf("%d acknowledged writes survived 30 kills", len(acked))
}

// crashChild writes until killed: 4 goroutines Batch a key each (some
// large, so that the file grows and checkpoints come often), and print it
// once acknowledged.
func crashChild(dir string) {
	b, err := openBolt(filepath.Join(dir, "meta.db"), boltConfig{journal: true, initialMmap: 1 << 20, checkpointEvery: 256 << 10})
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

// Close checkpoints and removes the journal: what it leaves is a plain
// bbolt file holding every write, as an older binary (without the journal)
// expects.
func TestBoltCloseLeavesAPlainDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := OpenBolt(path)
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
// "recovered" with the journal's meta pages, which would point into pages
// it does not have: OpenBolt refuses it and says why.
func TestBoltJournalRefusesAnOlderFileThanItsCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	applyWrites(t, b, []kvWrite{{"a", "k1", "v"}}, false)
	b.checkpointNow(t)
	older, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		applyWrites(t, b, []kvWrite{{"a", fmt.Sprintf("k%d", i+2), "v"}}, false)
	}
	b.checkpointNow(t)
	applyWrites(t, b, []kvWrite{{"a", "last", "v"}}, false)
	b.crash()
	if err := os.WriteFile(path, older, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(path)
	if err == nil {
		b.Close()
		t.Fatal("an older file than the journal's checkpoint was opened with the journal's meta pages")
	}
	if !strings.Contains(err.Error(), "older than the checkpoint") {
		t.Fatalf("error %q does not say why", err)
	}
}

package kv

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database OpenBolt creates has PageSize pages; one created before with
// 4 KiB pages (bbolt's default here) keeps them, and its data, when opened.
func TestBoltCreatesLargePagesAndKeepsAnExistingFilesPageSize(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	b, err := OpenBolt(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.db.Info().PageSize; got != PageSize {
		t.Errorf("a new database has %d-byte pages, want %d", got, PageSize)
	}
	b.Close()

	old := filepath.Join(dir, "old.db")
	db, err := bolt.Open(old, 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 { // several levels of 4 KiB pages
			if err := bk.Put(fmt.Appendf(nil, "key-%05d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(old)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.db.Info().PageSize; got != 4096 {
		t.Errorf("a database created with 4 KiB pages opens with %d-byte pages", got)
	}
	if err := b.Update(func(tx Tx) error { return tx.Put("b", []byte("key-new"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	n := 0
	b.View(func(tx Tx) error {
		return tx.Scan("b", []byte("key-"), nil, func(k, v []byte) bool { n++; return true })
	})
	if n != 2001 {
		t.Errorf("%d keys after a write, want 2001", n)
	}
}

// Concurrent Batches share commits: that is what they are for. (kvtest
// checks that they behave as Updates; this checks that they are grouped.)
func TestBoltBatchesShareCommits(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				err := b.Batch(func(tx Tx) error {
					return tx.Put("b", fmt.Appendf(nil, "%d-%d", g, i), []byte("v"))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	before := b.commits.Load()
	close(start)
	wg.Wait()
	commits := b.commits.Load() - before
	t.Logf("%d Batch calls from %d goroutines: %d commits", goroutines*each, goroutines, commits)
	if commits > goroutines*each*9/10 {
		t.Errorf("%d Batch calls from %d goroutines made %d commits: they were not grouped", goroutines*each, goroutines, commits)
	}
	n := 0
	b.View(func(tx Tx) error {
		return tx.Scan("b", nil, nil, func(k, v []byte) bool { n++; return true })
	})
	if n != goroutines*each {
		t.Errorf("%d keys, want %d", n, goroutines*each)
	}
}

// A leader stops waiting for callers its waits do not bring (crane's index
// push: each job sends three HEADs before its next PUT), still waits on every
// probeEvery-th gather, and waits on every gather again once a probe brings
// callers (clients pushing one blob after another).
func TestGatherPolicyWaitsOnlyWhileWaitingBringsCallers(t *testing.T) {
	p := newGatherPolicy()
	const gathers = 10 * probeEvery
	waits := 0
	for range gathers {
		if p.wait() {
			waits++
			p.waited(0)
		}
	}
	// The first gather waits (a new store waits, as before the policy);
	// its wait brings no one and the average falls below minGain.
	if want := 1 + (gathers-1)/probeEvery; waits != want {
		t.Errorf("waits that brought no one: %d of %d gathers waited, want %d (the first, then every %dth)",
			waits, gathers, want, probeEvery)
	}
	// A probe that brings callers back: from then on every gather waits,
	// as long as its waits bring at least one caller on average.
	probed := false
	for range probeEvery {
		if probed = p.wait(); probed {
			break
		}
	}
	if !probed {
		t.Fatalf("no gather waited in %d after waits stopped paying", probeEvery)
	}
	p.waited(4)
	for i := range 4 * probeEvery {
		if !p.wait() {
			t.Fatalf("gather %d after waits began to bring callers did not wait", i)
		}
		p.waited(1 + i%2)
	}
}

// gather feeds the policy what each wait brought: a leader whose wait for
// two missing callers brings neither does not wait the next time.
func TestGatherRecordsWhatItsWaitBrought(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lead := func() int {
		b.bmu.Lock()
		b.queue, b.around, b.lastCommit = []*batchCall{{}}, 3, 0 // 2 expected back, within minGatherWait
		b.bmu.Unlock()
		return len(b.gather())
	}
	if n := lead(); n != 1 {
		t.Fatalf("group of %d, want the leader alone", n)
	}
	if b.waits.gain >= minGain || b.waits.skipped != 0 {
		t.Fatalf("after a wait that brought no one: gain %.2f, skipped %d; want gain below %v, a wait (skipped 0)",
			b.waits.gain, b.waits.skipped, minGain)
	}
	lead()
	if b.waits.skipped != 1 {
		t.Errorf("the next leader did not skip its wait (skipped %d)", b.waits.skipped)
	}
}

// The freelist is not written by commits (NoFreelistSync): pages freed
// before a Close are found again when the file is opened, and reused, so
// the file does not grow with every cycle of writes and deletions.
func TestBoltReusesPagesFreedBeforeAReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	value := make([]byte, 1000)
	var used []int64 // the pages in use, free ones included (bbolt's high-water mark), after each round
	for round := range 4 {
		b, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		if !b.db.NoFreelistSync {
			t.Fatal("OpenBolt syncs the freelist")
		}
		for _, del := range []bool{false, true} {
			err = b.Update(func(tx Tx) error {
				for i := range 500 {
					k := fmt.Appendf(nil, "%d-%04d", round, i)
					if del {
						if err := tx.Delete("b", k); err != nil {
							return err
						}
					} else if err := tx.Put("b", k, value); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		b.db.View(func(tx *bolt.Tx) error { used = append(used, tx.Size()); return nil })
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("in use after each round: %v", used)
	// 500 KB written and deleted per round: without reuse each round would
	// take as many new pages again.
	if used[3] > used[0]*3/2 {
		t.Errorf("bytes in use after each of 4 rounds of 500 KB written and deleted, each after a reopen: %v; freed pages were not reused", used)
	}
}

package kv

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

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

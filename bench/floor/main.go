// Command floor measures what durability costs on this machine's disk, the
// floor under every durable row of the bench: an fsync of a small file, an
// fdatasync, the fsync of a directory after a rename into it, and a bbolt
// commit of one small key (berth's metadata store), alone and with 8
// goroutines committing at once through DB.Batch (group commit):
//
//	go run ./bench/floor                 # in a temporary directory
//	go run ./bench/floor -dir /path -n 500
//
// It prints the median and the 10th–90th percentiles of each, in
// milliseconds, and the machine's load average. Nothing here is berth's own
// code but the store's file format (bbolt, as core/kv opens it).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
	"github.com/berth-dev/berth/core/kv"
	bolt "go.etcd.io/bbolt"
)

func main() {
	dir := flag.String("dir", "", "directory to measure in (default: a temporary one)")
	n := flag.Int("n", 300, "operations per measurement")
	flag.Parse()
	if err := run(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(dir string, n int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "berth-floor-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Printf("Load average (1, 5, 15 min) at start: %s\n", benchutil.ReadLoad())
	fmt.Printf("%d operations each, in %s; milliseconds: median (p10–p90)\n\n", n, dir)
	payload := make([]byte, 100)

	f, err := os.Create(filepath.Join(dir, "small"))
	if err != nil {
		return err
	}
	defer f.Close()
	report("write 100 B + fsync", n, func(int) error {
		if _, err := f.WriteAt(payload, 0); err != nil {
			return err
		}
		return f.Sync()
	})
	report("write 100 B + fdatasync", n, func(int) error {
		if _, err := f.WriteAt(payload, 0); err != nil {
			return err
		}
		return syscall.Fdatasync(int(f.Fd()))
	})
	sub := filepath.Join(dir, "d")
	if err := os.Mkdir(sub, 0o755); err != nil {
		return err
	}
	report("create+write+fsync a new file, rename, fsync its directory", n, func(i int) error {
		tmp := filepath.Join(dir, "tmp"+strconv.Itoa(i))
		g, err := os.Create(tmp)
		if err != nil {
			return err
		}
		g.Write(payload)
		if err := g.Sync(); err != nil {
			return err
		}
		g.Close()
		if err := os.Rename(tmp, filepath.Join(sub, strconv.Itoa(i))); err != nil {
			return err
		}
		d, err := os.Open(sub)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	})

	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	put := func(tx *bolt.Tx, i int) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(fmt.Sprintf("key-%09d", i)), payload)
	}
	report("bbolt Update of one key (one commit)", n, func(i int) error {
		return db.Update(func(tx *bolt.Tx) error { return put(tx, i) })
	})
	for _, g := range []int{8} {
		var wg sync.WaitGroup
		start := time.Now()
		per := n * 2
		for w := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					db.Batch(func(tx *bolt.Tx) error { return put(tx, 1_000_000+w*per+i) })
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		fmt.Printf("%-62s %.3f ms per call, %.0f calls/s (%d goroutines × %d)\n", fmt.Sprintf("bbolt DB.Batch (10 ms delay), %d goroutines at once", g),
			float64(el.Microseconds())/1000/float64(g*per), float64(g*per)/el.Seconds(), g, per)
	}
	db.Close()
	store, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	report("kv.Bolt Update of one key (berth's store: one commit)", n, func(i int) error {
		return store.Update(func(tx kv.Tx) error { return tx.Put("k", fmt.Appendf(nil, "u-%09d", i), payload) })
	})
	for _, g := range []int{1, 4, 8} {
		var wg sync.WaitGroup
		per := n * 2 / g
		start := time.Now()
		for w := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					store.Batch(func(tx kv.Tx) error { return tx.Put("k", fmt.Appendf(nil, "b%d-%d-%09d", g, w, i), payload) })
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		fmt.Printf("%-62s %.3f ms per call, %.0f calls/s\n", fmt.Sprintf("kv.Bolt Batch (group commit), %d goroutines at once", g),
			float64(el.Microseconds())/1000/float64(g*per), float64(g*per)/el.Seconds())
	}
	fmt.Printf("\nLoad average at end: %s\n", benchutil.ReadLoad())
	return nil
}

func report(what string, n int, op func(i int) error) {
	d := make([]float64, 0, n)
	for i := range n {
		t := time.Now()
		if err := op(i); err != nil {
			fmt.Printf("%-62s error: %v\n", what, err)
			return
		}
		d = append(d, float64(time.Since(t).Microseconds())/1000)
	}
	slices.Sort(d)
	fmt.Printf("%-62s %.3f (%.3f–%.3f)\n", what, d[len(d)/2], d[len(d)/10], d[len(d)*9/10])
}

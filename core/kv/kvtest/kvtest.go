// Package kvtest is the test suite every kv.Store implementation must pass, in
// the spirit of distribution's storage-driver suite: one set of behaviours,
// written down once, that each backend is held to.
//
// Run checks the contract of kv.Store and kv.Tx as documented in package kv:
//
//   - Get of an absent key or bucket is nil; Put, Get, overwrite and Delete;
//     deleting an absent key or from an absent bucket is not an error;
//   - a value of zero length is present (non-nil) after Put, whether it was
//     given as nil or as an empty slice, in the same transaction and later;
//   - Put copies its key and value: the caller may reuse them at once;
//   - Put of an empty key, of a key longer than kv.MaxKeySize, or into the
//     bucket with the empty name fails with kv.ErrBadKey and writes nothing;
//     a key of kv.MaxKeySize bytes works;
//   - buckets are independent namespaces; thousands of keys put out of order
//     scan back in order, also after deleting half of them;
//   - Scan visits keys in ascending byte order, selects by prefix, honours
//     start (before, inside, at a key of, and after the prefix range), stops
//     when fn returns false, scans the whole bucket for an empty or nil
//     prefix, and visits nothing in an absent bucket;
//   - an Update sees its own writes; an Update whose fn returns an error keeps
//     nothing (puts, overwrites, deletes, new buckets) and returns that error,
//     also when it scanned what it wrote; Scans, in Updates and in Views,
//     follow every write and rollback of a long random sequence of them;
//     a panic in an Update keeps nothing, is re-raised, and leaves the store
//     usable;
//   - View returns fn's error; Put and Delete in a View fail with
//     kv.ErrReadOnly (even with nothing to delete) and change nothing;
//   - a View sees a consistent snapshot while Updates run concurrently, and
//     concurrent Updates are serialized (no lost increments);
//   - Batch is Update that may share a commit: a lone Batch sees its own
//     writes and keeps them, keeps nothing when fn fails (returning that
//     error) or panics (re-raised, the store usable); concurrent Batches
//     and Updates are serialized (no lost increments); among concurrent
//     Batches, one whose fn fails or panics gets its own error or panic and
//     keeps nothing, and every other keeps its writes, whatever group it
//     shared — fns written as the contract asks (idempotent, resetting what
//     they set outside) see and report the state they committed;
//   - after Close, View, Update and Batch fail with kv.ErrClosed without
//     calling fn, and Close again is not an error.
//
// RunPersistent runs all of that and adds what a durable store must keep
// across Close and reopen: committed writes (including deletes and empty
// values) survive, as do those of every Batch that returned, and a failed
// Update stays undone.
//
// The suite copies every slice it gets from Get or Scan before its
// transaction ends, as the kv contract requires of callers. Run the tests
// with -race: several subtests are concurrent on purpose.
//
// A new implementation uses it from its own tests:
//
//	func TestStore(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) kv.Store { return mykv.New() })
//	}
//
// and a durable one, giving the suite a way to reopen the same data:
//
//	func TestStore(t *testing.T) {
//		kvtest.RunPersistent(t, func(t *testing.T) (kv.Store, func() kv.Store) {
//			path := filepath.Join(t.TempDir(), "meta.db")
//			open := func() kv.Store {
//				s, err := mykv.Open(path)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//			return open(), open
//		})
//	}
//
// open must return a fresh, empty store for each call; the suite closes every
// store it is given. reopen is called only after the store it replaces has
// been closed.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/kv"
)

// Run runs the suite against stores made by open, each subtest on a fresh one.
func Run(t *testing.T, open func(t *testing.T) kv.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			c.fn(t, s)
		})
	}
}

// RunPersistent runs Run and then the durability checks against stores made
// by open; reopen returns a new handle on the same data once the previous one
// is closed.
func RunPersistent(t *testing.T, open func(t *testing.T) (s kv.Store, reopen func() kv.Store)) {
	t.Helper()
	Run(t, func(t *testing.T) kv.Store { s, _ := open(t); return s })
	for _, c := range persistentCases {
		t.Run(c.name, func(t *testing.T) {
			s, reopen := open(t)
			r := &reopener{t: t, s: s, reopen: reopen}
			t.Cleanup(func() { r.s.Close() })
			c.fn(t, r)
		})
	}
}

type reopener struct {
	t      *testing.T
	s      kv.Store
	reopen func() kv.Store
}

// cycle closes the current store and opens the same data again.
func (r *reopener) cycle() kv.Store {
	r.t.Helper()
	if err := r.s.Close(); err != nil {
		r.t.Fatalf("Close: %v", err)
	}
	r.s = r.reopen()
	return r.s
}

var cases = []struct {
	name string
	fn   func(t *testing.T, s kv.Store)
}{
	{"GetAbsentIsNil", testGetAbsent},
	{"PutGet", testPutGet},
	{"PutOverwrites", testPutOverwrites},
	{"EmptyValueIsPresent", testEmptyValue},
	{"PutCopiesKeyAndValue", testPutCopies},
	{"BadKeysAreRejected", testBadKeys},
	{"Delete", testDelete},
	{"DeleteAbsentIsNotAnError", testDeleteAbsent},
	{"BucketsAreSeparate", testBucketsSeparate},
	{"ManyKeys", testManyKeys},
	{"ScanOrderIsAscendingBytes", testScanOrder},
	{"ScanValues", testScanValues},
	{"ScanPrefix", testScanPrefix},
	{"ScanStart", testScanStart},
	{"ScanEmptyPrefixIsWholeBucket", testScanWholeBucket},
	{"ScanStopsWhenFnReturnsFalse", testScanStops},
	{"ScanAbsentBucket", testScanAbsentBucket},
	{"UpdateSeesItsOwnWrites", testReadYourWrites},
	{"FailedUpdateKeepsNothing", testFailedUpdate},
	{"PanicInUpdateKeepsNothing", testPanicUpdate},
	{"ScanInFailedUpdateKeepsNothing", testScanInFailedUpdate},
	{"ScansFollowWritesAndRollbacks", testScansFollowWrites},
	{"ViewReturnsFnError", testViewError},
	{"WritesInViewFail", testWritesInView},
	{"ViewSeesConsistentSnapshot", testSnapshot},
	{"UpdatesAreSerialized", testSerialized},
	{"BatchKeepsItsWrites", testBatch},
	{"FailedBatchKeepsNothing", testFailedBatch},
	{"PanicInBatchKeepsNothing", testPanicBatch},
	{"BatchesAndUpdatesAreSerialized", testBatchSerialized},
	{"ConcurrentBatchFailuresAreTheirOwn", testBatchFailures},
	{"ClosedStoreFails", testClosed},
}

var persistentCases = []struct {
	name string
	fn   func(t *testing.T, r *reopener)
}{
	{"DataSurvivesReopen", testSurvivesReopen},
	{"FailedUpdateStaysUndoneAfterReopen", testFailedUpdateReopen},
	{"BatchesSurviveReopen", testBatchesSurviveReopen},
}

var errBoom = errors.New("kvtest: boom")

// update runs fn in an Update and fails the test on an error.
func update(t *testing.T, s kv.Store, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in a View and fails the test on an error.
func view(t *testing.T, s kv.Store, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put writes each key/value pair of kvs into bucket in one Update.
func put(t *testing.T, s kv.Store, bucket string, kvs ...string) {
	t.Helper()
	update(t, s, func(tx kv.Tx) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := tx.Put(bucket, []byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return fmt.Errorf("Put(%q, %q): %w", bucket, kvs[i], err)
			}
		}
		return nil
	})
}

// get returns a copy of the value of key in bucket, read in its own View.
func get(t *testing.T, s kv.Store, bucket, key string) []byte {
	t.Helper()
	var v []byte
	view(t, s, func(tx kv.Tx) error { v = bytes.Clone(tx.Get(bucket, []byte(key))); return nil })
	return v
}

// wantValue checks that key in bucket holds want (want nil: absent).
func wantValue(t *testing.T, s kv.Store, bucket, key string, want []byte) {
	t.Helper()
	got := get(t, s, bucket, key)
	if want == nil && got != nil {
		t.Errorf("Get(%q, %q) = %q, want absent (nil)", bucket, abbrev([]string{key})[0], got)
	}
	if want != nil && (got == nil || !bytes.Equal(got, want)) {
		t.Errorf("Get(%q, %q) = %s, want %q", bucket, abbrev([]string{key})[0], show(got), want)
	}
}

func show(v []byte) string {
	if v == nil {
		return "nil"
	}
	return strconv.Quote(string(v))
}

type pair struct{ k, v string }

// scan returns copies of what a Scan visits.
func scan(t *testing.T, s kv.Store, bucket string, prefix, start []byte) []pair {
	t.Helper()
	var out []pair
	view(t, s, func(tx kv.Tx) error {
		out = nil
		return tx.Scan(bucket, prefix, start, func(k, v []byte) bool {
			out = append(out, pair{string(k), string(v)})
			return true
		})
	})
	return out
}

func scanKeys(t *testing.T, s kv.Store, bucket string, prefix, start []byte) []string {
	t.Helper()
	var keys []string
	for _, p := range scan(t, s, bucket, prefix, start) {
		keys = append(keys, p.k)
	}
	return keys
}

func wantKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, abbrev(got), abbrev(want))
	}
}

// abbrev shortens long keys for messages.
func abbrev(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if len(k) > 40 {
			k = fmt.Sprintf("%s…(%d bytes)", k[:20], len(k))
		}
		out[i] = k
	}
	return out
}

func testGetAbsent(t *testing.T, s kv.Store) {
	check := func(tx kv.Tx) error {
		if v := tx.Get("nobucket", []byte("k")); v != nil {
			t.Errorf("Get in an absent bucket = %q, want nil", v)
		}
		if v := tx.Get("b", []byte("absent")); v != nil {
			t.Errorf("Get of an absent key = %q, want nil", v)
		}
		if v := tx.Get("b", []byte("k\x00")); v != nil {
			t.Errorf("Get of a key extending a present one = %q, want nil", v)
		}
		if v := tx.Get("b", []byte("")); v != nil {
			t.Errorf("Get of the empty key = %q, want nil", v)
		}
		return nil
	}
	view(t, s, check)
	put(t, s, "b", "k", "v")
	view(t, s, check)
	update(t, s, check)
}

func testPutGet(t *testing.T, s kv.Store) {
	put(t, s, "b", "k1", "v1", "k2", "v2")
	wantValue(t, s, "b", "k1", []byte("v1"))
	wantValue(t, s, "b", "k2", []byte("v2"))
	bin := []byte{0, 1, 2, 0xfe, 0xff}
	update(t, s, func(tx kv.Tx) error { return tx.Put("b", bin, bin) })
	wantValue(t, s, "b", string(bin), bin)
}

func testPutOverwrites(t *testing.T, s kv.Store) {
	put(t, s, "b", "k", "first")
	put(t, s, "b", "k", "second, longer")
	wantValue(t, s, "b", "k", []byte("second, longer"))
	put(t, s, "b", "k", "3")
	wantValue(t, s, "b", "k", []byte("3"))
	update(t, s, func(tx kv.Tx) error {
		tx.Put("b", []byte("k"), []byte("a"))
		return tx.Put("b", []byte("k"), []byte("b"))
	})
	wantValue(t, s, "b", "k", []byte("b"))
	wantKeys(t, "keys after overwrites", scanKeys(t, s, "b", nil, nil), []string{"k"})
}

func testEmptyValue(t *testing.T, s kv.Store) {
	check := func(when string, tx kv.Tx) {
		for _, k := range []string{"nil", "empty"} {
			if v := tx.Get("b", []byte(k)); v == nil || len(v) != 0 {
				t.Errorf("%s: Get of a key put with a %s value = %s, want a non-nil empty slice", when, k, show(v))
			}
		}
		var seen []string
		tx.Scan("b", nil, nil, func(k, v []byte) bool {
			if len(v) != 0 {
				t.Errorf("%s: Scan passed %q for key %q, want an empty value", when, v, k)
			}
			seen = append(seen, string(k))
			return true
		})
		wantKeys(t, when+": Scan", seen, []string{"empty", "nil"})
	}
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Put("b", []byte("nil"), nil); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("empty"), []byte{}); err != nil {
			return err
		}
		check("in the Update that put them", tx)
		return nil
	})
	view(t, s, func(tx kv.Tx) error { check("in a later View", tx); return nil })
	update(t, s, func(tx kv.Tx) error { check("in a later Update", tx); return nil })
	// Overwriting a value with an empty one keeps the key.
	put(t, s, "b", "full", "x")
	update(t, s, func(tx kv.Tx) error { return tx.Put("b", []byte("full"), nil) })
	wantValue(t, s, "b", "full", []byte{})
}

func testPutCopies(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		k, v := []byte("key1"), []byte("value1")
		if err := tx.Put("b", k, v); err != nil {
			return err
		}
		// Reuse both buffers for the next record, as an encoder might.
		copy(k, "key2")
		copy(v, "value2")
		if err := tx.Put("b", k, v); err != nil {
			return err
		}
		copy(k, "XXXX")
		copy(v, "XXXXXX")
		if got := tx.Get("b", []byte("key1")); string(got) != "value1" {
			t.Errorf("in the Update, key1 = %s after its buffers were reused, want \"value1\"", show(got))
		}
		return nil
	})
	wantValue(t, s, "b", "key1", []byte("value1"))
	wantValue(t, s, "b", "key2", []byte("value2"))
	wantValue(t, s, "b", "XXXX", nil)
}

func testBadKeys(t *testing.T, s kv.Store) {
	longest := bytes.Repeat([]byte("k"), kv.MaxKeySize)
	tooLong := bytes.Repeat([]byte("k"), kv.MaxKeySize+1)
	update(t, s, func(tx kv.Tx) error {
		for _, c := range []struct {
			what   string
			bucket string
			key    []byte
		}{
			{"a nil key", "b", nil},
			{"an empty key", "b", []byte{}},
			{"a key longer than MaxKeySize", "b", tooLong},
			{"an empty bucket name", "", []byte("k")},
		} {
			if err := tx.Put(c.bucket, c.key, []byte("v")); !errors.Is(err, kv.ErrBadKey) {
				t.Errorf("Put of %s = %v, want kv.ErrBadKey", c.what, err)
			}
		}
		if err := tx.Put("b", longest, []byte("longest key")); err != nil {
			t.Errorf("Put of a key of MaxKeySize bytes: %v", err)
		}
		return nil
	})
	wantValue(t, s, "b", string(longest), []byte("longest key"))
	wantValue(t, s, "", "k", nil)
	wantKeys(t, "keys of bucket b", scanKeys(t, s, "b", nil, nil), []string{string(longest)})
}

func testDelete(t *testing.T, s kv.Store) {
	put(t, s, "b", "a", "1", "k", "v", "z", "26")
	update(t, s, func(tx kv.Tx) error { return tx.Delete("b", []byte("k")) })
	wantValue(t, s, "b", "k", nil)
	wantValue(t, s, "b", "a", []byte("1"))
	wantValue(t, s, "b", "z", []byte("26"))
	wantKeys(t, "keys after Delete", scanKeys(t, s, "b", nil, nil), []string{"a", "z"})
	put(t, s, "b", "k", "again")
	wantValue(t, s, "b", "k", []byte("again"))
}

func testDeleteAbsent(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Delete("nobucket", []byte("k")); err != nil {
			t.Errorf("Delete in an absent bucket: %v", err)
		}
		return nil
	})
	put(t, s, "b", "k", "v")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Delete("b", []byte("absent")); err != nil {
			t.Errorf("Delete of an absent key: %v", err)
		}
		if err := tx.Delete("b", []byte("k")); err != nil {
			t.Errorf("Delete: %v", err)
		}
		if err := tx.Delete("b", []byte("k")); err != nil {
			t.Errorf("Delete of a key deleted earlier in the transaction: %v", err)
		}
		return nil
	})
	wantValue(t, s, "b", "k", nil)
}

func testBucketsSeparate(t *testing.T, s kv.Store) {
	put(t, s, "a", "k", "in a")
	put(t, s, "ab", "k", "in ab", "only-ab", "x")
	put(t, s, "A", "k", "in A")
	wantValue(t, s, "a", "k", []byte("in a"))
	wantValue(t, s, "ab", "k", []byte("in ab"))
	wantValue(t, s, "A", "k", []byte("in A"))
	wantValue(t, s, "a", "only-ab", nil)
	wantKeys(t, "Scan of bucket a", scanKeys(t, s, "a", nil, nil), []string{"k"})
	update(t, s, func(tx kv.Tx) error { return tx.Delete("a", []byte("k")) })
	wantValue(t, s, "ab", "k", []byte("in ab"))
	wantValue(t, s, "A", "k", []byte("in A"))
}

func testManyKeys(t *testing.T, s kv.Store) {
	const n = 2000
	var want []string
	update(t, s, func(tx kv.Tx) error {
		// Insert in a scrambled order so the store has to sort.
		for i := 0; i < n; i++ {
			j := (i * 7919) % n
			k := fmt.Sprintf("key/%05d", j)
			if err := tx.Put("many", []byte(k), []byte(strconv.Itoa(j))); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("key/%05d", i))
	}
	got := scan(t, s, "many", []byte("key/"), nil)
	if len(got) != n {
		t.Fatalf("Scan visited %d keys, want %d", len(got), n)
	}
	for i, p := range got {
		if p.k != want[i] || p.v != strconv.Itoa(i) {
			t.Fatalf("Scan #%d = %q=%q, want %q=%q", i, p.k, p.v, want[i], strconv.Itoa(i))
		}
	}
	update(t, s, func(tx kv.Tx) error {
		for i := 0; i < n; i += 2 {
			if err := tx.Delete("many", []byte(want[i])); err != nil {
				return err
			}
		}
		return nil
	})
	got = scan(t, s, "many", nil, nil)
	if len(got) != n/2 || got[0].k != want[1] || got[len(got)-1].k != want[n-1] {
		t.Errorf("after deleting every other key Scan visited %d keys", len(got))
	}
}

func testScanOrder(t *testing.T, s kv.Store) {
	keys := []string{"b", "\xff", "a\xff", "a", "\x00", "ab", "a\x00", "B", "\xff\xff", "aa", "a/"}
	update(t, s, func(tx kv.Tx) error {
		for _, k := range keys {
			if err := tx.Put("order", []byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	want := slices.Clone(keys)
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	wantKeys(t, "Scan order", scanKeys(t, s, "order", nil, nil), want)
}

func testScanValues(t *testing.T, s kv.Store) {
	put(t, s, "b", "k1", "one", "k2", "two", "k3", "")
	got := scan(t, s, "b", []byte("k"), nil)
	want := []pair{{"k1", "one"}, {"k2", "two"}, {"k3", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("Scan = %q, want %q", got, want)
	}
}

func scanFixture(t *testing.T, s kv.Store) {
	put(t, s, "scan", "a", "", "a/1", "", "a/2", "", "a/3", "", "a0", "", "b/1", "", "c", "", "`", "")
}

func testScanPrefix(t *testing.T, s kv.Store) {
	scanFixture(t, s)
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"a/", []string{"a/1", "a/2", "a/3"}},
		{"a", []string{"a", "a/1", "a/2", "a/3", "a0"}},
		{"a/2", []string{"a/2"}},
		{"b", []string{"b/1"}},
		{"c", []string{"c"}},
		{"c/", nil},
		{"0", nil},
		{"z", nil},
		{"a/1/x", nil},
	} {
		wantKeys(t, fmt.Sprintf("Scan(prefix %q)", c.prefix), scanKeys(t, s, "scan", []byte(c.prefix), nil), c.want)
	}
}

func testScanStart(t *testing.T, s kv.Store) {
	scanFixture(t, s)
	all := []string{"a/1", "a/2", "a/3"}
	for _, c := range []struct {
		what, start string
		want        []string
	}{
		{"before the prefix range", "", all},
		{"before the prefix range", "a", all},
		{"before the prefix range", "\x00", all},
		{"at the prefix", "a/", all},
		{"at the first key", "a/1", all},
		{"at a key inside", "a/2", []string{"a/2", "a/3"}},
		{"between keys", "a/1x", []string{"a/2", "a/3"}},
		{"between keys", "a/25", []string{"a/3"}},
		{"at the last key", "a/3", []string{"a/3"}},
		{"after the last key", "a/3\x00", nil},
		{"after the prefix range", "a0", nil},
		{"after the prefix range", "b", nil},
		{"after the prefix range", "\xff", nil},
	} {
		var start []byte
		if c.start != "" {
			start = []byte(c.start)
		}
		wantKeys(t, fmt.Sprintf("Scan(prefix a/, start %q: %s)", c.start, c.what), scanKeys(t, s, "scan", []byte("a/"), start), c.want)
	}
	// With no prefix, start alone selects the tail of the bucket.
	wantKeys(t, "Scan(no prefix, start b)", scanKeys(t, s, "scan", nil, []byte("b")), []string{"b/1", "c"})
	wantKeys(t, "Scan(no prefix, start a/25)", scanKeys(t, s, "scan", nil, []byte("a/25")), []string{"a/3", "a0", "b/1", "c"})
	wantKeys(t, "Scan(no prefix, start d)", scanKeys(t, s, "scan", nil, []byte("d")), nil)
	// An empty start is the same as nil.
	wantKeys(t, "Scan(prefix a/, empty start)", scanKeys(t, s, "scan", []byte("a/"), []byte{}), all)
}

func testScanWholeBucket(t *testing.T, s kv.Store) {
	scanFixture(t, s)
	want := []string{"`", "a", "a/1", "a/2", "a/3", "a0", "b/1", "c"}
	wantKeys(t, "Scan(nil prefix)", scanKeys(t, s, "scan", nil, nil), want)
	wantKeys(t, "Scan(empty prefix)", scanKeys(t, s, "scan", []byte{}, nil), want)
	wantKeys(t, "Scan(empty prefix, empty start)", scanKeys(t, s, "scan", []byte{}, []byte{}), want)
}

func testScanStops(t *testing.T, s kv.Store) {
	scanFixture(t, s)
	for _, stopAfter := range []int{1, 2, 5} {
		var seen []string
		view(t, s, func(tx kv.Tx) error {
			return tx.Scan("scan", nil, nil, func(k, v []byte) bool {
				seen = append(seen, string(k))
				return len(seen) < stopAfter
			})
		})
		wantKeys(t, fmt.Sprintf("Scan stopping after %d", stopAfter), seen, []string{"`", "a", "a/1", "a/2", "a/3"}[:stopAfter])
	}
}

func testScanAbsentBucket(t *testing.T, s kv.Store) {
	put(t, s, "other", "k", "v")
	for _, fn := range []func(func(kv.Tx) error) error{s.View, s.Update} {
		err := fn(func(tx kv.Tx) error {
			return tx.Scan("nobucket", nil, nil, func(k, v []byte) bool {
				t.Errorf("Scan of an absent bucket visited %q", k)
				return true
			})
		})
		if err != nil {
			t.Errorf("Scan of an absent bucket: %v", err)
		}
	}
}

func testReadYourWrites(t *testing.T, s kv.Store) {
	put(t, s, "b", "old", "1", "gone", "2")
	update(t, s, func(tx kv.Tx) error {
		if err := tx.Put("b", []byte("new"), []byte("3")); err != nil {
			return err
		}
		if err := tx.Put("b", []byte("old"), []byte("changed")); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("gone")); err != nil {
			return err
		}
		if err := tx.Put("fresh", []byte("k"), []byte("v")); err != nil {
			return err
		}
		if v := tx.Get("b", []byte("new")); string(v) != "3" {
			t.Errorf("Get of a key put in this Update = %s, want \"3\"", show(v))
		}
		if v := tx.Get("b", []byte("old")); string(v) != "changed" {
			t.Errorf("Get of a key overwritten in this Update = %s, want \"changed\"", show(v))
		}
		if v := tx.Get("b", []byte("gone")); v != nil {
			t.Errorf("Get of a key deleted in this Update = %q, want nil", v)
		}
		if v := tx.Get("fresh", []byte("k")); string(v) != "v" {
			t.Errorf("Get in a bucket created in this Update = %s, want \"v\"", show(v))
		}
		var keys []string
		tx.Scan("b", nil, nil, func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true })
		wantKeys(t, "Scan inside the Update", keys, []string{"new=3", "old=changed"})
		return nil
	})
}

func testFailedUpdate(t *testing.T, s kv.Store) {
	put(t, s, "r", "keep", "old", "doomed", "still here", "z", "last")
	err := s.Update(doomedWrites)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want the error fn returned", err)
	}
	checkUndone(t, s)
}

// doomedWrites writes over, adds, deletes, and creates a bucket, then fails:
// a store must keep none of it.
func doomedWrites(tx kv.Tx) error {
	tx.Put("r", []byte("keep"), []byte("overwritten"))
	tx.Put("r", []byte("added"), []byte("x"))
	tx.Delete("r", []byte("doomed"))
	tx.Put("r", []byte("z"), []byte("1"))
	tx.Delete("r", []byte("z"))
	tx.Put("newbucket", []byte("k"), []byte("x"))
	return fmt.Errorf("wrapped: %w", errBoom)
}

// checkUndone checks that doomedWrites, failed, left no trace.
func checkUndone(t *testing.T, s kv.Store) {
	t.Helper()
	wantValue(t, s, "r", "keep", []byte("old"))
	wantValue(t, s, "r", "doomed", []byte("still here"))
	wantValue(t, s, "r", "z", []byte("last"))
	wantValue(t, s, "r", "added", nil)
	wantValue(t, s, "newbucket", "k", nil)
	wantKeys(t, "keys after the failed Update", scanKeys(t, s, "r", nil, nil), []string{"doomed", "keep", "z"})
	wantKeys(t, "bucket created by the failed Update", scanKeys(t, s, "newbucket", nil, nil), nil)
}

func testPanicUpdate(t *testing.T, s kv.Store) {
	put(t, s, "r", "keep", "old", "doomed", "still here", "z", "last")
	func() {
		defer func() {
			if p := recover(); p != errBoom {
				t.Errorf("Update re-panicked with %v, want the value fn panicked with", p)
			}
		}()
		s.Update(func(tx kv.Tx) error {
			tx.Put("r", []byte("keep"), []byte("overwritten"))
			tx.Put("r", []byte("added"), []byte("x"))
			tx.Delete("r", []byte("doomed"))
			tx.Put("newbucket", []byte("k"), []byte("x"))
			panic(errBoom)
		})
		t.Error("Update returned after fn panicked")
	}()
	checkUndone(t, s)
	// The store is still usable: nothing stayed locked.
	put(t, s, "r", "after", "panic")
	wantValue(t, s, "r", "after", []byte("panic"))
}

// testScanInFailedUpdate scans, inside an Update that then fails, what it
// wrote: a store that orders keys for Scan only when asked (kv.Mem) must
// still undo them.
func testScanInFailedUpdate(t *testing.T, s kv.Store) {
	put(t, s, "r", "keep", "old", "doomed", "still here", "z", "last")
	err := s.Update(func(tx kv.Tx) error {
		tx.Put("r", []byte("keep"), []byte("overwritten"))
		tx.Put("r", []byte("added"), []byte("x"))
		tx.Delete("r", []byte("doomed"))
		tx.Put("newbucket", []byte("k"), []byte("x"))
		var keys []string
		tx.Scan("r", nil, nil, func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true })
		wantKeys(t, "Scan inside the Update", keys, []string{"added=x", "keep=overwritten", "z=last"})
		tx.Put("r", []byte("z"), []byte("1"))
		tx.Delete("r", []byte("z"))
		keys = keys[:0]
		tx.Scan("r", nil, nil, func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true })
		wantKeys(t, "second Scan inside the Update", keys, []string{"added=x", "keep=overwritten"})
		tx.Put("r", []byte("doomed"), []byte("back"))
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want the error fn returned", err)
	}
	checkUndone(t, s)
}

// testScansFollowWrites runs a long random sequence of Updates (one in
// five fails) of puts, overwrites and deletes over a small key space, with
// Scans between them and inside them, against a model; and writes one key
// thousands of times in one Update, then scans.
func testScansFollowWrites(t *testing.T, s kv.Store) {
	const bucket, updates, opsPer, keySpace = "model", 60, 40, 300
	model := map[string]string{}
	rnd := uint64(12345)
	next := func(n int) int { // a fixed sequence: a failure reproduces
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return int((rnd >> 33) % uint64(n))
	}
	key := func() string { return fmt.Sprintf("k/%03d", next(keySpace)) }
	check := func(tx kv.Tx, what string, m map[string]string) {
		t.Helper()
		prefix := []byte(fmt.Sprintf("k/%d", next(4)))
		start := []byte(key())
		var got, want []string
		tx.Scan(bucket, prefix, start, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true })
		for k, v := range m {
			if bytes.HasPrefix([]byte(k), prefix) && k >= string(start) {
				want = append(want, k+"="+v)
			}
		}
		slices.Sort(want)
		wantKeys(t, fmt.Sprintf("%s (prefix %q, start %q)", what, prefix, start), got, want)
	}
	for u := 0; u < updates; u++ {
		fail := next(5) == 0
		after := maps.Clone(model)
		err := s.Update(func(tx kv.Tx) error {
			for i := 0; i < opsPer; i++ {
				k := key()
				switch next(4) {
				case 0:
					if err := tx.Delete(bucket, []byte(k)); err != nil {
						return err
					}
					delete(after, k)
				case 1:
					check(tx, fmt.Sprintf("Scan in Update %d", u), after)
				default:
					v := fmt.Sprintf("%d.%d", u, i)
					if err := tx.Put(bucket, []byte(k), []byte(v)); err != nil {
						return err
					}
					after[k] = v
				}
			}
			if fail {
				return errBoom
			}
			return nil
		})
		if fail != errors.Is(err, errBoom) || !fail && err != nil {
			t.Fatalf("Update %d returned %v", u, err)
		}
		if !fail {
			model = after
		}
		view(t, s, func(tx kv.Tx) error { check(tx, fmt.Sprintf("Scan after Update %d", u), model); return nil })
	}
	update(t, s, func(tx kv.Tx) error {
		for i := range 3000 {
			model["k/000"] = strconv.Itoa(i)
			if err := tx.Put(bucket, []byte("k/000"), []byte(model["k/000"])); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		var got []string
		tx.Scan(bucket, nil, nil, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true })
		want := make([]string, 0, len(model))
		for k, v := range model {
			want = append(want, k+"="+v)
		}
		slices.Sort(want)
		wantKeys(t, "Scan after one key written 3000 times", got, want)
		return nil
	})
}

func testViewError(t *testing.T, s kv.Store) {
	if err := s.View(func(kv.Tx) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("View returned %v, want the error fn returned", err)
	}
	if err := s.View(func(kv.Tx) error { return nil }); err != nil {
		t.Errorf("View: %v", err)
	}
}

func testWritesInView(t *testing.T, s kv.Store) {
	put(t, s, "b", "k", "v")
	view(t, s, func(tx kv.Tx) error {
		for _, c := range []struct {
			what string
			err  error
		}{
			{"Put of an existing key", tx.Put("b", []byte("k"), []byte("changed"))},
			{"Put of a new key", tx.Put("b", []byte("new"), []byte("x"))},
			{"Put into a new bucket", tx.Put("newbucket", []byte("k"), []byte("x"))},
			{"Delete of an existing key", tx.Delete("b", []byte("k"))},
			{"Delete of an absent key", tx.Delete("b", []byte("absent"))},
			{"Delete in an absent bucket", tx.Delete("nobucket", []byte("k"))},
		} {
			if !errors.Is(c.err, kv.ErrReadOnly) {
				t.Errorf("%s in a View = %v, want kv.ErrReadOnly", c.what, c.err)
			}
		}
		return nil
	})
	wantValue(t, s, "b", "k", []byte("v"))
	wantValue(t, s, "b", "new", nil)
	wantValue(t, s, "newbucket", "k", nil)
}

// testSnapshot moves amounts between two keys whose sum is constant while
// readers check the sum: a View that saw half an Update would see it change.
func testSnapshot(t *testing.T, s kv.Store) {
	const total, writers, moves, readers = 1000, 2, 40, 4
	put(t, s, "acct", "a", strconv.Itoa(total), "b", "0")
	readInt := func(tx kv.Tx, k string) int {
		n, err := strconv.Atoi(string(tx.Get("acct", []byte(k))))
		if err != nil {
			t.Errorf("value of %q: %v", k, err)
		}
		return n
	}
	var wg, wwg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for i := 0; i < moves; i++ {
				err := s.Update(func(tx kv.Tx) error {
					a, b := readInt(tx, "a"), readInt(tx, "b")
					amount := (i%7 + 1) * 3
					if err := tx.Put("acct", []byte("a"), []byte(strconv.Itoa(a-amount))); err != nil {
						return err
					}
					runtime.Gosched() // give a reader the chance to look in between
					return tx.Put("acct", []byte("b"), []byte(strconv.Itoa(b+amount)))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		}()
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				err := s.View(func(tx kv.Tx) error {
					a := readInt(tx, "a")
					runtime.Gosched()
					b := readInt(tx, "b")
					if a+b != total {
						t.Errorf("View saw a=%d b=%d: sum %d, want %d", a, b, a+b, total)
					}
					sum := 0
					tx.Scan("acct", nil, nil, func(k, v []byte) bool {
						n, _ := strconv.Atoi(string(v))
						sum += n
						return true
					})
					if sum != total {
						t.Errorf("Scan in a View summed to %d, want %d", sum, total)
					}
					return nil
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
			}
		}()
	}
	wwg.Wait()
	close(done)
	wg.Wait()
	view(t, s, func(tx kv.Tx) error {
		if a, b := readInt(tx, "a"), readInt(tx, "b"); a+b != total || b == 0 {
			t.Errorf("after the Updates a=%d b=%d", a, b)
		}
		return nil
	})
}

// testSerialized increments one counter from many goroutines: an Update that
// ran alongside another would lose an increment.
func testSerialized(t *testing.T, s kv.Store) {
	const goroutines, increments = 8, 25
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < increments; i++ {
				err := s.Update(func(tx kv.Tx) error {
					n, _ := strconv.Atoi(string(tx.Get("ctr", []byte("n"))))
					runtime.Gosched()
					return tx.Put("ctr", []byte("n"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wantValue(t, s, "ctr", "n", []byte(strconv.Itoa(goroutines*increments)))
}

func testClosed(t *testing.T, s kv.Store) {
	put(t, s, "b", "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	if err := s.View(func(kv.Tx) error { called = true; return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("View after Close = %v, want kv.ErrClosed", err)
	}
	if err := s.Update(func(kv.Tx) error { called = true; return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Update after Close = %v, want kv.ErrClosed", err)
	}
	if err := s.Batch(func(kv.Tx) error { called = true; return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Batch after Close = %v, want kv.ErrClosed", err)
	}
	if called {
		t.Error("a transaction function ran on a closed store")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testSurvivesReopen(t *testing.T, r *reopener) {
	put(t, r.s, "p", "k", "v", "over", "first", "gone", "x", "empty", "")
	put(t, r.s, "q", "k", "in q")
	put(t, r.s, "p", "over", "second")
	update(t, r.s, func(tx kv.Tx) error { return tx.Delete("p", []byte("gone")) })
	check := func(s kv.Store, keys ...string) {
		t.Helper()
		wantValue(t, s, "p", "k", []byte("v"))
		wantValue(t, s, "p", "over", []byte("second"))
		wantValue(t, s, "p", "gone", nil)
		wantValue(t, s, "p", "empty", []byte{})
		wantValue(t, s, "q", "k", []byte("in q"))
		wantKeys(t, "keys after reopen", scanKeys(t, s, "p", nil, nil), keys)
	}
	s := r.cycle()
	check(s, "empty", "k", "over")
	put(t, s, "p", "later", "write")
	s = r.cycle()
	check(s, "empty", "k", "later", "over")
	wantValue(t, s, "p", "later", []byte("write"))
}

func testFailedUpdateReopen(t *testing.T, r *reopener) {
	put(t, r.s, "r", "keep", "old", "doomed", "still here", "z", "last")
	r.s.Update(func(tx kv.Tx) error {
		tx.Put("r", []byte("keep"), []byte("overwritten"))
		tx.Put("r", []byte("added"), []byte("x"))
		tx.Delete("r", []byte("doomed"))
		tx.Delete("r", []byte("z"))
		tx.Put("newbucket", []byte("k"), []byte("x"))
		return errBoom
	})
	checkUndone(t, r.cycle())
}

// ---- Batch ------------------------------------------------------------------

func testBatch(t *testing.T, s kv.Store) {
	put(t, s, "b", "old", "1", "gone", "2")
	err := s.Batch(func(tx kv.Tx) error {
		if err := tx.Put("b", []byte("new"), []byte("3")); err != nil {
			return err
		}
		if err := tx.Delete("b", []byte("gone")); err != nil {
			return err
		}
		if err := tx.Put("fresh", []byte("k"), nil); err != nil {
			return err
		}
		if v := tx.Get("b", []byte("new")); string(v) != "3" {
			t.Errorf("Get of a key put in this Batch = %s, want \"3\"", show(v))
		}
		if v := tx.Get("b", []byte("gone")); v != nil {
			t.Errorf("Get of a key deleted in this Batch = %q, want nil", v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	wantKeys(t, "keys after the Batch", scanKeys(t, s, "b", nil, nil), []string{"new", "old"})
	wantValue(t, s, "fresh", "k", []byte{})
}

func testFailedBatch(t *testing.T, s kv.Store) {
	put(t, s, "r", "keep", "old", "doomed", "still here", "z", "last")
	err := s.Batch(doomedWrites)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Batch returned %v, want the error fn returned", err)
	}
	checkUndone(t, s)
}

func testPanicBatch(t *testing.T, s kv.Store) {
	put(t, s, "r", "keep", "old", "doomed", "still here", "z", "last")
	func() {
		defer func() {
			if p := recover(); p != errBoom {
				t.Errorf("Batch re-panicked with %v, want the value fn panicked with", p)
			}
		}()
		s.Batch(func(tx kv.Tx) error {
			tx.Put("r", []byte("keep"), []byte("overwritten"))
			tx.Put("r", []byte("added"), []byte("x"))
			tx.Delete("r", []byte("doomed"))
			tx.Put("newbucket", []byte("k"), []byte("x"))
			panic(errBoom)
		})
		t.Error("Batch returned after fn panicked")
	}()
	checkUndone(t, s)
	if err := s.Batch(func(tx kv.Tx) error { return tx.Put("r", []byte("after"), []byte("panic")) }); err != nil {
		t.Fatalf("Batch after a panic: %v", err)
	}
	wantValue(t, s, "r", "after", []byte("panic"))
}

// testBatchSerialized increments one counter from many goroutines, most
// through Batch and some through Update: a group that did not see the
// writes of the fns before it, or ran alongside an Update, would lose one.
// Each fn reports the value it wrote through a variable it resets at its
// start, as the contract asks; the values reported must be each count once.
func testBatchSerialized(t *testing.T, s kv.Store) {
	const goroutines, increments = 8, 25
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wrote = map[int]int{}
	)
	start := make(chan struct{})
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < increments; i++ {
				n := -1
				fn := func(tx kv.Tx) error {
					n = -1
					v, _ := strconv.Atoi(string(tx.Get("ctr", []byte("n"))))
					if err := tx.Put("ctr", []byte("n"), []byte(strconv.Itoa(v+1))); err != nil {
						return err
					}
					n = v + 1
					return nil
				}
				var err error
				if g == 0 && i%2 == 0 {
					err = s.Update(fn)
				} else {
					err = s.Batch(fn)
				}
				if err != nil {
					t.Errorf("Batch: %v", err)
					return
				}
				mu.Lock()
				wrote[n]++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	wantValue(t, s, "ctr", "n", []byte(strconv.Itoa(goroutines*increments)))
	for n := 1; n <= goroutines*increments; n++ {
		if wrote[n] != 1 {
			t.Errorf("%d transactions report writing %d, want 1", wrote[n], n)
		}
	}
}

// testBatchFailures runs rounds of concurrent Batches in which some fns fail
// and some panic, so that on a store that groups them they share groups
// with fns that succeed: each caller must see its own outcome, and only the
// successful ones' writes may be kept.
func testBatchFailures(t *testing.T, s kv.Store) {
	const rounds, callers = 20, 8
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		outcome := make([]string, callers)
		for c := 0; c < callers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := []byte(fmt.Sprintf("%02d-%d", round, c))
				mine := fmt.Errorf("caller %d of round %d: %w", c, round, errBoom)
				fails, panics := (c+round)%4 == 1, (c+round)%7 == 3
				defer func() {
					if p := recover(); p != nil {
						if p != mine {
							outcome[c] = fmt.Sprintf("panicked with %v, want its own value", p)
						} else {
							outcome[c] = "panicked"
						}
					}
				}()
				<-start
				err := s.Batch(func(tx kv.Tx) error {
					if err := tx.Put("keys", key, []byte("x")); err != nil {
						return err
					}
					v, _ := strconv.Atoi(string(tx.Get("ctr", []byte("n"))))
					if err := tx.Put("ctr", []byte("n"), []byte(strconv.Itoa(v+1))); err != nil {
						return err
					}
					runtime.Gosched()
					switch {
					case panics:
						panic(mine)
					case fails:
						return mine
					}
					return nil
				})
				switch {
				case err == nil:
					outcome[c] = "ok"
				case err == mine || errors.Is(err, mine):
					outcome[c] = "failed"
				default:
					outcome[c] = fmt.Sprintf("returned %v, want its own error", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		for c := 0; c < callers; c++ {
			fails, panics := (c+round)%4 == 1, (c+round)%7 == 3
			want := "ok"
			switch {
			case panics:
				want = "panicked"
			case fails:
				want = "failed"
			}
			if outcome[c] != want {
				t.Errorf("round %d, caller %d: %s, want %s", round, c, outcome[c], want)
			}
			kept := get(t, s, "keys", fmt.Sprintf("%02d-%d", round, c)) != nil
			if kept != (want == "ok") {
				t.Errorf("round %d, caller %d (%s): its write kept = %v", round, c, want, kept)
			}
		}
	}
	oks := len(scanKeys(t, s, "keys", nil, nil))
	wantValue(t, s, "ctr", "n", []byte(strconv.Itoa(oks)))
}

func testBatchesSurviveReopen(t *testing.T, r *reopener) {
	const goroutines = 8
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.s.Batch(func(tx kv.Tx) error {
				return tx.Put("p", []byte(fmt.Sprintf("k%d", g)), []byte(fmt.Sprintf("v%d", g)))
			})
			if err != nil {
				t.Errorf("Batch: %v", err)
			}
		}()
	}
	wg.Wait()
	s := r.cycle()
	for g := 0; g < goroutines; g++ {
		wantValue(t, s, "p", fmt.Sprintf("k%d", g), []byte(fmt.Sprintf("v%d", g)))
	}
}

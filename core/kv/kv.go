// Package kv is berth's metadata store: a small ordered key-value interface with
// serializable transactions. Two implementations exist because both are used:
// bbolt on disk (the default, survives restarts) and an in-memory one for
// --memory. The domain (core) encodes its records on top of this interface once,
// so both backends behave identically and share one test suite (kvtest).
package kv

import "errors"

// ErrClosed is returned by View, Update and Batch once the store is closed.
var ErrClosed = errors.New("kv: store closed")

// Store is a transactional, ordered key-value store made of named buckets.
// Buckets need no creating: Put creates one, and an absent bucket reads as an
// empty one.
//
// fn must not call View, Update or Batch on the same store: a transaction
// inside another may deadlock (Mem holds one lock for both, and bbolt
// forbids it).
type Store interface {
	// View runs fn in a read-only transaction that sees a consistent snapshot:
	// all of an Update or none of it. It returns fn's error.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and returns fn's error. fn
	// sees its own writes. If fn returns an error or panics, nothing it wrote
	// is kept (puts, overwrites, deletes, new buckets), and the panic goes on
	// to the caller. Updates are serialized.
	Update(fn func(Tx) error) error
	// Batch is Update for writes that may share their commit with other
	// Batch calls running at the same time: a durable store makes one
	// commit, and pays one sync, for the whole group (group commit), where
	// Update pays one each. It returns once the commit holding fn's writes
	// is as durable as Update's would be — never before — or with fn's
	// error, and then nothing fn wrote is kept; a panic in fn goes on to
	// its caller, as in Update. Other callers' errors and panics never
	// reach it. Each fn of a group sees the writes of those before it, so
	// a group is the same as its Updates run one after the other.
	//
	// fn may run more than once: when another fn of its group fails or
	// panics, the group's transaction is rolled back and the others run
	// again without it, and the one that failed runs again alone, in a
	// transaction of its own whose outcome it returns (unless it ran first
	// in its group and returned an error: it saw what it would alone). So
	// fn must be idempotent: it may have no effect outside tx but on
	// variables outside fn that it resets at its start (a later run would
	// otherwise see what an earlier one left). What Batch returns, and
	// what those variables hold, come from fn's last run: the one that was
	// committed, or failed. Without other callers Batch costs what Update
	// does; with them it waits for the commit in progress to end (and Bolt
	// briefly for callers of the last commit, see Bolt.Batch).
	Batch(fn func(Tx) error) error
	// Close releases the store. Afterwards View, Update and Batch return
	// ErrClosed without calling fn; closing again is not an error.
	Close() error
}

// Tx is one transaction. Slices returned by Get and passed to Scan are
// read-only and only valid until the transaction ends; copy them to keep them.
type Tx interface {
	// Get returns the value of key in bucket, or nil if it (or the bucket) is
	// absent.
	Get(bucket string, key []byte) []byte
	// Put sets key to value in bucket (creating the bucket if needed). It
	// copies key and value, so the caller may reuse them as soon as it
	// returns. A nil or empty value is stored as present and empty: Get
	// returns a non-nil, zero-length slice for it. An empty key, a key longer
	// than MaxKeySize, or an empty bucket name fails with ErrBadKey.
	Put(bucket string, key, value []byte) error
	// Delete removes key from bucket; an absent key or bucket is not an error.
	// Put and Delete in a View fail with ErrReadOnly.
	Delete(bucket string, key []byte) error
	// Scan calls fn for each key with the given prefix (nil or empty: every
	// key) that sorts at or after start (nil or empty: from the first), in
	// ascending byte order, until fn returns false. A start before the prefix
	// range scans all of it; one after it scans nothing. An absent bucket
	// scans nothing.
	// fn must not modify the bucket it scans: collect keys, then change them.
	Scan(bucket string, prefix, start []byte, fn func(key, value []byte) bool) error
}

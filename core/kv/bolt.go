package kv

import (
	"bytes"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bolt is a Store backed by a bbolt database file.
type Bolt struct{ db *bolt.DB }

// OpenBolt opens (creating if needed) the database at path. It fails fast if
// another process holds the file, rather than blocking forever.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &Bolt{db: db}, nil
}

func (b *Bolt) View(fn func(Tx) error) error {
	began := false
	err := b.db.View(func(tx *bolt.Tx) error { began = true; return fn(boltTx{tx}) })
	return closedErr(began, err)
}

func (b *Bolt) Update(fn func(Tx) error) error {
	began := false
	err := b.db.Update(func(tx *bolt.Tx) error { began = true; return fn(boltTx{tx}) })
	return closedErr(began, err)
}

// closedErr reports a transaction that could not begin on a closed database
// as ErrClosed, the error every Store returns after Close.
func closedErr(began bool, err error) error {
	if !began && errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Close closes the database; closing it again is not an error.
func (b *Bolt) Close() error { return b.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Get(bucket string, key []byte) []byte {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.Get(key)
}

func (t boltTx) Put(bucket string, key, value []byte) error {
	if !t.tx.Writable() {
		return ErrReadOnly
	}
	if err := checkPut(bucket, key); err != nil {
		return err
	}
	bk, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	// bbolt keeps the caller's value slice until the transaction ends (it
	// copies only the key), so a caller reusing its buffer would rewrite a
	// stored value; copy it, as Mem does. The copy is never nil: bbolt reads
	// a nil value back as absent until the transaction commits.
	return bk.Put(key, append(make([]byte, 0, len(value)), value...))
}

func (t boltTx) Delete(bucket string, key []byte) error {
	if !t.tx.Writable() {
		return ErrReadOnly // also when there is nothing to delete, as in Mem
	}
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	return bk.Delete(key)
}

func (t boltTx) Scan(bucket string, prefix, start []byte, fn func(k, v []byte) bool) error {
	bk := t.tx.Bucket([]byte(bucket))
	if bk == nil {
		return nil
	}
	seek := prefix
	if bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	c := bk.Cursor()
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !fn(k, v) {
			return nil
		}
	}
	return nil
}

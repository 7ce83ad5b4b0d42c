package kv

import "errors"

// MaxKeySize is the longest key Put accepts, in bytes (bbolt's limit, kept by
// every store so that they accept the same writes).
const MaxKeySize = 32768

var (
	// ErrReadOnly is returned by Put and Delete in a View.
	ErrReadOnly = errors.New("kv: write in a read-only transaction")
	// ErrBadKey is returned by Put for an empty key, a key longer than
	// MaxKeySize, or an empty bucket name.
	ErrBadKey = errors.New("kv: empty or too long key, or empty bucket name")
)

// checkPut is the validation every store's Put does first.
func checkPut(bucket string, key []byte) error {
	if len(key) == 0 || len(key) > MaxKeySize || bucket == "" {
		return ErrBadKey
	}
	return nil
}

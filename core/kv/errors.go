package kv

import "errors"

// ErrReadOnly is returned by Put and Delete in a View.
var ErrReadOnly = errors.New("kv: write in a read-only transaction")

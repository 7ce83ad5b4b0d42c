package kv

import "errors"

var errReadOnly = errors.New("kv: write in a read-only transaction")

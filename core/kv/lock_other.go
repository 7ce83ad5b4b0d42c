//go:build !unix

package kv

import (
	"os"
	"time"
)

func lockFile(*os.File, time.Duration) error { return nil }

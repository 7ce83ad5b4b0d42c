package e2e

import "sync"

type syncMutex = sync.Mutex

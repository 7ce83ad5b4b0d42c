package core

import (
	"encoding/json"
	"slices"
	"sync"
)

// repoRecords remembers decoded repository records by their stored bytes.
// Nearly every request reads its repository's record (DescribeRepositories,
// a push's settings, the subscribers that look at its configuration), and
// decoding it with encoding/json was a sizeable part of a small call. The
// bytes are the key, so a remembered value is never stale: a changed
// record is other bytes, decoded afresh. Callers get a copy of their own.
var repoRecords struct {
	mu sync.Mutex
	m  map[string]*Repository
}

// repoRecordsMax bounds the map; past it, it starts over.
const repoRecordsMax = 4096

// decodeRepo decodes a stored repository record into into, as
// json.Unmarshal into a zero Repository would.
func decodeRepo(b []byte, into *Repository) error {
	repoRecords.mu.Lock()
	known := repoRecords.m[string(b)]
	repoRecords.mu.Unlock()
	if known != nil {
		*into = known.clone()
		return nil
	}
	var rec Repository
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	keep := rec.clone()
	repoRecords.mu.Lock()
	if repoRecords.m == nil || len(repoRecords.m) >= repoRecordsMax {
		repoRecords.m = map[string]*Repository{}
	}
	repoRecords.m[string(b)] = &keep
	repoRecords.mu.Unlock()
	*into = rec
	return nil
}

// clone copies r with slices of its own.
func (r *Repository) clone() Repository {
	c := *r
	c.MutabilityExclusions = slices.Clone(r.MutabilityExclusions)
	c.Tags = slices.Clone(r.Tags)
	return c
}

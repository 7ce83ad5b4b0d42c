package ecr

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"

	"github.com/berth-dev/berth/core"
)

// requestIDs hands out the x-amzn-RequestId of each answer: a version-4
// UUID's shape (8-4-4-4-12 hex digits, version 4, RFC 4122 variant), random
// per handler in its first half and a counter in its second, so that ids
// are unique within a process and unlikely to repeat across processes.
// Clients keep the id as an opaque string for their response metadata and
// logs (aws-sdk-js-v3's deserializeMetadata reads x-amzn-requestid as is,
// aws/aws-sdk-js-v3#4015); none parses it. Reading crypto/rand for each
// answer cost ≈ 1% of a PutImage's CPU.
type requestIDs struct {
	prefix [8]byte // random, with the version nibble set
	next   atomic.Uint64
}

func newRequestIDs() *requestIDs {
	ids := new(requestIDs)
	var seed [16]byte
	rand.Read(seed[:])
	copy(ids.prefix[:], seed[:8])
	ids.prefix[6] = ids.prefix[6]&0x0f | 0x40
	ids.next.Store(binary.BigEndian.Uint64(seed[8:])) // counting from a random point
	return ids
}

// fill writes the next id into s.
func (ids *requestIDs) fill(s *[36]byte) {
	var b [16]byte
	copy(b[:8], ids.prefix[:])
	binary.BigEndian.PutUint64(b[8:], ids.next.Add(1))
	b[8] = b[8]&0x3f | 0x80 // the variant: the counter keeps 62 bits
	core.EncodeUUID(s, &b)
}

package core

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"math/rand/v2"
	"time"

	"github.com/berth-dev/berth/core/kv"
)

// Self-describing upload ids.
//
// Why: a session's record cost the POST that starts it a commit of its own
// (two syncs on disk), as much as the PUT that completes a small blob. An id
// instead carries what the record held at the start — when the session
// started — and is authenticated with a MAC, under a secret kept in the
// store, over that, a nonce, the registry, the repository and how many
// times the repository was deleted before (repoGen). So a POST writes nothing: the session lives in
// this process, and after a restart its id alone rebuilds it (as empty: it
// had acknowledged no bytes, or it would have a record). A forged id, one of
// another repository, or one of a repository deleted and created again, does
// not check. The record is written only when the session must outlive a
// request with bytes (release) or keep ECR's layer-part bookkeeping
// (appendChunk), in the grouped commit path as before.
//
// An id is a UUID's 128 bits, as ECR's upload ids are (its API pattern):
// 32 bits of start time (unix seconds), 32 of nonce, 64 of MAC.
//
// A session that completes or is cancelled must stay unknown, also after a
// restart: its id would still check. The commit that ends it says so (no
// extra commit), in a form the janitor purges once the id is older than
// sessionHorizon, past which no id is rebuilt anyway. Reset replaces the
// secret (every old id stops checking); deleting a repository counts one
// more deletion of its name (endRepoSessionsTx), which its ids no longer
// check against.
//
// Since layout 8 a nonce is never handed out twice by a store: each
// process reserves blocks of nonces from a counter kept with the secret,
// started at a random nonce (one commit per nonceBlock sessions, the first
// when its first session starts), so an ended session is known by its
// nonce alone, and the ended nonces are kept as runs (bUploadEnded): first
// … last, nearly always one run per process (sessions end about in the
// order they started; one left open splits a run in two until it ends or
// the janitor purges the run). Why: a tombstone per id was a key in a tree
// of its own, whose leaf and branch were 2 of a small blob's ≈ 7 pages,
// each a disk request of its own; runs take 32 bytes each, and bbolt keeps
// a bucket of up to a quarter page (≈ 128 runs with 16 KiB pages) inline in
// the root page, which every commit writes anyway. The counter also
// records when it was started (its epoch): ids sealed before it (layout
// 7's, of random nonces) keep their tombstones in bUploadEnds, as before,
// so either kind of id is ended one way only.
const (
	bUploadKey   = "upload-key"   // "key" → the secret of upload ids; "nonces" → the counter (nonceCounter)
	bUploadEnds  = "upload-ends"  // id → start (8 bytes, unix seconds): a session of an id sealed before the counter's epoch that ended (tombstone)
	bUploadEnded = "upload-ended" // last nonce (4 bytes) → first nonce (4 bytes), newest start (8 bytes, unix seconds): a run of ended sessions
	bUploadGens  = "upload-gens"  // reg|name → deletions of the repository name (8 bytes), when any
)

var (
	uploadKeyName = []byte("key")
	noncesName    = []byte("nonces")
)

// nonceBlock is how many nonces a process reserves with one commit.
const nonceBlock = 1 << 12

// idNonces is the block of nonces this process may hand out: next … end-1
// (none reserved yet when end is 0); seed is where a store's counter starts
// (from Options.Rand, so that a test's ids are fixed).
type idNonces struct {
	next, end uint64
	seed      uint32
}

// nonceCounter is the stored counter: the first nonce no process has
// reserved, and the epoch (unix seconds) from which ids are sealed with
// reserved nonces.
func nonceCounter(tx kv.Tx) (next uint64, epoch int64, ok bool) {
	v := tx.Get(bUploadKey, noncesName)
	if len(v) != 12 {
		return 0, 0, false
	}
	return uint64(binary.BigEndian.Uint32(v[:4])), int64(binary.BigEndian.Uint64(v[4:])), true
}

// reserveNoncesLocked reserves a block of nonces for this process when it
// has none left. r.mu must be held, and no transaction open.
func (r *Registry) reserveNoncesLocked(now time.Time) error {
	if r.nonces.next < r.nonces.end {
		return nil
	}
	var from uint64
	err := r.kv.Update(func(tx kv.Tx) error {
		next, epoch, ok := nonceCounter(tx)
		if !ok {
			next = uint64(r.nonces.seed)
			// From the next second: an id of this one may be of an
			// earlier process (a berth of layout 7), whose nonce was
			// random, and must keep its kind of tombstone.
			epoch = now.Unix() + 1
		}
		if next+nonceBlock > 1<<32 {
			// Past the last of the 2³² nonces (from a random start): again
			// from the first. The runs of sessions ended that long ago are
			// purged; startUpload skips any nonce still ended.
			next = 0
		}
		from = next
		v := binary.BigEndian.AppendUint32(make([]byte, 0, 12), uint32(next+nonceBlock))
		return tx.Put(bUploadKey, noncesName, binary.BigEndian.AppendUint64(v, uint64(epoch)))
	})
	if err != nil {
		return err
	}
	r.nonces.next, r.nonces.end = from, from+nonceBlock
	return nil
}

// idEnded reports whether the session of id (as sealID writes it) ended.
func idEnded(tx kv.Tx, id string) bool {
	b, ok := parseUUID(id)
	if !ok {
		return false
	}
	if !countedID(tx, b) {
		return tx.Get(bUploadEnds, []byte(id)) != nil
	}
	_, ended := endedRun(tx, binary.BigEndian.Uint32(b[4:8]))
	return ended
}

// endIDTx records in tx that the session of id, started at start, ended.
func endIDTx(tx kv.Tx, id string, start time.Time) error {
	b, ok := parseUUID(id)
	if !ok || !countedID(tx, b) {
		return tx.Put(bUploadEnds, []byte(id), tombstone(start))
	}
	return endNonceTx(tx, binary.BigEndian.Uint32(b[4:8]), start)
}

// endUnendedIDTx is idEnded then endIDTx for a session that must not have
// ended: it reports false, and writes nothing, when the session had ended.
// It parses the id and finds its run once, where the two took two of each
// on every small blob's completion.
func endUnendedIDTx(tx kv.Tx, id string, start time.Time) (bool, error) {
	b, ok := parseUUID(id)
	if !ok || !countedID(tx, b) {
		if ok && tx.Get(bUploadEnds, []byte(id)) != nil {
			return false, nil
		}
		return true, tx.Put(bUploadEnds, []byte(id), tombstone(start))
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if _, ended := endedRun(tx, n); ended {
		return false, nil
	}
	return true, addEndedNonceTx(tx, n, start)
}

// countedID reports whether id's nonce came from the counter: it was
// sealed from the counter's epoch on.
func countedID(tx kv.Tx, b [16]byte) bool {
	_, epoch, ok := nonceCounter(tx)
	return ok && int64(binary.BigEndian.Uint32(b[0:4])) >= epoch
}

func nonceKey(n uint32) []byte { return binary.BigEndian.AppendUint32(make([]byte, 0, 4), n) }

// endedRun returns the last nonce of the run of ended nonces that holds n.
func endedRun(tx kv.Tx, n uint32) (last uint32, ok bool) {
	tx.Scan(bUploadEnded, nil, nonceKey(n), func(k, v []byte) bool {
		if len(k) == 4 && len(v) == 12 && binary.BigEndian.Uint32(v[:4]) <= n {
			last, ok = binary.BigEndian.Uint32(k), true
		}
		return false
	})
	return last, ok
}

// endNonceTx adds nonce n, of a session started at start, to the ended
// runs, joining the runs that end just before it and start just after it.
func endNonceTx(tx kv.Tx, n uint32, start time.Time) error {
	if _, ok := endedRun(tx, n); ok {
		return nil
	}
	return addEndedNonceTx(tx, n, start)
}

// addEndedNonceTx is endNonceTx for a nonce in no run.
func addEndedNonceTx(tx kv.Tx, n uint32, start time.Time) error {
	first, last, newest := n, n, start.Unix()
	if n > 0 {
		if v := tx.Get(bUploadEnded, nonceKey(n-1)); len(v) == 12 {
			first, newest = binary.BigEndian.Uint32(v[:4]), max(newest, int64(binary.BigEndian.Uint64(v[4:])))
			if err := tx.Delete(bUploadEnded, nonceKey(n-1)); err != nil {
				return err
			}
		}
	}
	if n < 1<<32-1 {
		tx.Scan(bUploadEnded, nil, nonceKey(n+1), func(k, v []byte) bool {
			if len(k) == 4 && len(v) == 12 && binary.BigEndian.Uint32(v[:4]) == n+1 {
				last, newest = binary.BigEndian.Uint32(k), max(newest, int64(binary.BigEndian.Uint64(v[4:])))
			}
			return false
		})
	}
	v := binary.BigEndian.AppendUint32(make([]byte, 0, 12), first)
	return tx.Put(bUploadEnded, nonceKey(last), binary.BigEndian.AppendUint64(v, uint64(newest)))
}

// sessionHorizon is how long an id rebuilds a session that has no record:
// the janitor's horizon (the server expires sessions idle for 24 h), past
// which such a session would have been expired anyway.
const sessionHorizon = 24 * time.Hour

// uploadKeyLocked returns the secret of upload ids, reading it from the
// store, or creating it there, the first time. r.mu must be held (Reset
// replaces the secret under it).
func (r *Registry) uploadKeyLocked() ([]byte, error) {
	if r.idKey != nil {
		return r.idKey, nil
	}
	var key []byte
	err := r.kv.View(func(tx kv.Tx) error {
		key = bytes.Clone(tx.Get(bUploadKey, uploadKeyName))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if key == nil {
		fresh, err := r.newUploadKey()
		if err != nil {
			return nil, err
		}
		err = r.kv.Update(func(tx kv.Tx) error {
			if k := tx.Get(bUploadKey, uploadKeyName); k != nil {
				key = bytes.Clone(k)
				return nil
			}
			key = fresh
			return tx.Put(bUploadKey, uploadKeyName, key)
		})
		if err != nil {
			return nil, err
		}
	}
	r.idKey, r.idMACer = key, newIDMACer(key)
	return key, nil
}

func (r *Registry) newUploadKey() ([]byte, error) {
	key := make([]byte, 32)
	r.randMu.Lock()
	defer r.randMu.Unlock()
	_, err := io.ReadFull(r.rand, key)
	return key, err
}

// repoGen is how many times repository repo of reg was deleted: a time
// would not do, as a repository can be deleted and created again within
// one tick of a clock (a test's, stopped).
func repoGen(tx kv.Tx, reg RegistryID, repo string) uint64 {
	if v := tx.Get(bUploadGens, repoKey(reg, repo)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// endRepoSessionsTx ends, in the transaction that deletes repository repo,
// every session of it that has no record, held by this process or not: their
// ids stop checking.
func endRepoSessionsTx(tx kv.Tx, reg RegistryID, repo string) error {
	return tx.Put(bUploadGens, repoKey(reg, repo), binary.BigEndian.AppendUint64(nil, repoGen(tx, reg, repo)+1))
}

// ephemeralIDs hands out the ids of an ephemeral registry's sessions
// (Options.Ephemeral), shaped as sealed ids are: the start (unix seconds),
// a count of the process's sessions, and 64 bits of a stream seeded from
// Options.Rand, so that no id can be guessed from another. Used under r.mu.
//
// Why not sealed ids: a MAC and the ended runs are for a later process,
// which must rebuild a session from its id alone, or know that it ended.
// When the stores die with this process, a session it does not hold is
// unknown — it never started, or it ended — so an id needs no MAC (an
// HMAC-SHA256 at every session's start), and a session's end no write (the
// run of ended nonces, read at every start and rewritten at every end).
type ephemeralIDs struct {
	n   uint32
	rng *rand.ChaCha8
}

func (e *ephemeralIDs) init(src io.Reader) {
	var seed [32]byte
	io.ReadFull(src, seed[:])
	e.rng = rand.NewChaCha8(seed)
}

func (e *ephemeralIDs) next(start time.Time) string {
	var b [16]byte
	e.n++
	binary.BigEndian.PutUint32(b[0:4], uint32(start.Unix()))
	binary.BigEndian.PutUint32(b[4:8], e.n)
	binary.BigEndian.PutUint64(b[8:], e.rng.Uint64())
	return formatUUID(b)
}

// idMACer computes the MACs of upload ids under one secret, reusing its
// state and buffers (a session's start costs no allocation for them). Not
// safe for concurrent use: the Registry's is used under r.mu.
type idMACer struct {
	h       hash.Hash
	in, sum []byte
}

func newIDMACer(key []byte) *idMACer { return &idMACer{h: hmac.New(sha256.New, key)} }

// mac is the MAC of an id's first 8 bytes (start, nonce) for a session of
// repository repo of reg, of generation gen; it is valid until the next call.
func (m *idMACer) mac(head []byte, reg RegistryID, repo string, gen uint64) []byte {
	in := append(m.in[:0], head...)
	for _, s := range [...]string{reg.Account, reg.Region, repo} {
		in = binary.BigEndian.AppendUint32(in, uint32(len(s)))
		in = append(in, s...)
	}
	m.in = binary.BigEndian.AppendUint64(in, gen)
	m.h.Reset()
	m.h.Write(m.in)
	m.sum = m.h.Sum(m.sum[:0])
	return m.sum[:8]
}

// sealID builds the id of a session started at start.
func sealID(m *idMACer, start time.Time, nonce uint32, reg RegistryID, repo string, gen uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(start.Unix()))
	binary.BigEndian.PutUint32(b[4:8], nonce)
	copy(b[8:], m.mac(b[:8], reg, repo, gen))
	return formatUUID(b)
}

// openID checks id against the repository it is used in and returns when
// its session started; ok false for an id berth did not hand out for that
// repository (of that generation) under key.
func openID(m *idMACer, id string, reg RegistryID, repo string, gen uint64) (start time.Time, ok bool) {
	b, ok := parseUUID(id)
	if !ok {
		return time.Time{}, false
	}
	if !hmac.Equal(b[8:], m.mac(b[:8], reg, repo, gen)) {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint32(b[0:4])), 0), true
}

// tombstone is the value of an ended session's tombstone: when it started,
// which says when the janitor may purge it.
func tombstone(start time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(start.Unix()))
}

func tombstoneStart(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{} // unreadable: purged
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// parseUUID reads an id as formatUUID writes it, lower case only: a session
// is known by its id's exact spelling. It decodes in place: every small
// blob's push parses its id two or three times, and joining the groups to
// decode them cost an allocation or two each time.
func parseUUID(id string) (b [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return b, false
	}
	for i, j := 0, 0; j < len(b); j++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++ // the dash: each group has an even number of digits
		}
		hi, ok1 := lowerHexDigit(id[i])
		lo, ok2 := lowerHexDigit(id[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		b[j] = hi<<4 | lo
		i += 2
	}
	return b, true
}

// lowerHexDigit is the value of one digit of formatUUID's hex.
func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

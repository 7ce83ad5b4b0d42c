package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The journal is Bolt's write-ahead log: each commit's write set (its Puts
// and Deletes, in order) is appended here as one checksummed record and
// synced before the commit is answered; bbolt receives the writes later,
// many commits at once (see overlay.go). Records are numbered by a
// sequence that never restarts; bbolt stores the last one it holds, and
// recovery replays those after it.
//
// Layout: two header slots, then records from recordsAt. A header names
// the sequence of the first record that follows it (firstSeq): the journal
// restarts (a new header, records again from recordsAt) once bbolt holds
// every record, and a header is written to the slot its generation's
// parity names, so a torn header write leaves the other, older one valid
// (nothing follows a new header before it is synced). The file is written
// with zeros ahead of the records (preallocated, reused after each
// restart) so that an append overwrites blocks the file already has and
// its fdatasync does not also commit a new file size or extent to ext4's
// journal. Stale records beyond the end are never replayed: a record
// carries its sequence under its checksum, and sequences only grow.
type journal struct {
	f *os.File

	gen      uint64 // of the last header written (or read)
	firstSeq uint64 // the sequence of the record at recordsAt
	seq      uint64 // of the last record appended (firstSeq-1: none)
	end      int64  // where the next record goes
	zeroedTo int64  // the file holds written zeros (or records) up to here

	buf []byte // reused record buffer
}

const (
	journalMagic = "berthjnl"
	// journalVersion 2: headers name a first sequence. Version 1 (berth's
	// round 8) held bbolt meta pages and epochs; it is refused (see
	// openJournal).
	journalVersion = 2
	// headerSize: magic, version, generation, first sequence, crc.
	headerSize = 8 + 4 + 8 + 8 + 4
	// journalSlot is a header slot's size (a block of its own).
	journalSlot = 4096
	recordsAt   = 2 * journalSlot
	// recordHead: length of the payload, crc, sequence.
	recordHead = 4 + 4 + 8
	// journalChunk is how much the zeroed region grows by when a record
	// would pass its end.
	journalChunk = 1 << 20

	opPut    = 1
	opDelete = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const zeroBlockSize = 4096

var zeroBlock [zeroBlockSize]byte

// errBadRecord is a record whose checksum holds but whose writes cannot be
// decoded: not something a crash leaves.
var errBadRecord = errors.New("kv: journal record invalid")

// errOldJournal is a journal in round 8's format (bbolt meta pages and
// epochs), which this berth cannot replay.
var errOldJournal = errors.New("kv: the journal is in an older berth's format (1): " +
	"start that berth on this data dir and stop it cleanly (it then removes its journal)")

// openJournal opens the journal at path, creating it if flag has O_CREATE.
func openJournal(path string, flag int) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|flag, 0o600)
	if err != nil {
		return nil, err
	}
	j := &journal{f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	j.zeroedTo = fi.Size()
	return j, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// readHeader reads the valid header with the highest generation, and
// returns ok false when neither slot holds one.
func (j *journal) readHeader() (ok bool, err error) {
	b := make([]byte, headerSize)
	for slot := int64(0); slot < 2; slot++ {
		n, err := j.f.ReadAt(b, slot*journalSlot)
		if err != nil && err != io.EOF {
			return false, err
		}
		if n >= 12 && string(b[:8]) == journalMagic && binary.LittleEndian.Uint32(b[8:]) == 1 {
			return false, errOldJournal
		}
		gen, first, valid := parseHeader(b[:n])
		if valid && (!ok || gen > j.gen) {
			j.gen, j.firstSeq, ok = gen, first, true
		}
	}
	if !ok {
		// Format 1 had its slots 256 KiB apart, and its first header in
		// the second.
		n, err := j.f.ReadAt(b, 256<<10)
		if err != nil && err != io.EOF {
			return false, err
		}
		if n >= 12 && string(b[:8]) == journalMagic && binary.LittleEndian.Uint32(b[8:]) == 1 {
			return false, errOldJournal
		}
	}
	j.seq, j.end = j.firstSeq-1, recordsAt
	return ok, nil
}

func parseHeader(b []byte) (gen, firstSeq uint64, ok bool) {
	if len(b) < headerSize || string(b[:8]) != journalMagic {
		return 0, 0, false
	}
	le := binary.LittleEndian
	if le.Uint32(b[8:]) != journalVersion || crc32.Checksum(b[:headerSize-4], castagnoli) != le.Uint32(b[headerSize-4:]) {
		return 0, 0, false
	}
	gen, firstSeq = le.Uint64(b[12:]), le.Uint64(b[20:])
	return gen, firstSeq, firstSeq > 0
}

// restart writes a new header, whose records begin at sequence firstSeq,
// and syncs it: the records before are stale from then on (bbolt holds
// them all).
func (j *journal) restart(firstSeq uint64) error {
	gen := j.gen + 1
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	copy(b, journalMagic)
	le.PutUint32(b[8:], journalVersion)
	le.PutUint64(b[12:], gen)
	le.PutUint64(b[20:], firstSeq)
	le.PutUint32(b[headerSize-4:], crc32.Checksum(b[:headerSize-4], castagnoli))
	if _, err := j.f.WriteAt(b, int64(gen%2)*journalSlot); err != nil {
		return err
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.gen, j.firstSeq, j.seq, j.end = gen, firstSeq, firstSeq-1, recordsAt
	return nil
}

// records reads the records after the header in order, with their
// sequences, stopping at the first that is torn, stale or fails its
// checksum: each record is synced before the next is written, so only the
// last one written can be torn, and what follows a bad one was never
// acknowledged. j then appends after the last valid one.
func (j *journal) records(fn func(seq uint64, payload []byte) error) error {
	off := int64(recordsAt)
	le := binary.LittleEndian
	head := make([]byte, recordHead)
	fi, err := j.f.Stat()
	if err != nil {
		return err
	}
	seq := j.firstSeq
	for ; ; seq++ {
		if _, err := j.f.ReadAt(head, off); err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		n := int64(le.Uint32(head))
		if le.Uint64(head[8:]) != seq || n > fi.Size()-off-recordHead {
			break
		}
		payload := make([]byte, n)
		if _, err := j.f.ReadAt(payload, off+recordHead); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return err
		}
		c := crc32.Update(crc32.Checksum(head[8:], castagnoli), castagnoli, payload)
		if c != le.Uint32(head[4:]) {
			break
		}
		if err := fn(seq, payload); err != nil {
			return err
		}
		off += recordHead + n
	}
	j.seq, j.end = seq-1, off
	return nil
}

// append writes ws as the next record (sequence j.seq+1) and syncs it.
func (j *journal) append(ws *writeSet) error {
	n := len(ws.buf)
	total := recordHead + n
	if cap(j.buf) < total {
		j.buf = make([]byte, total)
	}
	b := j.buf[:total]
	le := binary.LittleEndian
	le.PutUint32(b, uint32(n))
	le.PutUint64(b[8:], j.seq+1)
	copy(b[recordHead:], ws.buf)
	le.PutUint32(b[4:], crc32.Update(crc32.Checksum(b[8:recordHead], castagnoli), castagnoli, ws.buf))
	at := j.end
	if _, err := j.f.WriteAt(b, at); err != nil {
		return err
	}
	if end := at + int64(total); end > j.zeroedTo {
		// Past the zeroed region: write zeros to a chunk's end, so the
		// next appends land on written blocks. A block per write: zeros
		// written at once land in large page-cache folios (2 MiB on the
		// bench machine's kernel, 6.18), and each later append would
		// dirty a whole folio, which its fdatasync then writes back —
		// measured with 900-byte appends: 2 MiB written per append, 4 KiB
		// with block-sized writes.
		to := roundUp(end, journalChunk)
		for off := roundUp(end, zeroBlockSize); off < to; off += zeroBlockSize {
			if _, err := j.f.WriteAt(zeroBlock[:], off); err != nil {
				return err
			}
		}
		j.zeroedTo = to
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.seq++
	j.end = at + int64(total)
	return nil
}

func (j *journal) size() int64 { return j.end - recordsAt }

func (j *journal) close() error { return j.f.Close() }

// writeSet records a write transaction's Puts and Deletes, in order, in the
// journal's record encoding: op, bucket, key (and value), each with a
// uvarint length.
type writeSet struct {
	buf []byte
	ops int
}

func (w *writeSet) reset() { w.buf, w.ops = w.buf[:0], 0 }

func (w *writeSet) put(bucket string, key, value []byte) {
	w.buf = append(w.buf, opPut)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(bucket)))
	w.buf = append(w.buf, bucket...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
	w.buf = append(w.buf, key...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, value...)
	w.ops++
}

func (w *writeSet) delete(bucket string, key []byte) {
	w.buf = append(w.buf, opDelete)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(bucket)))
	w.buf = append(w.buf, bucket...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
	w.buf = append(w.buf, key...)
	w.ops++
}

// recordWriter takes a record's writes.
type recordWriter interface {
	Put(bucket string, key, value []byte) error
	Delete(bucket string, key []byte) error
}

// replayRecord applies one record's writes to tx.
func replayRecord(tx recordWriter, p []byte) error {
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, false
		}
		f := p[k : k+int(n)]
		p = p[k+int(n):]
		return f, true
	}
	for len(p) > 0 {
		op := p[0]
		p = p[1:]
		bucket, ok1 := field()
		key, ok2 := field()
		if !ok1 || !ok2 {
			return errBadRecord
		}
		switch op {
		case opPut:
			value, ok := field()
			if !ok {
				return errBadRecord
			}
			if err := tx.Put(string(bucket), key, value); err != nil {
				return err
			}
		case opDelete:
			if err := tx.Delete(string(bucket), key); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: op %d", errBadRecord, op)
		}
	}
	return nil
}

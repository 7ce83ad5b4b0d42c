package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The journal is Bolt's write-ahead log: bbolt commits without syncing, and
// each commit's write set (its Puts and Deletes, in order) is appended here
// as one checksummed record and synced before the commit is answered. A
// checkpoint syncs bbolt and starts a new epoch, whose header holds the
// checkpoint's two meta pages; recovery writes them back into the bbolt file
// and replays the epoch's records on top (see Bolt).
//
// Layout: two header slots (a checkpoint writes the one its epoch's parity
// names, so a torn header write leaves the other, older one valid; nothing
// of the new epoch is written before its header is synced), then records
// from recordsAt. The file is written with zeros ahead of the records
// (preallocated, reused from recordsAt after each checkpoint) so that an
// append overwrites blocks the file already has and its fdatasync does not
// also commit a new file size or extent to ext4's journal. Stale records
// of older epochs beyond the end are never replayed: a record carries its
// epoch and its sequence number in the epoch, under its checksum.
type journal struct {
	f         *os.File
	pageSize  int
	slotSize  int64
	recordsAt int64

	epoch    uint64 // of the last header written (or read)
	seq      uint64 // records appended in this epoch
	end      int64  // where the next record goes
	zeroedTo int64  // the file holds written zeros (or records) up to here

	buf []byte // reused record buffer
}

const (
	journalMagic   = "berthjnl"
	journalVersion = 1
	// headerFixed: magic, version, page size, epoch, meta length, crc.
	headerFixed = 8 + 4 + 4 + 8 + 4 + 4
	// recordHead: length of the payload, crc, epoch, seq.
	recordHead = 4 + 4 + 8 + 8
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

// journalSlot is a header slot's size: room for the meta pages of bbolt's
// largest page size (64 KiB), so that the slots' offsets do not depend on it.
const journalSlot = 256 << 10

// openJournal opens the journal at path, creating it if flag has O_CREATE.
// pageSize is the bbolt file's (0 before it is known: readHeader takes the
// header's).
func openJournal(path string, flag int, pageSize int) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|flag, 0o600)
	if err != nil {
		return nil, err
	}
	j := &journal{f: f, pageSize: pageSize, slotSize: journalSlot, recordsAt: 2 * journalSlot}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	j.zeroedTo = fi.Size()
	return j, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// readHeader returns the valid header with the highest epoch (its meta
// pages), or ok false when neither slot holds one.
func (j *journal) readHeader() (metas []byte, ok bool, err error) {
	for slot := int64(0); slot < 2; slot++ {
		b := make([]byte, journalSlot)
		n, err := j.f.ReadAt(b, slot*j.slotSize)
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		epoch, ps, m, valid := parseHeader(b[:n])
		if valid && (!ok || epoch > j.epoch) {
			j.epoch, j.pageSize, metas, ok = epoch, ps, m, true
		}
	}
	return metas, ok, nil
}

func parseHeader(b []byte) (epoch uint64, pageSize int, metas []byte, ok bool) {
	if len(b) < headerFixed || string(b[:8]) != journalMagic {
		return 0, 0, nil, false
	}
	le := binary.LittleEndian
	pageSize = int(le.Uint32(b[12:]))
	if le.Uint32(b[8:]) != journalVersion || pageSize < 512 || pageSize > 64<<10 {
		return 0, 0, nil, false
	}
	epoch = le.Uint64(b[16:])
	n := int(le.Uint32(b[24:]))
	if n != 2*pageSize || len(b) < headerFixed+n {
		return 0, 0, nil, false
	}
	sum := le.Uint32(b[28:])
	c := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[headerFixed:headerFixed+n])
	if c != sum {
		return 0, 0, nil, false
	}
	return epoch, pageSize, b[headerFixed : headerFixed+n], true
}

// checkpoint starts a new epoch whose state is given by the bbolt file's
// meta pages (already synced): its header is written to its slot and
// synced. Records of the old epoch become stale.
func (j *journal) checkpoint(metas []byte) error {
	epoch := j.epoch + 1
	b := make([]byte, headerFixed+len(metas))
	le := binary.LittleEndian
	copy(b, journalMagic)
	le.PutUint32(b[8:], journalVersion)
	le.PutUint32(b[12:], uint32(j.pageSize))
	le.PutUint64(b[16:], epoch)
	le.PutUint32(b[24:], uint32(len(metas)))
	copy(b[headerFixed:], metas)
	le.PutUint32(b[28:], crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, metas))
	if _, err := j.f.WriteAt(b, int64(epoch%2)*j.slotSize); err != nil {
		return err
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.epoch, j.seq, j.end = epoch, 0, j.recordsAt
	return nil
}

// records reads the current epoch's records in order, stopping at the
// first that is torn, stale or fails its checksum: each record is synced
// before the next is written, so only the last one written can be torn, and
// what follows a bad one was never acknowledged.
func (j *journal) records(fn func(payload []byte) error) error {
	off := j.recordsAt
	le := binary.LittleEndian
	head := make([]byte, recordHead)
	fi, err := j.f.Stat()
	if err != nil {
		return err
	}
	for seq := uint64(1); ; seq++ {
		if _, err := j.f.ReadAt(head, off); err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		n := int64(le.Uint32(head))
		if le.Uint64(head[8:]) != j.epoch || le.Uint64(head[16:]) != seq || n > fi.Size()-off-recordHead {
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
		if err := fn(payload); err != nil {
			return err
		}
		j.seq, off = seq, off+recordHead+n
	}
	j.end = off
	return nil
}

// append writes ws as the next record and syncs it. It returns where the
// record starts, for unappend.
func (j *journal) append(ws *writeSet) (int64, error) {
	n := len(ws.buf)
	total := recordHead + n
	if cap(j.buf) < total {
		j.buf = make([]byte, total)
	}
	b := j.buf[:total]
	le := binary.LittleEndian
	le.PutUint32(b, uint32(n))
	le.PutUint64(b[8:], j.epoch)
	le.PutUint64(b[16:], j.seq+1)
	copy(b[recordHead:], ws.buf)
	le.PutUint32(b[4:], crc32.Update(crc32.Checksum(b[8:recordHead], castagnoli), castagnoli, ws.buf))
	at := j.end
	if _, err := j.f.WriteAt(b, at); err != nil {
		return at, err
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
				return at, err
			}
		}
		j.zeroedTo = to
	}
	if err := fdatasync(j.f); err != nil {
		return at, err
	}
	j.seq++
	j.end = at + int64(total)
	return at, nil
}

// unappend invalidates the record appended at at, whose commit failed: its
// head is zeroed and synced, so recovery stops before it.
func (j *journal) unappend(at int64) error {
	if _, err := j.f.WriteAt(make([]byte, recordHead), at); err != nil {
		return err
	}
	if err := fdatasync(j.f); err != nil {
		return err
	}
	j.seq--
	j.end = at
	return nil
}

func (j *journal) size() int64 { return j.end - j.recordsAt }

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

// replayRecord applies one record's writes to tx.
func replayRecord(tx Tx, p []byte) error {
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

package ecr

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf16"
	"unicode/utf8"
)

// A request body is read in one of two ways. Most inputs are small and are
// read whole, then read straight into the handler's typed input by its
// generated reader, which checks the model's constraints as it reads
// (jsonread.go); a body the reader declines is decoded twice instead (into
// a document for validation and authorization, then into the typed input),
// and that path decides its answer. An input with a blob
// member (UploadLayerPart's layerPartBlob: up to 20 MiB, 27 MiB as base64)
// is read as a stream instead: the blob's base64 is decoded as it arrives
// into a spool (memory up to spoolInMemory, then a temporary file), and only
// the rest of the input — a few small members — is kept and decoded. The
// handler then reads the blob from the spool, so a part is never in memory
// whole, and the upload is written only after every check has passed.

// maxBody bounds a request: UploadLayerPart carries up to 20 MiB, base64-encoded.
const maxBody = 30 << 20

// spoolInMemory is how much of a streamed blob stays in memory before it
// moves to a temporary file: small parts never touch the disk.
const spoolInMemory = 1 << 20

// streamedMembers maps an input shape to its top-level blob member, which
// is streamed rather than decoded in memory.
var streamedMembers = func() map[string]string {
	out := map[string]string{}
	for name, s := range shapes {
		if s.Type != "structure" {
			continue
		}
		for _, m := range s.Members {
			if shapes[m.Shape].Type == "blob" {
				out[name] = m.Name
			}
		}
	}
	return out
}()

// input is a request's input, read and checked against the model.
type input struct {
	body []byte         // the JSON the handler decodes; a streamed member's value is "" in it
	doc  map[string]any // the decoded document authorization reads members from
	blob *streamedBlob  // the streamed member's value, or nil
	// typed is the input as a generated reader read it from the body,
	// checked (jsonread.go); nil when the document path read it (doc).
	typed  inputMembers
	reader *bodyReader // reads body for typed (nil: the document path reads it)
}

// members are the input's members, for authorization.
func (in *input) members() inputMembers {
	if in.typed != nil {
		return in.typed
	}
	return docMembers(in.doc)
}

// close releases what the input holds (a streamed blob's temporary file).
func (in *input) close() {
	if in != nil && in.blob != nil {
		in.blob.close()
	}
}

var errBodyTooLarge = errors.New("request body too large")

// limitedBody fails a read past maxBody, so that an oversized request is
// answered as one however it is read.
type limitedBody struct {
	r io.Reader
	n int64 // bytes left before the limit
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// readBody reads a whole body of the announced size (-1: unknown) into one
// buffer of that size, rather than growing it by doubling.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxBody {
		size = 512
	}
	b := make([]byte, 0, size+1) // +1: EOF is seen without growing
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// ---- text ---------------------------------------------------------------------

// A body must be UTF-8 text. encoding/json reads a byte that is not, or an
// escape of half a UTF-16 surrogate pair, as U+FFFD: a handler would see
// other text than was sent, and PutImage would store another manifest than
// the client's, under another digest.
var (
	errNotUTF8       = errors.New("Invalid UTF-8 in the request body")
	errLoneSurrogate = errors.New("Unpaired UTF-16 surrogate escape in the request body")
)

// checkText checks a body read whole (a streamed blob is checked as it is read).
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return errNotUTF8
	}
	return checkEscapes(b)
}

// checkEscapes is checkText's part after the UTF-8 check: no escape of half
// a surrogate pair.
func checkEscapes(b []byte) error {
	// Escapes: a backslash outside a string is a syntax error the decoder
	// reports, so every one here starts an escape.
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 || i+j+1 >= len(b) {
			return nil
		}
		i += j
		if b[i+1] != 'u' {
			i += 2
			continue
		}
		r, ok := hex4(b[i+2:])
		if !ok {
			return nil // a malformed escape: the decoder reports it
		}
		i += 6
		switch {
		case r >= 0xd800 && r < 0xdc00:
			if low, ok := hex4(b[min(i+2, len(b)):]); ok && b[i] == '\\' && b[i+1] == 'u' && low >= 0xdc00 && low < 0xe000 {
				i += 6
				continue
			}
			return errLoneSurrogate
		case r >= 0xdc00 && r < 0xe000:
			return errLoneSurrogate
		}
	}
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		v, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

func hexDigit(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10), true
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// ---- the streamed blob ------------------------------------------------------

// streamedBlob is a blob member's value, decoded from base64 as it arrived.
type streamedBlob struct {
	// What the model's checks see, computed as validate does for a blob
	// held as a string: the length of the JSON string, and the decoded
	// length estimated from it.
	chars    int64
	estimate int64
	// err is the first base64 error: like a typed decode's, it is answered
	// once the request is authorized.
	err error

	spool spool

	// Decoding, a chunk at a time.
	acc    []byte // base64 characters not decoded yet
	accAt  int64  // where acc[0] is in the string, for error offsets
	out    []byte
	padded bool // a chunk ended with padding: nothing may follow
	last2  [2]byte
	ioErr  error // the spool could not be written
}

// size is the number of bytes decoded.
func (b *streamedBlob) size() int64 { return b.spool.size }

// reader reads the decoded bytes from the start.
func (b *streamedBlob) reader() (io.Reader, error) { return b.spool.reader() }

func (b *streamedBlob) close() { b.spool.close() }

// decodeChunk is how many base64 characters are decoded at once (a multiple of 4).
const decodeChunk = 64 << 10

// text hands over characters of the decoded JSON string.
func (b *streamedBlob) text(p []byte) {
	for len(p) > 0 {
		if b.err != nil || b.ioErr != nil {
			b.chars += int64(len(p))
			b.track(p)
			return
		}
		if b.padded {
			b.err = base64.CorruptInputError(b.chars)
			continue
		}
		if b.acc == nil {
			b.acc = make([]byte, 0, decodeChunk)
			b.out = make([]byte, base64.StdEncoding.DecodedLen(decodeChunk))
		}
		if len(b.acc) == 0 {
			b.accAt = b.chars
		}
		n := min(len(p), cap(b.acc)-len(b.acc))
		b.acc = append(b.acc, p[:n]...)
		b.chars += int64(n)
		b.track(p[:n])
		p = p[n:]
		if len(b.acc) == cap(b.acc) {
			b.flush()
		}
	}
}

// char hands over one character. Line breaks are skipped, as
// base64.StdEncoding skips them in a string decoded whole.
func (b *streamedBlob) char(c byte) {
	if c == '\n' || c == '\r' {
		b.chars++
		b.track([]byte{c})
		return
	}
	b.text([]byte{c})
}

// track keeps the last two characters, which say how much padding there is.
func (b *streamedBlob) track(p []byte) {
	switch len(p) {
	case 0:
	case 1:
		b.last2[0], b.last2[1] = b.last2[1], p[0]
	default:
		b.last2[0], b.last2[1] = p[len(p)-2], p[len(p)-1]
	}
}

func (b *streamedBlob) flush() {
	if len(b.acc) == 0 {
		return
	}
	n, err := base64.StdEncoding.Decode(b.out, b.acc)
	if err != nil {
		var c base64.CorruptInputError
		if errors.As(err, &c) {
			err = base64.CorruptInputError(b.accAt + int64(c))
		}
		b.err = err
		return
	}
	if _, err := b.spool.Write(b.out[:n]); err != nil {
		b.ioErr = err
		return
	}
	b.padded = b.acc[len(b.acc)-1] == '='
	b.acc = b.acc[:0]
}

// finish decodes what is left and settles the figures validation sees.
func (b *streamedBlob) finish() error {
	if b.err == nil && b.ioErr == nil {
		b.flush()
	}
	b.acc, b.out = nil, nil
	pad := int64(0)
	for _, c := range b.last2[2-min(b.chars, 2):] {
		if c == '=' {
			pad++
		}
	}
	b.estimate = int64(base64.StdEncoding.DecodedLen(int(b.chars))) - pad
	if b.ioErr != nil {
		return spoolError{b.ioErr}
	}
	return nil
}

// spool holds bytes in memory up to spoolInMemory, then in a temporary file.
type spool struct {
	mem  []byte
	f    *os.File
	size int64
	// hint is the most it may hold, if known (-1 otherwise): what cannot
	// fit in memory goes to the file at once, and what can is not copied
	// as it grows.
	hint int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.hint <= spoolInMemory && len(s.mem)+len(p) <= spoolInMemory {
		if s.mem == nil && s.hint > 0 {
			s.mem = make([]byte, 0, s.hint)
		}
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "berth-part-")
		if err != nil {
			return 0, err
		}
		s.f = f
		if _, err := f.Write(s.mem); err != nil {
			return 0, err
		}
		s.mem = nil
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	return n, err
}

func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(s.f, s.size), nil
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
	s.mem = nil
}

// spoolError is a failure to keep a streamed blob: the server's, not the request's.
type spoolError struct{ err error }

func (e spoolError) Error() string { return "spooling a request's blob: " + e.err.Error() }
func (e spoolError) Unwrap() error { return e.err }

// ---- the streaming reader -----------------------------------------------------

// syntaxError is malformed JSON found while streaming.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// streamInput reads an object whose top-level member named member is
// streamed. It returns the body with that member's value replaced by "", and
// the value, decoded (nil if the member is absent or not a string). Anything
// it does not expect — malformed JSON, or not an object — is passed on
// as it came, for the JSON decoder to judge: the body returned always has
// the same structure as the one read, so it fails or passes as that would.
//
// size is the body's length if known (-1 otherwise).
func streamInput(body io.Reader, member string, size int64) (_ []byte, _ *streamedBlob, err error) {
	s := &scanner{r: bufio.NewReaderSize(body, 64<<10)}
	var blob *streamedBlob
	defer func() {
		if err != nil && blob != nil {
			blob.close()
		}
	}()
	pass := func(err error) ([]byte, *streamedBlob, error) {
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		if err := s.rest(); err != nil {
			return nil, nil, err
		}
		return s.out, blob, nil
	}
	c, err := s.space()
	if err == io.EOF {
		return nil, nil, nil // an empty body
	}
	if err != nil || c != '{' {
		return pass(err)
	}
	s.take()
	if c, err = s.space(); err != nil {
		return pass(err)
	}
	if c == '}' {
		s.take()
		return s.end(blob)
	}
	for {
		if c != '"' {
			return pass(nil)
		}
		raw, err := s.copyString()
		if err != nil {
			return pass(err)
		}
		var key string
		if json.Unmarshal(raw, &key) != nil {
			return pass(nil)
		}
		if c, err = s.space(); err != nil || c != ':' {
			return pass(err)
		}
		s.take()
		if c, err = s.space(); err != nil {
			return pass(err)
		}
		switch {
		case key == member && c == '"':
			s.r.ReadByte()
			if blob != nil {
				blob.close() // the last of repeated members counts, as for encoding/json
			}
			blob = &streamedBlob{}
			blob.spool.hint = -1
			if size >= 0 {
				blob.spool.hint = int64(base64.StdEncoding.DecodedLen(int(min(size, maxBody))))
			}
			s.out = append(s.out, `""`...)
			if err := s.streamString(blob); err != nil {
				return nil, nil, err
			}
			if err := blob.finish(); err != nil {
				return nil, nil, err
			}
		default:
			if key == member && blob != nil {
				blob.close() // a later value of another type replaces it
				blob = nil
			}
			if err := s.copyValue(c); err != nil {
				return pass(err)
			}
		}
		if c, err = s.space(); err != nil {
			return pass(err)
		}
		switch c {
		case '}':
			s.take()
			return s.end(blob)
		case ',':
			s.take()
		default:
			return pass(nil)
		}
		if c, err = s.space(); err != nil {
			return pass(err)
		}
	}
}

// scanner reads JSON, copying what it reads to out.
type scanner struct {
	r   *bufio.Reader
	out []byte
}

// space skips white space and peeks at the next byte.
func (s *scanner) space() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		s.r.UnreadByte()
		return c, nil
	}
}

// take copies the byte space peeked at.
func (s *scanner) take() {
	c, _ := s.r.ReadByte()
	s.out = append(s.out, c)
}

// rest copies everything left.
func (s *scanner) rest() error {
	b, err := io.ReadAll(s.r)
	s.out = append(s.out, b...)
	return err
}

// end follows the closing brace: anything but white space after it is
// passed on (the typed decode rejects it, as it would the body read whole).
func (s *scanner) end(blob *streamedBlob) ([]byte, *streamedBlob, error) {
	if _, err := s.space(); err != io.EOF {
		if err != nil {
			return nil, nil, err
		}
		if err := s.rest(); err != nil {
			return nil, nil, err
		}
	}
	return s.out, blob, nil
}

// copyString copies a string, quotes included, and returns it as copied.
func (s *scanner) copyString() ([]byte, error) {
	start := len(s.out)
	s.take() // "
	for {
		chunk, err := s.r.ReadSlice('"')
		s.out = append(s.out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		// The quote ends the string unless an odd run of backslashes escapes it.
		n := 0
		for i := len(s.out) - 2; i > start && s.out[i] == '\\'; i-- {
			n++
		}
		if n%2 == 0 {
			return s.out[start:], nil
		}
	}
}

// copyValue copies one value starting with c. Only its extent matters here:
// the JSON decoder judges it.
func (s *scanner) copyValue(c byte) error {
	switch c {
	case '"':
		_, err := s.copyString()
		return err
	case '{', '[':
		depth := 0
		for {
			c, err := s.r.ReadByte()
			if err != nil {
				return err
			}
			if c == '"' {
				s.r.UnreadByte()
				if _, err := s.copyString(); err != nil {
					return err
				}
				continue
			}
			s.out = append(s.out, c)
			switch c {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			if depth == 0 {
				return nil
			}
		}
	default: // a number or a literal
		for {
			c, err := s.r.ReadByte()
			if err != nil {
				return err
			}
			switch c {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				s.r.UnreadByte()
				return nil
			}
			s.out = append(s.out, c)
		}
	}
}

// streamString reads a string's characters after its opening quote into
// blob, up to and including its closing quote. A string that is not valid
// JSON is a syntax error, as the decoder would find it, and one that is not
// UTF-8 text is refused as checkText refuses a body read whole.
func (s *scanner) streamString(blob *streamedBlob) error {
	var esc unescaper
	for {
		chunk, err := s.r.ReadSlice('"')
		closing := err == nil
		text := chunk
		if closing {
			text = chunk[:len(chunk)-1]
		}
		if !esc.active() && plain(text) {
			blob.text(text)
		} else {
			for _, c := range text {
				if err := esc.next(c, blob); err != nil {
					return err
				}
			}
			if closing && esc.escaping() {
				if err := esc.next('"', blob); err != nil { // an escaped quote
					return err
				}
				continue
			}
		}
		switch {
		case closing:
			return esc.end()
		case err == bufio.ErrBufferFull:
		case err == io.EOF:
			return &syntaxError{"unexpected end of JSON input"}
		default:
			return err
		}
	}
}

// plain reports whether text is printable ASCII without escapes: the
// characters of a well-formed base64 blob, taken as they are.
func plain(text []byte) bool {
	for _, c := range text {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

func controlInString(c byte) error {
	return &syntaxError{fmt.Sprintf("invalid character %q in string literal", rune(c))}
}

// unescaper decodes a JSON string's characters one byte at a time:
// escapes, and multi-byte UTF-8, which must be valid.
type unescaper struct {
	state int  // 0: plain; 1: after a backslash; 2-5: reading \u's hex digits
	r     rune // the \u escape being read
	high  rune // a high surrogate escape waiting for its low half
	raw   [utf8.UTFMax]byte
	n     int // bytes of a multi-byte character read so far
}

func (u *unescaper) active() bool   { return u.state != 0 || u.high != 0 || u.n != 0 }
func (u *unescaper) escaping() bool { return u.state != 0 }

// end is the closing quote: nothing may be left half read.
func (u *unescaper) end() error {
	switch {
	case u.n != 0:
		return errNotUTF8
	case u.high != 0:
		return errLoneSurrogate
	}
	return nil
}

func (u *unescaper) next(c byte, blob *streamedBlob) error {
	if u.n != 0 && (u.state != 0 || c < 0x80 || c >= 0xc0) {
		return errNotUTF8 // a multi-byte character cut short
	}
	if u.high != 0 && (u.state == 0 && c != '\\' || u.state == 1 && c != 'u') {
		return errLoneSurrogate
	}
	switch u.state {
	case 0:
		switch {
		case c >= 0x80:
			u.raw[u.n] = c
			u.n++
			if utf8.FullRune(u.raw[:u.n]) {
				if !utf8.Valid(u.raw[:u.n]) {
					return errNotUTF8
				}
				for _, x := range u.raw[:u.n] {
					blob.char(x)
				}
				u.n = 0
			}
		case c == '\\':
			u.state = 1
		case c < 0x20:
			return controlInString(c)
		default:
			blob.char(c)
		}
	case 1:
		u.state = 0
		switch c {
		case '"', '\\', '/':
			blob.char(c)
		case 'b':
			blob.char('\b')
		case 'f':
			blob.char('\f')
		case 'n':
			blob.char('\n')
		case 'r':
			blob.char('\r')
		case 't':
			blob.char('\t')
		case 'u':
			u.state, u.r = 2, 0
		default:
			return &syntaxError{fmt.Sprintf("invalid character %q in string escape code", rune(c))}
		}
	default:
		v, ok := hexDigit(c)
		if !ok {
			return &syntaxError{fmt.Sprintf("invalid character %q in \\u hexadecimal character escape", rune(c))}
		}
		u.r = u.r<<4 | v
		if u.state++; u.state < 6 {
			return nil
		}
		u.state = 0
		r := u.r
		switch {
		case r >= 0xd800 && r < 0xdc00 && u.high == 0:
			u.high = r
			return nil
		case r >= 0xdc00 && r < 0xe000 && u.high != 0:
			r, u.high = utf16.DecodeRune(u.high, r), 0
		case r >= 0xd800 && r < 0xe000:
			return errLoneSurrogate
		}
		// Anything but ASCII is outside the base64 alphabet: it only needs
		// to count as the characters it decodes to.
		for _, x := range utf8.AppendRune(nil, r) {
			blob.char(x)
		}
	}
	return nil
}

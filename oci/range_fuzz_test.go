package oci

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// asReceived is a header value as a handler sees it: net/http refuses
// requests whose header values hold control characters, and trims the
// spaces and tabs around the rest.
func asReceived(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}

// contentRangeRE is the grammar a chunk's Content-Range follows: the spec's
// "start-end", which berth also takes with RFC 9110's "bytes " unit (and
// blanks after it) and a "/total" after it.
var contentRangeRE = regexp.MustCompile(`^(?:bytes [ \t]*)?([0-9]+)-([0-9]+)(?:/.*)?$`)

// FuzzChunkStart reads any Content-Range with any Content-Length. chunk
// never panics; without the header the chunk has no start (-1); a range it
// accepts follows the grammar, starts where the header says (never before
// 0) and, when the length is known, holds exactly Content-Length bytes; and
// every such range is accepted (an empty chunk is start-(start-1)).
func FuzzChunkStart(f *testing.F) {
	f.Add("bytes 0-9/10", int64(10))
	f.Fuzz(func(t *testing.T, contentRange string, contentLength int64) {
		contentRange, ok := asReceived(contentRange)
		if !ok {
			return
		}
		r := httptest.NewRequest("PATCH", "/v2/app/blobs/uploads/up1", nil)
		r.Header.Set("Content-Range", contentRange)
		r.ContentLength = contentLength
		start, _, err := chunk(r)
		if contentRange == "" {
			if err != nil || start != -1 {
				t.Fatalf("Content-Range %q: %d, %v; want -1 (absent)", contentRange, start, err)
			}
			return
		}
		m := contentRangeRE.FindStringSubmatch(contentRange)
		var first, last int64
		var perr error
		if m != nil {
			first, perr = strconv.ParseInt(m[1], 10, 64)
			if perr == nil {
				last, perr = strconv.ParseInt(m[2], 10, 64)
			}
		}
		wellFormed := m != nil && perr == nil && last >= first-1
		fits := contentLength < 0 || wellFormed && uint64(last-first+1) == uint64(contentLength)
		switch {
		case err == nil && !wellFormed:
			t.Fatalf("Content-Range %q accepted (start %d), but it is not a range", contentRange, start)
		case err == nil && start != first:
			t.Fatalf("Content-Range %q: start %d", contentRange, start)
		case err == nil && !fits:
			t.Fatalf("Content-Range %q accepted with Content-Length %d", contentRange, contentLength)
		case err != nil && wellFormed && fits:
			t.Fatalf("Content-Range %q with Content-Length %d refused: %v", contentRange, contentLength, err)
		case err != nil && !core.IsKind(err, core.KindRangeInvalid) && !core.IsKind(err, core.KindSizeInvalid):
			t.Fatalf("Content-Range %q: error of kind %q: %v", contentRange, core.KindOf(err), err)
		}
	})
}

// rangeBlobs are the blobs FuzzBlobRange reads: empty, one byte, and a
// hundred distinct bytes.
var rangeBlobs = func() [][]byte {
	hundred := make([]byte, 100)
	for i := range hundred {
		hundred[i] = byte(i*7 + 3)
	}
	return [][]byte{{}, {'x'}, hundred}
}()

// rangeHandlers serves rangeBlobs from a repository on each blob store:
// memory (a bytes.Reader) and disk (an *os.File, which net/http may send
// with sendfile).
func rangeHandlers(f *testing.F) map[string]*Handler {
	fs, err := blob.NewFS(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	out := map[string]*Handler{}
	for name, store := range map[string]blob.Store{"mem": blob.NewMem(), "disk": fs} {
		log := slog.New(slog.DiscardHandler)
		reg := core.New(core.Options{KV: kv.NewMem(), Blobs: store, Log: log})
		f.Cleanup(func() { reg.Close() })
		if _, err := reg.CreateRepository(bgctx, acct, "app"); err != nil {
			f.Fatal(err)
		}
		for _, b := range rangeBlobs {
			if _, err := reg.PutBlob(bgctx, acct, "app", digest.FromBytes(b), bytes.NewReader(b)); err != nil {
				f.Fatal(err)
			}
		}
		out[name] = New(Config{Registry: reg, NoAuth: true, DefaultRegistry: acct, Log: log})
	}
	return out
}

// FuzzBlobRange GETs a blob with any Range header, from both blob stores.
// The answer is 200 with the whole blob, 206 with exactly the bytes (or, for
// several ranges, the parts) its Content-Range names, or 416 — never
// anything else, never a wrong byte.
func FuzzBlobRange(f *testing.F) {
	handlers := rangeHandlers(f)
	f.Add("bytes=0-9", uint8(2))
	f.Fuzz(func(t *testing.T, rangeHeader string, which uint8) {
		rangeHeader, ok := asReceived(rangeHeader)
		if !ok {
			return
		}
		content := rangeBlobs[int(which)%len(rangeBlobs)]
		for store, h := range handlers {
			r := httptest.NewRequest("GET", "/v2/app/blobs/"+digest.FromBytes(content).String(), nil)
			r.Header.Set("Range", rangeHeader)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.Bytes()
			what := store + ": GET " + strconv.Itoa(len(content)) + "-byte blob with Range " + strconv.Quote(rangeHeader)
			switch w.Code {
			case http.StatusOK:
				if !bytes.Equal(body, content) {
					t.Fatalf("%s: 200 with %q", what, body)
				}
			case http.StatusPartialContent:
				mt, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
				if mt != "multipart/byteranges" {
					checkPart(t, what, content, w.Header().Get("Content-Range"), body)
					break
				}
				parts := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				n := 0
				for {
					p, err := parts.NextPart()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s: multipart body: %v", what, err)
					}
					got, err := io.ReadAll(p)
					if err != nil {
						t.Fatalf("%s: multipart body: %v", what, err)
					}
					checkPart(t, what, content, p.Header.Get("Content-Range"), got)
					n++
				}
				if n < 2 {
					t.Fatalf("%s: a multipart answer of %d parts", what, n)
				}
			case http.StatusRequestedRangeNotSatisfiable:
			default:
				t.Fatalf("%s: %d %s", what, w.Code, body)
			}
		}
	})
}

var partRangeRE = regexp.MustCompile(`^bytes ([0-9]{1,9})-([0-9]{1,9})/([0-9]{1,9})$`)

// checkPart checks that got is the slice of content that contentRange
// ("bytes first-last/size") names.
func checkPart(t *testing.T, what string, content []byte, contentRange string, got []byte) {
	t.Helper()
	var first, last, size int
	m := partRangeRE.FindStringSubmatch(contentRange)
	if m != nil {
		first, _ = strconv.Atoi(m[1])
		last, _ = strconv.Atoi(m[2])
		size, _ = strconv.Atoi(m[3])
	}
	if m == nil || size != len(content) || first > last || last >= size {
		t.Fatalf("%s: 206 with Content-Range %q", what, contentRange)
	}
	if !bytes.Equal(got, content[first:last+1]) {
		t.Fatalf("%s: 206 with Content-Range %q and %q, want %q", what, contentRange, got, content[first:last+1])
	}
}

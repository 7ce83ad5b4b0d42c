package oci

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/internal/plainjson"
)

// ociError is one entry of the distribution-spec error body.
type ociError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// codeFor maps core's error kinds to distribution-spec codes and statuses, once.
var codeFor = map[core.Kind]struct {
	code   string
	status int
}{
	core.KindRepositoryNotFound:    {"NAME_UNKNOWN", http.StatusNotFound},
	core.KindNameInvalid:           {"NAME_INVALID", http.StatusBadRequest},
	core.KindTagInvalid:            {"TAG_INVALID", http.StatusBadRequest},
	core.KindManifestNotFound:      {"MANIFEST_UNKNOWN", http.StatusNotFound},
	core.KindManifestNotAcceptable: {"MANIFEST_UNKNOWN", http.StatusNotFound},
	core.KindManifestInvalid:       {"MANIFEST_INVALID", http.StatusBadRequest},
	core.KindManifestTooLarge:      {"MANIFEST_INVALID", http.StatusRequestEntityTooLarge},
	core.KindManifestBlobMissing:   {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	core.KindManifestChildMissing:  {"MANIFEST_UNKNOWN", http.StatusBadRequest},
	core.KindManifestReferenced:    {"DENIED", http.StatusConflict},
	core.KindBlobNotFound:          {"BLOB_UNKNOWN", http.StatusNotFound},
	core.KindUploadNotFound:        {"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	core.KindDigestInvalid:         {"DIGEST_INVALID", http.StatusBadRequest},
	core.KindRangeInvalid:          {"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable},
	core.KindSizeInvalid:           {"SIZE_INVALID", http.StatusBadRequest},
	core.KindImageTagImmutable:     {"TAG_INVALID", http.StatusBadRequest},
	core.KindUnauthorized:          {"UNAUTHORIZED", http.StatusUnauthorized},
	core.KindDenied:                {"DENIED", http.StatusForbidden},
	core.KindUnsupported:           {"UNSUPPORTED", http.StatusMethodNotAllowed},
	core.KindInvalidParameter:      {"UNSUPPORTED", http.StatusBadRequest},
	core.KindRepositoryExists:      {"DENIED", http.StatusConflict},
	core.KindRepositoryNotEmpty:    {"DENIED", http.StatusConflict},
	core.KindImageAlreadyExists:    {"DENIED", http.StatusConflict},
	core.KindImageArchived:         {"MANIFEST_UNKNOWN", http.StatusNotFound},
	core.KindNotFound:              {"NOT_FOUND", http.StatusNotFound},
	core.KindAlreadyExists:         {"DENIED", http.StatusConflict},
	core.KindLimitExceeded:         {"TOOMANYREQUESTS", http.StatusTooManyRequests},
	core.KindInvalidTagParameter:   {"UNSUPPORTED", http.StatusBadRequest},
	core.KindTooManyTags:           {"UNSUPPORTED", http.StatusBadRequest},
	core.KindLayerPartTooSmall:     {"BLOB_UPLOAD_INVALID", http.StatusBadRequest},
	core.KindUpstreamUnavailable:   {"UNKNOWN", http.StatusBadGateway},             // the spec has no code for a failing upstream
	core.KindBodyUnreadable:        {"BLOB_UPLOAD_INVALID", http.StatusBadRequest}, // a manifest's: MANIFEST_INVALID (writeError)
	core.KindBlobInUse:             {"DENIED", http.StatusConflict},
	core.KindSignatureRequired:     {"DENIED", http.StatusForbidden},
}

// writeError answers with the spec's error body. Unclassified errors are
// server faults and are logged.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status := "UNKNOWN", http.StatusInternalServerError
	msg := "internal error"
	e, ok := err.(*core.Error) // most are, unwrapped; errors.As's target escapes
	if !ok {
		e, ok = asError(err)
	}
	if ok {
		if c, ok := codeFor[e.Kind]; ok {
			code, status, msg = c.code, c.status, e.Message
		}
		if e.Kind == core.KindBodyUnreadable {
			// What was being read decides the code: a manifest that cannot
			// be read is an invalid manifest.
			if rt, _ := parseRoute(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/")); rt.kind == kindManifest {
				code = "MANIFEST_INVALID"
			}
			h.log.Debug("request body could not be read", "method", r.Method, "path", r.URL.Path, "err", e.Err)
		}
	}
	if status == http.StatusInternalServerError {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+h.realm+`"`)
	}
	if r.Method == http.MethodHead {
		writeErrorHead(w, status, ociError{Code: code, Message: msg})
		return
	}
	writeErrorBody(w, status, ociError{Code: code, Message: msg})
}

// contentLengths are the Content-Length values of error bodies up to 1 KiB
// (most are 60 to 300 bytes), each a full one-element slice: net/http only
// reads header values, and a handler that adds one gets a new array.
var contentLengths = func() (v [1024][1]string) {
	for i := range v {
		v[i][0] = strconv.Itoa(i)
	}
	return v
}()

// writeErrorHead answers a HEAD as writeErrorBody would, without the body
// net/http would not send: the same headers, the length of the body included.
// A HEAD of a manifest not pushed yet, sent before every manifest push, ends
// here.
func writeErrorHead(w http.ResponseWriter, status int, e ociError) {
	n := 0
	if e.Detail == nil && plainjson.String(e.Code) && plainjson.String(e.Message) {
		n = len(`{"errors":[{"code":"","message":""}]}`+"\n") + len(e.Code) + len(e.Message)
	} else {
		n = len(appendErrorBody(nil, []ociError{e}))
	}
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	if n < len(contentLengths) {
		hd["Content-Length"] = contentLengths[n][:1:1]
	} else {
		hd["Content-Length"] = []string{strconv.Itoa(n)}
	}
	w.WriteHeader(status)
}

// asError is errors.As for a *core.Error, apart so that its target's escape
// costs only the wrapped errors that need it.
func asError(err error) (*core.Error, bool) {
	var e *core.Error
	ok := errors.As(err, &e)
	return e, ok
}

func writeErrorBody(w http.ResponseWriter, status int, errs ...ociError) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	size := len(`{"errors":[]}`) + 1
	for _, e := range errs {
		size += len(`{"code":"","message":""},`) + len(e.Code) + len(e.Message)
	}
	w.Write(appendErrorBody(make([]byte, 0, size), errs))
}

// contentTypeJSON is the Content-Type of every JSON answer, in canonical
// form; net/http only reads header values, and a handler that adds one
// gets a new array (the slice is full), so one slice serves every response.
var contentTypeJSON = []string{"application/json"}

// appendErrorBody appends what json.NewEncoder(w).Encode(map[string]any{"errors": errs})
// writes, by hand when every code and message is plain (as encoding/json
// writes it, unescaped) and no entry has a detail, else through
// encoding/json: a HEAD of a manifest not pushed yet, sent before every
// manifest push, ends here. TestErrorBodyIsEncodingJSONs holds it to that.
func appendErrorBody(b []byte, errs []ociError) []byte {
	if len(errs) == 0 {
		j, _ := json.Marshal(errorBody{errs})
		return append(append(b, j...), '\n')
	}
	start := len(b)
	b = append(b, `{"errors":[`...)
	for i, e := range errs {
		if e.Detail != nil || !plainjson.String(e.Code) || !plainjson.String(e.Message) {
			j, _ := json.Marshal(errorBody{errs})
			return append(append(b[:start], j...), '\n')
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":"`...)
		b = append(b, e.Code...)
		b = append(b, `","message":"`...)
		b = append(b, e.Message...)
		b = append(b, `"}`...)
	}
	return append(b, "]}\n"...)
}

// errorBody is the spec's error document.
type errorBody struct {
	Errors []ociError `json:"errors"`
}

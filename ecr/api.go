package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/internal/httpdate"
	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/pullthrough"
	"github.com/berth-dev/berth/replication"
	"github.com/berth-dev/berth/scanning"
	"github.com/berth-dev/berth/signing"
	"github.com/berth-dev/berth/templates"
)

// Config configures the ECR edge.
type Config struct {
	Registry       *core.Registry
	Tokens         *core.Tokens
	DefaultAccount string
	Region         string
	// URIs decides how repositoryUri and proxyEndpoint look.
	URIs URIs
	Log  *slog.Logger
	// AccessKeys names the principal of each configured access key id
	// (--iam-config); nil, or a key it does not know, keeps the rule of
	// callerFrom.
	AccessKeys AccessKeyLookup
	// Lifecycle serves the lifecycle policy operations; nil builds one over
	// Registry that stores and previews but enforces nothing (the server
	// passes the one it started).
	Lifecycle *lifecycle.Service
	// Templates serves the repository creation template operations; nil
	// builds one over Registry (templates are kept in the registry, so any
	// Service over it sees the same ones).
	Templates *templates.Service
	// Replication serves PutReplicationConfiguration, DescribeRegistry and
	// DescribeImageReplicationStatus; nil builds one over Registry that
	// stores configurations but replicates nothing (the server passes the
	// one it subscribed).
	Replication *replication.Service
	// Scanning serves the image scanning operations and the scan status of
	// DescribeImages; nil builds one over Registry with no scanner plugins
	// (its scans fail saying so) and no scan on push (the server passes the
	// one it subscribed).
	Scanning *scanning.Service
	// Signing serves the signing configuration operations and
	// DescribeImageSigningStatus; nil builds one over Registry, with keys in
	// memory, that stores configurations but signs nothing (the server
	// passes the one it subscribed).
	Signing *signing.Service
	// PullThrough serves the pull-through cache rule operations: the
	// Service the Registry was built with as its Upstream. nil: the
	// operations are unknown (a rule would pull nothing).
	PullThrough *pullthrough.Service
}

// AccessKeyLookup resolves an access key id to its principal's ARN.
type AccessKeyLookup interface {
	PrincipalForAccessKey(id string) (arn string, ok bool)
}

// Handler serves POST / for the ECR JSON API.
type Handler struct {
	reg            *core.Registry
	tokens         *core.Tokens
	defaultAccount string
	defaultRoot    string // core.RootPrincipal(defaultAccount)
	region         string
	uris           URIs
	keys           AccessKeyLookup
	lifecycle      *lifecycle.Service
	templates      *templates.Service
	replication    *replication.Service
	scanning       *scanning.Service
	signing        *signing.Service
	ptc            *pullthrough.Service
	log            *slog.Logger
	ops            map[string]opFunc
	large          chan struct{} // a token per large body being served
	requestIDs     *requestIDs
	// date is every answer's Date: AWS's SDKs read it to correct their clock
	// skew (aws-sdk-go-v2's RecordResponseTiming: aws/aws-sdk-go-v2#2668, #3409).
	date httpdate.Date
}

// call is one API call in flight.
type call struct {
	ctx    context.Context
	caller core.Caller
	spec   operationSpec
	req    *http.Request
	// blob is the input's streamed blob member, decoded (UploadLayerPart's
	// layerPartBlob); the typed input holds an empty value in its place.
	blob *streamedBlob

	// What the dispatcher authorized: the registry the request addresses
	// (registryId's account or the caller's, in the caller's region; a
	// resourceArn's own) and the resources the action is performed on.
	registry  core.RegistryID
	resources []core.Resource
	resource  [1]core.Resource // resources' array when there is one

	headers   [3]string   // the values of the answer's three headers (ServeHTTP)
	requestID [36]byte    // headers[0]'s bytes
	length    [20]byte    // headers[2]'s bytes
	input     inputBuf    // the request's input (readInputInto)
	echo      echoLiteral // a string of the input the answer repeats, copied as the request wrote it
}

type opFunc func(c *call, in *input) (any, error)

// op adapts a typed handler: the input is the one its generated reader
// read from the body, or else it is filled from the validated document by
// its generated decoder, or, where that declines, decoded from the body by
// encoding/json: the body was validated against the model, so a decode
// error here can only be a type the validator does not see.
func op[I, O any](fn func(c *call, in *I) (*O, error)) opFunc {
	return func(c *call, input *input) (any, error) {
		in, read := any(input.typed).(*I)
		if !read {
			in = new(I)
		}
		if d, ok := any(in).(docDecoder); !read && (!ok || input.doc == nil || !d.decodeDoc(input.doc)) {
			in = new(I) // what a declining decoder filled is dropped
			if err := json.Unmarshal(input.body, in); err != nil {
				return nil, newError("SerializationException", "%v", err)
			}
		}
		if c.blob != nil && c.blob.err != nil {
			return nil, newError("SerializationException", "%v", c.blob.err) // where the typed decode of the blob would fail
		}
		out, err := fn(c, in)
		if out == nil {
			return nil, err // not a nil *O in the interface: it has no encoder to call
		}
		return out, err
	}
}

// New builds the handler.
func New(c Config) *Handler {
	h := &Handler{reg: c.Registry, tokens: c.Tokens, defaultAccount: c.DefaultAccount, region: c.Region, uris: c.URIs, keys: c.AccessKeys, log: c.Log,
		ptc: c.PullThrough}
	h.defaultRoot = core.RootPrincipal(h.defaultAccount)
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.lifecycle = c.Lifecycle; h.lifecycle == nil {
		h.lifecycle = lifecycle.New(c.Registry, c.Registry.Clock(), h.log)
	}
	if h.templates = c.Templates; h.templates == nil {
		h.templates = templates.NewAttached(c.Registry, templates.Options{})
	}
	if h.replication = c.Replication; h.replication == nil {
		h.replication = replication.New(c.Registry, h.log)
	}
	if h.scanning = c.Scanning; h.scanning == nil {
		h.scanning = scanning.New(c.Registry, scanning.Config{Clock: c.Registry.Clock(), Log: h.log})
	}
	if h.signing = c.Signing; h.signing == nil {
		h.signing = signing.New(c.Registry, signing.NewKeys("", c.Registry.Clock()), c.Registry.Clock(), h.log)
	}
	h.ops = h.operations()
	h.large = make(chan struct{}, maxLargeBodies)
	h.requestIDs = newRequestIDs()
	return h
}

// largeBody is the size above which a request waits for one of
// maxLargeBodies turns: large bodies are read a few at a time, so that
// together they take a bounded share of memory and disk, however many
// arrive at once. A body of unknown length counts as large.
const (
	largeBody      = 1 << 20
	maxLargeBodies = 4
)

// ServeHTTP decides each request once, in order: an operation of the model,
// a caller identified by a well-formed credential scope, a well-formed input
// that satisfies the model's constraints, an authorized caller, and only
// then the handler — so that a denied caller learns nothing
// about what exists, and a handler never re-decides any of it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The three headers every answer carries share one backing array, set
	// by their canonical names without Header.Set's copies; it is part of
	// the call, so that both are one allocation.
	hdr := w.Header()
	c := new(call)
	vals := &c.headers
	h.requestIDs.fill(&c.requestID)
	vals[0] = unsafe.String(&c.requestID[0], len(c.requestID)) // c is never reused: the bytes stay as written
	hdr["X-Amzn-Requestid"] = vals[0:1:1]
	hdr["Date"] = h.date.Header(time.Now())
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, TargetPrefix+".")
	spec, known := operations[name]
	if !ok || !known {
		writeAWSError(w, unknownOperation(target))
		return
	}
	caller, err := h.callerFrom(r)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	release, err := h.admit(r)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	defer release()
	in, err := readInputInto(r, spec, &c.input)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	defer in.close()
	c.ctx, c.caller, c.spec, c.req, c.blob = r.Context(), caller, spec, r, in.blob
	c.ctx = core.WithCaller(c.ctx, c.caller)
	if err := h.authorize(c, authorizations[name], in.members()); err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	fn, implemented := h.ops[name]
	if !implemented {
		writeAWSError(w, unknownOperation(target))
		return
	}
	out, err := fn(c, in)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	var b []byte
	if enc, ok := out.(encoder); ok {
		jw, ok := encodeResponse(enc, c.echo)
		defer jw.release()
		if ok {
			b = jw.b
		}
	}
	if b == nil { // not a generated type, or a value only encoding/json can word the refusal of
		if b, err = json.Marshal(out); err != nil {
			writeAWSError(w, h.toAWS(r, err))
			return
		}
	}
	length := strconv.AppendInt(c.length[:0], int64(len(b)), 10) // in c, as the request id is
	vals[1], vals[2] = "application/x-amz-json-1.1", unsafe.String(&length[0], len(length))
	hdr["Content-Type"], hdr["Content-Length"] = vals[1:2:2], vals[2:3:3]
	w.Write(b)
}

func unknownOperation(target string) *awsError {
	return newError("UnknownOperationException", "Unknown operation %s", target)
}

// admit returns at once for a small body; a large one waits for its turn
// (or for its client to give up).
func (h *Handler) admit(r *http.Request) (release func(), err error) {
	if r.ContentLength >= 0 && r.ContentLength <= largeBody {
		return func() {}, nil
	}
	select {
	case h.large <- struct{}{}:
		return func() { <-h.large }, nil
	case <-r.Context().Done():
		return nil, &awsError{Code: "ServerException", Message: "The request was cancelled while it waited to be read.", Status: http.StatusServiceUnavailable}
	}
}

// readInput reads the request body and checks it against the operation's
// input shape. It returns the body for the handler to decode into its typed
// input, the decoded document for authorization to read members from, and a
// streamed blob member's value (see body.go).
func readInput(r *http.Request, spec operationSpec) (*input, error) {
	return readInputInto(r, spec, new(inputBuf))
}

// inputBuf is an input, its body's limit and its reader in one allocation
// (ServeHTTP's is part of its call's).
type inputBuf struct {
	input
	limit  limitedBody
	reader bodyReader
}

// readInputInto is readInput into in, which must be zero.
func readInputInto(r *http.Request, spec operationSpec, in *inputBuf) (*input, error) {
	in.limit = limitedBody{r: r.Body, n: maxBody}
	in.input.reader = &in.reader
	var err error
	member := streamedMembers[spec.Input]
	if member != "" {
		in.body, in.blob, err = streamInput(&in.limit, member, r.ContentLength)
	} else if in.body, err = readBody(&in.limit, r.ContentLength); err == nil {
		// Read to its end: closed now, net/http need not look for more of it
		// (it otherwise copies what is left into io.Discard before it writes
		// the answer's header, at a reader's allocation).
		r.Body.Close()
	}
	if err != nil {
		return nil, bodyError(err)
	}
	if aerr := in.decode(spec, member); aerr != nil {
		in.close()
		return nil, aerr
	}
	return &in.input, nil
}

// bodyError words a failure to read a request body. (Its errors.As targets
// are declared here, not in readInput, where they were two allocations on
// every request.)
func bodyError(err error) error {
	var syntax *syntaxError
	var spooling spoolError
	switch {
	case errors.Is(err, errBodyTooLarge):
		return newError("SerializationException", "request body too large")
	case errors.As(err, &syntax):
		return malformedJSON(syntax)
	case errors.Is(err, errNotUTF8), errors.Is(err, errLoneSurrogate):
		return newError("SerializationException", "%v", err)
	case errors.As(err, &spooling):
		return err
	default:
		return newError("SerializationException", "could not read the request body: %v", err)
	}
}

func malformedJSON(err error) *awsError {
	return newError("SerializationException", "Start of structure or map found where not expected: %v", err)
}

// decode reads the body into the typed input, checking it, or, when its
// reader declines, into the document, and validates that.
func (in *input) decode(spec operationSpec, member string) *awsError {
	if len(bytes.TrimSpace(in.body)) == 0 {
		in.body = []byte("{}")
	}
	if !utf8.Valid(in.body) {
		return newError("SerializationException", "%v", errNotUTF8)
	}
	// A reader that takes the body has unescaped every escape in it (an
	// escape is only ever in a string, and it reads them all) and declines
	// an unpaired surrogate: the body's escapes need checking only on the
	// document path.
	if member == "" && spec.read != nil && in.reader != nil {
		*in.reader = bodyReader{docParser: docParser{b: in.body}}
		if typed, ok := spec.read(in.reader); ok {
			in.typed = typed
			return nil
		}
	}
	if err := checkEscapes(in.body); err != nil { // UTF-8 is checked above
		return newError("SerializationException", "%v", err)
	}
	return in.readDocument(spec, member)
}

// readDocument decodes the body into the document and validates it: the
// path of every body a generated reader declines, which decides its answer.
func (in *input) readDocument(spec operationSpec, member string) *awsError {
	doc, ok := parseDoc(in.body)
	if !ok { // encoding/json decides, and words the error
		dec := json.NewDecoder(bytes.NewReader(in.body))
		dec.UseNumber()
		// Decoded into a variable of its own: one whose address is taken is
		// on the heap, which doc, on every request, need not be.
		var decoded any
		err := dec.Decode(&decoded)
		doc = decoded
		if err != nil {
			return malformedJSON(err)
		}
		// Trailing data was the typed decode's to reject; it is rejected here
		// now, since a body re-encoded below would no longer carry it.
		if len(bytes.TrimSpace(in.body[dec.InputOffset():])) > 0 {
			return newError("SerializationException", "trailing data after the JSON document")
		}
	}
	if doc == nil {
		doc = map[string]any{} // a null input is an empty one: its required members are missing
	}
	obj, _ := doc.(map[string]any)
	if in.blob != nil && obj != nil {
		obj[member] = in.blob // validated by what streaming it measured
	}
	v, unknown := validateDoc(shapes[spec.Input], doc)
	if v != nil {
		return violationError(spec, v)
	}
	// The handler decodes the body into generated types with encoding/json,
	// which also binds "RepositoryName" or "repositoryname" to
	// repositoryName. Members the model does not name are therefore dropped,
	// so that the handler acts on exactly what was validated and authorized.
	// (Validation ignores them, so it may come first, and say whether there
	// are any.)
	if unknown && prune(shapes[spec.Input], doc) {
		if in.blob != nil {
			obj[member] = "" // re-encoded as the body holds it
		}
		body, err := json.Marshal(doc)
		if in.blob != nil {
			obj[member] = in.blob
		}
		if err != nil {
			return newError("SerializationException", "%v", err)
		}
		in.body = body
	}
	in.doc = obj // every input shape is a structure: validate saw an object
	return nil
}

// violationError words a model violation the way ECR does: operations that
// declare InvalidParameterException use it, the newer ones ValidationException.
func violationError(spec operationSpec, v *violation) *awsError {
	if v.serialization {
		return newError("SerializationException", "Unexpected value at '%s': %s", v.path, v.constraint)
	}
	if spec.declares("InvalidParameterException") {
		return invalidParameter(v.path, v.constraint)
	}
	return newError("ValidationException", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", v.value, v.path, v.constraint)
}

package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/core"
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
}

// Handler serves POST / for the ECR JSON API.
type Handler struct {
	reg            *core.Registry
	tokens         *core.Tokens
	defaultAccount string
	region         string
	uris           URIs
	log            *slog.Logger
	ops            map[string]opFunc
}

// call is one API call in flight.
type call struct {
	ctx    context.Context
	caller core.Caller
	spec   operationSpec
	req    *http.Request

	// What the dispatcher authorized: the registry the request addresses
	// (registryId's account or the caller's, in the caller's region; a
	// resourceArn's own) and the resources the action is performed on.
	registry  core.RegistryID
	resources []core.Resource
}

type opFunc func(c *call, body []byte) (any, error)

// op adapts a typed handler: the body was validated against the model, so a
// decode error here can only be a type the validator does not see.
func op[I, O any](fn func(c *call, in *I) (*O, error)) opFunc {
	return func(c *call, body []byte) (any, error) {
		in := new(I)
		if err := json.Unmarshal(body, in); err != nil {
			return nil, newError("SerializationException", "%v", err)
		}
		return fn(c, in)
	}
}

// New builds the handler.
func New(c Config) *Handler {
	h := &Handler{reg: c.Registry, tokens: c.Tokens, defaultAccount: c.DefaultAccount, region: c.Region, uris: c.URIs, log: c.Log}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.ops = h.operations()
	return h
}

// maxBody bounds a request: UploadLayerPart carries up to 20 MiB, base64-encoded.
const maxBody = 30 << 20

// ServeHTTP decides each request once, in order: an operation of the model,
// a well-formed input that satisfies the model's constraints, an authorized
// caller, and only then the handler — so that a denied caller learns nothing
// about what exists, and a handler never re-decides any of it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", core.NewUUID())
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, TargetPrefix+".")
	spec, known := operations[name]
	if !ok || !known {
		writeAWSError(w, unknownOperation(target))
		return
	}
	body, in, aerr := readInput(r, spec)
	if aerr != nil {
		writeAWSError(w, aerr)
		return
	}
	c := &call{ctx: r.Context(), caller: h.callerFrom(r), spec: spec, req: r}
	c.ctx = core.WithCaller(c.ctx, c.caller)
	if err := h.authorize(c, authorizations[name], in); err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	fn, implemented := h.ops[name]
	if !implemented {
		writeAWSError(w, unknownOperation(target))
		return
	}
	out, err := fn(c, body)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeAWSError(w, h.toAWS(r, err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func unknownOperation(target string) *awsError {
	return newError("UnknownOperationException", "Unknown operation %s", target)
}

// readInput reads the request body and checks it against the operation's
// input shape. It returns the body for the handler to decode into its typed
// input, and the decoded document for authorization to read members from.
func readInput(r *http.Request, spec operationSpec) ([]byte, map[string]any, *awsError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, nil, newError("SerializationException", "could not read the request body: %v", err)
	}
	if len(body) > maxBody {
		return nil, nil, newError("SerializationException", "request body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, newError("SerializationException", "Start of structure or map found where not expected: %v", err)
	}
	// Trailing data was the typed decode's to reject; it is rejected here
	// now, since a body re-encoded below would no longer carry it.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, nil, newError("SerializationException", "trailing data after the JSON document")
	}
	if doc == nil {
		doc = map[string]any{} // a null input is an empty one: its required members are missing
	}
	if v := validate(spec.Input, doc); v != nil {
		return nil, nil, violationError(spec, v)
	}
	// The handler decodes the body into generated types with encoding/json,
	// which also binds "RepositoryName" or "repositoryname" to
	// repositoryName. Members the model does not name are therefore dropped,
	// so that the handler acts on exactly what was validated and authorized.
	if prune(shapes[spec.Input], doc) {
		if body, err = json.Marshal(doc); err != nil {
			return nil, nil, newError("SerializationException", "%v", err)
		}
	}
	in, _ := doc.(map[string]any) // every input shape is a structure: validate saw an object
	return body, in, nil
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

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
	op     string
	spec   operationSpec
	req    *http.Request
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", core.NewUUID())
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, TargetPrefix+".")
	spec, known := operations[name]
	fn, implemented := h.ops[name]
	if !ok || !known || !implemented {
		writeAWSError(w, newError("UnknownOperationException", "Unknown operation %s", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeAWSError(w, newError("SerializationException", "could not read the request body: %v", err))
		return
	}
	if len(body) > maxBody {
		writeAWSError(w, newError("SerializationException", "request body too large"))
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		writeAWSError(w, newError("SerializationException", "Start of structure or map found where not expected: %v", err))
		return
	}
	if doc == nil {
		doc = map[string]any{} // a null input is an empty one: its required members are missing
	}
	if v := validate(spec.Input, doc); v != nil {
		writeAWSError(w, violationError(spec, v))
		return
	}
	c := &call{ctx: r.Context(), caller: h.callerFrom(r), op: name, spec: spec, req: r}
	c.ctx = core.WithCaller(c.ctx, c.caller)
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

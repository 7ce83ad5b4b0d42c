// Package sdk is what a berth plugin author imports: the request and response envelopes of the
// plugin ABI (see plugins/ABI.md) and Run, which reads the request from stdin, calls the
// plugin's handler and writes the response to stdout with the exit code the host expects.
//
// A plugin is a WASI preview1 command built with
//
//	GOOS=wasip1 GOARCH=wasm go build -o NAME.wasm .
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// ABIVersion is the version of the envelope below; the host and the plugin both refuse a
// message carrying another one, so a change of shape is never misread silently.
const ABIVersion = 1

// Exit codes of a plugin built with Run. Any code other than ExitOK is a plugin error to the host.
const (
	ExitOK = 0
	// ExitHandlerError: the handler returned an error; its text is on stderr.
	ExitHandlerError = 1
	// ExitBadRequest: stdin was not a request of this ABI version. (2 is left to the Go runtime,
	// which exits with it on a panic or a fatal error such as running out of memory.)
	ExitBadRequest = 3
	// ExitWriteFailed: the response could not be written to stdout.
	ExitWriteFailed = 4
)

// Request is the envelope the host writes to the plugin's stdin.
type Request struct {
	// ABI is the envelope's version, ABIVersion for this package.
	ABI int `json:"abi"`
	// Kind is the kind of plugin the host calls this plugin as: "scanner" or "verifier".
	Kind string `json:"kind"`
	// Input is the kind-specific payload; Decode unmarshals it.
	Input json.RawMessage `json:"input,omitempty"`
}

// Decode unmarshals the request's kind-specific input into v.
func (r Request) Decode(v any) error {
	if len(r.Input) == 0 {
		return errors.New("request has no input")
	}
	if err := json.Unmarshal(r.Input, v); err != nil {
		return fmt.Errorf("decoding request input: %w", err)
	}
	return nil
}

// Response is the envelope the plugin writes to stdout.
type Response struct {
	// ABI is the envelope's version; Run sets it to ABIVersion.
	ABI int `json:"abi"`
	// Output is the kind-specific result; Output (the function) builds a Response holding v.
	Output json.RawMessage `json:"output,omitempty"`
}

// appendJSON writes the envelope around Output as it is. json.Marshal would validate and
// compact Output byte by byte again, which in the host's sandbox (where wazero checks every
// loop iteration for cancellation) costs about a quarter of a second per 600 KB: more than many
// plugins' own work. Output is JSON already (Output makes it with json.Marshal), and the host
// refuses a response that is not (plugins.ErrBadResponse).
func (r Response) appendJSON(b []byte) []byte {
	b = append(b, `{"abi":`...)
	b = strconv.AppendInt(b, int64(r.ABI), 10)
	if len(r.Output) > 0 {
		b = append(b, `,"output":`...)
		b = append(b, r.Output...)
	}
	return append(b, '}')
}

// Output returns a Response whose output is v encoded as JSON.
func Output(v any) (Response, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Response{}, fmt.Errorf("encoding response output: %w", err)
	}
	return Response{ABI: ABIVersion, Output: data}, nil
}

// Decode unmarshals the response's output into v.
func (r Response) Decode(v any) error {
	if len(r.Output) == 0 {
		return errors.New("response has no output")
	}
	if err := json.Unmarshal(r.Output, v); err != nil {
		return fmt.Errorf("decoding response output: %w", err)
	}
	return nil
}

// Handler turns a request into a response; an error makes the call fail with ExitHandlerError.
type Handler func(Request) (Response, error)

// WarmArg is argv[1] of an instance the host started ahead of its call (plugins/ABI.md).
const WarmArg = "--warm"

// Warm reports whether this instance was started ahead of its call: its request is not yet
// written, so work done before reading it (parsing embedded data, a self-test that runs every
// code path once) is off the call's time. In an instance started for a call, the same work
// would only add to it.
func Warm() bool {
	return len(os.Args) > 1 && os.Args[1] == WarmArg
}

// Run serves one call: it reads the request from stdin, calls handle, writes the response to
// stdout and exits the process with one of the Exit codes. It does not return.
func Run(handle Handler) {
	os.Exit(Serve(os.Stdin, os.Stdout, os.Stderr, handle))
}

// Serve is Run without the process: it reads one request from stdin, writes the response to
// stdout and any error to stderr, and returns the exit code. Run is Serve on the process's files.
func Serve(stdin io.Reader, stdout, stderr io.Writer, handle Handler) int {
	var req Request
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		fmt.Fprintf(stderr, "reading request: %v\n", err)
		return ExitBadRequest
	}
	if req.ABI != ABIVersion {
		fmt.Fprintf(stderr, "request has ABI version %d, this plugin speaks %d\n", req.ABI, ABIVersion)
		return ExitBadRequest
	}
	resp, err := handle(req)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitHandlerError
	}
	resp.ABI = ABIVersion
	if _, err := stdout.Write(resp.appendJSON(nil)); err != nil {
		fmt.Fprintf(stderr, "writing response: %v\n", err)
		return ExitWriteFailed
	}
	return ExitOK
}

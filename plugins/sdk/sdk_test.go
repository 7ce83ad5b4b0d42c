package sdk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type greeting struct {
	Name string `json:"name"`
}

func echoName(req Request) (Response, error) {
	var in greeting
	if err := req.Decode(&in); err != nil {
		return Response{}, err
	}
	return Output(greeting{Name: "hello " + in.Name})
}

func TestServeAnswersARequestWithTheHandlersOutputAndTheABIVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Serve(strings.NewReader(`{"abi":1,"kind":"scanner","input":{"name":"berth"}}`), &stdout, &stderr, echoName)
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if got, want := stdout.String(), `{"abi":1,"output":{"name":"hello berth"}}`; got != want {
		t.Fatalf("stdout %s, want %s", got, want)
	}
}

func TestServeRefusesARequestOfAnotherABIVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	called := false
	code := Serve(strings.NewReader(`{"abi":2,"kind":"scanner"}`), &stdout, &stderr, func(Request) (Response, error) {
		called = true
		return Response{}, nil
	})
	if code != ExitBadRequest || called || stdout.Len() != 0 {
		t.Fatalf("exit code %d, handler called %v, stdout %q", code, called, stdout.String())
	}
	if !strings.Contains(stderr.String(), "ABI version 2") {
		t.Fatalf("stderr %q does not name the version", stderr.String())
	}
}

func TestServeRefusesStdinThatIsNotJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Serve(strings.NewReader(`not json`), &stdout, &stderr, echoName)
	if code != ExitBadRequest || stdout.Len() != 0 {
		t.Fatalf("exit code %d, stdout %q", code, stdout.String())
	}
}

func TestServeExitsWithHandlerErrorAndItsTextOnStderr(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Serve(strings.NewReader(`{"abi":1,"kind":"verifier"}`), &stdout, &stderr, func(Request) (Response, error) {
		return Response{}, errors.New("signature does not verify")
	})
	if code != ExitHandlerError || stdout.Len() != 0 {
		t.Fatalf("exit code %d, stdout %q", code, stdout.String())
	}
	if !strings.Contains(stderr.String(), "signature does not verify") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

func TestDecodeOfARequestWithoutInputIsAnError(t *testing.T) {
	var in greeting
	if err := (Request{ABI: ABIVersion}).Decode(&in); err == nil {
		t.Fatal("decoding a request without input succeeded")
	}
}

func TestServeWritesTheOutputAsItIsAroundTheEnvelope(t *testing.T) {
	for output, want := range map[string]string{
		`{ "spaced" : [1, 2] }`: `{"abi":1,"output":{ "spaced" : [1, 2] }}`,
		``:                      `{"abi":1}`,
	} {
		var stdout, stderr bytes.Buffer
		code := Serve(strings.NewReader(`{"abi":1,"kind":"scanner"}`), &stdout, &stderr, func(Request) (Response, error) {
			return Response{Output: []byte(output)}, nil
		})
		if code != ExitOK || stdout.String() != want {
			t.Errorf("output %q: exit code %d, stdout %s, want %s", output, code, stdout.String(), want)
		}
	}
}

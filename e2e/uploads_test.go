package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chunked sends body with Transfer-Encoding: chunked (no Content-Length) and
// the given Content-Range.
func (c *rawClient) chunked(method, loc string, body []byte, contentRange string) (*http.Response, []byte) {
	c.t.Helper()
	req := c.newRequest(method, loc, bytes.NewReader(body), -1)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", contentRange)
	return c.send(req)
}

// A chunk sent with Transfer-Encoding: chunked must be as long as its
// Content-Range says: one longer or shorter is refused with 416 and changes
// nothing — the session keeps its size and its bytes, takes the right chunk
// next, and completes under the right digest.
func TestChunkedBodyMustMatchItsContentRange(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	c := raw(t, b, b.Token(""))
	content := patternBytes(5, 30)
	loc := c.startUpload("ranges/app")
	resp, body := c.do(http.MethodPatch, loc, content[:10], map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "0-9"})
	expect(t, "first chunk", resp, body, http.StatusAccepted)
	loc = c.location(resp)

	for _, n := range []int{100, 11, 9, 1} {
		resp, body = c.chunked(http.MethodPatch, loc, patternBytes(6, n), "10-19")
		expectOCIError(t, "a chunked PATCH of "+strconv.Itoa(n)+" bytes declared as 10-19", resp, body, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
		if got := resp.Header.Get("Range"); got != "0-9" {
			t.Fatalf("after the refused chunk: Range %q, want 0-9", got)
		}
		resp, body = c.do(http.MethodGet, loc, nil, nil)
		expect(t, "upload status", resp, body, http.StatusNoContent)
		if got := resp.Header.Get("Range"); got != "0-9" {
			t.Fatalf("status after the refused chunk: Range %q, want 0-9", got)
		}
	}
	resp, body = c.chunked(http.MethodPatch, loc, content[10:20], "10-19")
	expect(t, "a chunked PATCH as long as its range", resp, body, http.StatusAccepted)
	if got := resp.Header.Get("Range"); got != "0-19" {
		t.Fatalf("Range %q, want 0-19", got)
	}
	loc = c.location(resp)

	dg := sha256Digest(content)
	resp, body = c.chunked(http.MethodPut, withQuery(loc, "digest", dg), append(content[20:], "and more"...), "20-29")
	expectOCIError(t, "a chunked PUT longer than its range", resp, body, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	resp, body = c.chunked(http.MethodPut, withQuery(loc, "digest", dg), content[20:], "20-29")
	expect(t, "a chunked PUT as long as its range", resp, body, http.StatusCreated)
	c.expectBlob("ranges/app", dg, content)
	c.closeIdle()
}

// stalled is a raw connection that sent a request's head and part of a body
// declaring more, then stopped: a client that stalled.
type stalled struct {
	t    *testing.T
	conn net.Conn
}

// stall sends method path with Content-Length declared and only sent of it.
func (c *rawClient) stall(method, loc string, declared int, sent []byte) *stalled {
	c.t.Helper()
	u, err := url.Parse(c.url(loc))
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() }) // before berth stops: cleanups run last first
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n", method, u.RequestURI(), c.host, declared)
	if c.user != "" {
		fmt.Fprintf(&head, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(append([]byte(head.String()), sent...)); err != nil {
		c.t.Fatal(err)
	}
	return &stalled{t: c.t.(*testing.T), conn: conn}
}

// ended waits up to within for berth to end the stalled request — an error
// response or a closed connection — and returns the status (0: closed
// without one). It fails the test if the request is still open by then.
func (s *stalled) ended(within time.Duration) int {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.t.Fatalf("the stalled request was still open after %v", within)
	}
	if err != nil {
		return 0 // closed (EOF, reset)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		s.t.Fatalf("the stalled request got status %d, want an error", resp.StatusCode)
	}
	return resp.StatusCode
}

// A PATCH that declares 10 MiB, sends 1 KB and stops is cut off once
// --body-idle-timeout passes without a byte: it gets an error (or its
// connection closed), and the session is as it was, ready for the chunk.
func TestStalledBodyIsCutOffAfterTheIdleTimeout(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push", "--body-idle-timeout", "1s")
	c := raw(t, b, b.Token(""))
	loc := c.startUpload("stalled/app")
	resp, body := c.do(http.MethodPatch, loc, []byte("first"), map[string]string{"Content-Type": "application/octet-stream"})
	expect(t, "first chunk", resp, body, http.StatusAccepted)
	loc = c.location(resp)

	s := c.stall(http.MethodPatch, loc, 10<<20, patternBytes(7, 1024))
	if status := s.ended(10 * time.Second); status != 0 && status != http.StatusBadRequest {
		t.Fatalf("the stalled PATCH ended with status %d, want 400 or a closed connection", status)
	}

	resp, body = c.do(http.MethodGet, loc, nil, nil)
	expect(t, "status after the stalled chunk", resp, body, http.StatusNoContent)
	if got := resp.Header.Get("Range"); got != "0-4" {
		t.Fatalf("Range after the stalled chunk: %q, want 0-4 (nothing of it kept)", got)
	}
	resp, body = c.do(http.MethodPut, withQuery(loc, "digest", sha256Digest([]byte("first and last"))), []byte(" and last"), nil)
	expect(t, "completing the session", resp, body, http.StatusCreated)
	c.closeIdle()
}

// writing waits until the upload id's file on disk has n bytes: its writer
// is inside its chunk, holding the session. A session's first bytes stay in
// memory until they outgrow the size of blobs kept inline
// (core.DefaultInlineBlobs): n must be larger.
// stallSent is what a stalled writer sends: more than core.DefaultInlineBlobs.
const stallSent = 100 << 10

func writing(t *testing.T, b *Berth, loc string, n int64) {
	t.Helper()
	id := loc[strings.LastIndex(loc, "/")+1:]
	if i := strings.IndexByte(id, '?'); i >= 0 {
		id = id[:i]
	}
	path := filepath.Join(b.DataDir, "uploads", id)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s never received %d bytes", id, n)
		}
	}
}

// Reset and DeleteRepository do not wait for a writer whose client stalled
// mid-chunk (with an idle timeout far longer than the test): each returns at
// once, the stalled request gets an error or its connection closed, and
// berth goes on serving.
func TestResetAndDeleteRepositoryDoNotWaitForStalledWriters(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push", "--body-idle-timeout", "10m")
	c := raw(t, b, b.Token(""))
	bounded := &http.Client{Transport: newTransport(t, b), Timeout: 10 * time.Second}

	loc := c.startUpload("stalled/deleted")
	deleted := c.stall(http.MethodPatch, loc, 10<<20, patternBytes(8, stallSent))
	writing(t, b, loc, stallSent)
	if status, body := ecrTry(t, b, "DeleteRepository", map[string]any{"repositoryName": "stalled/deleted", "force": true}); status != http.StatusOK {
		t.Fatalf("DeleteRepository: %d %s", status, body)
	}
	t.Logf("the PATCH into the deleted repository ended with status %d (0: connection closed)", deleted.ended(10*time.Second))

	loc = c.startUpload("stalled/reset")
	reset := c.stall(http.MethodPatch, loc, 10<<20, patternBytes(9, stallSent))
	writing(t, b, loc, stallSent)
	resp, err := bounded.Post(b.URL+"/_berth/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("reset: status %d", resp.StatusCode)
	}
	t.Logf("the PATCH interrupted by the reset ended with status %d (0: connection closed)", reset.ended(10*time.Second))

	c.pushBlob("after/reset", []byte("berth still serves"))
	c.closeIdle()
}

// rawRequest writes a request's head (with c's credentials) and then body,
// byte for byte, on a connection of its own, and returns the connection.
func (c *rawClient) rawRequest(method, loc string, headers []string, body string) net.Conn {
	c.t.Helper()
	u, err := url.Parse(c.url(loc))
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), c.host)
	if c.user != "" {
		fmt.Fprintf(&head, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
	}
	for _, h := range headers {
		head.WriteString(h + "\r\n")
	}
	head.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, head.String()); err != nil {
		c.t.Fatal(err)
	}
	return conn
}

// waitLogged waits until berth's log has a line containing every part.
func waitLogged(t *testing.T, b *Berth, parts ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(b.Stderr(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth never logged a line with %q:\n%s", parts, b.Stderr())
		}
	}
}

// A request body that cannot be read — malformed chunked encoding, or a
// client that goes away mid-body — is the client's fault on every endpoint
// that reads one: a PATCH, a manifest PUT, a POST ?digest= and an upload PUT
// answer 400 with the spec's code for what they read (BLOB_UPLOAD_INVALID,
// MANIFEST_INVALID), the ECR API answers 400 too, and nothing is logged as
// an error (only at debug).
func TestUnreadableBodiesAreClientErrors(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push", "--log-level", "debug")
	c := raw(t, b, b.Token(""))
	dg := sha256Digest([]byte("hello"))
	endpoints := []struct {
		name, method, code string
		loc                func(repo string) string
	}{
		{"PATCH", http.MethodPatch, "BLOB_UPLOAD_INVALID", func(repo string) string { return c.startUpload(repo) }},
		{"manifest PUT", http.MethodPut, "MANIFEST_INVALID", func(repo string) string { return "/v2/" + repo + "/manifests/v1" }},
		{"POST ?digest=", http.MethodPost, "BLOB_UPLOAD_INVALID", func(repo string) string { return "/v2/" + repo + "/blobs/uploads/?digest=" + dg }},
		{"upload PUT", http.MethodPut, "BLOB_UPLOAD_INVALID", func(repo string) string { return withQuery(c.startUpload(repo), "digest", dg) }},
	}
	for i, e := range endpoints {
		// Malformed chunked encoding: a chunk size that is not hex.
		repo := fmt.Sprintf("malformed/%d", i)
		conn := c.rawRequest(e.method, e.loc(repo), []string{"Content-Type: application/octet-stream", "Transfer-Encoding: chunked"}, "5\r\nhello\r\nzz\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s with a malformed chunked body: no response: %v", e.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		expectOCIError(t, e.name+" with a malformed chunked body", resp, body, http.StatusBadRequest, e.code)

		// A client that goes away mid-body.
		repo = fmt.Sprintf("gone/%d", i)
		loc := e.loc(repo)
		conn = c.rawRequest(e.method, loc, []string{"Content-Type: application/octet-stream", "Content-Length: 1000"}, "only ten b")
		conn.Close()
		u, _ := url.Parse(c.url(loc))
		waitLogged(t, b, "level=DEBUG", "msg=request", "method="+e.method, "path="+u.Path, "status=400")
	}

	conn := c.rawRequest(http.MethodPost, "/", []string{"Content-Type: application/x-amz-json-1.1", "Transfer-Encoding: chunked",
		"X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"}, "2\r\n{}\r\nzz\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("ECR call with a malformed chunked body: no response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("ECR call with a malformed chunked body: status %d, want 400", resp.StatusCode)
	}
	if log := b.Stderr(); strings.Contains(log, "level=ERROR") {
		t.Fatalf("an unreadable body was logged as an error:\n%s", log)
	}
	c.closeIdle()
}

package e2e

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
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

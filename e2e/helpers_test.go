package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// defaultAccount is berth's default --default-account.
const defaultAccount = "000000000000"

// ---- raw HTTP -------------------------------------------------------------

// rawClient sends hand-made /v2 requests to one berth. It always dials the
// berth's address, whatever host the request names, so that requests to
// <account>.dkr.ecr.<region>.localhost:<port> need no DNS.
type rawClient struct {
	t     testing.TB
	addr  string // host:port actually dialled
	host  string // host[:port] put in the URL and the Host header
	user  string
	pass  string // no Authorization header when user is empty
	hc    *http.Client
	trans *http.Transport
}

// closeIdle drops pooled connections (before a restart or a stop).
func (c *rawClient) closeIdle() { c.trans.CloseIdleConnections() }

// dialTo returns a transport that connects to addr for every request.
func dialTo(addr string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return tr
}

// raw returns a client for b authenticated as AWS:token (anonymous if token
// is empty), addressing b by its own host:port.
func raw(t testing.TB, b *Berth, token string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, addr: b.Addr, host: b.Addr, trans: newTransport(t, b)}
	if token != "" {
		c.user, c.pass = "AWS", token
	}
	c.hc = &http.Client{Transport: c.trans}
	return c
}

// withHost returns a copy of c that addresses host (a name only; the port of
// b.Addr is added).
func (c *rawClient) withHost(host string) *rawClient {
	_, port, _ := net.SplitHostPort(c.addr)
	cc := *c
	cc.host = net.JoinHostPort(host, port)
	return &cc
}

// withAuth returns a copy of c with other Basic credentials (none if user is empty).
func (c *rawClient) withAuth(user, pass string) *rawClient {
	cc := *c
	cc.user, cc.pass = user, pass
	return &cc
}

func (c *rawClient) url(path string) string {
	if strings.HasPrefix(path, "http://") {
		return path
	}
	return "http://" + c.host + path
}

// newRequest builds a request; size is the Content-Length (-1: unknown, sent chunked).
func (c *rawClient) newRequest(method, path string, body io.Reader, size int64) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url(path), body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	return req
}

// send performs req and reads the whole response body.
func (c *rawClient) send(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// do sends a request with a byte body (nil: none).
func (c *rawClient) do(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	var req *http.Request
	if body == nil {
		req = c.newRequest(method, path, nil, 0)
	} else {
		req = c.newRequest(method, path, bytes.NewReader(body), int64(len(body)))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.send(req)
}

// expect checks the status code of a response.
func expect(t testing.TB, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body: %s", what, resp.StatusCode, status, body)
	}
}

type ociErrorBody struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// expectOCIError checks the status and that the body is a distribution-spec
// error whose first entry has code. It returns the entry's message.
func expectOCIError(t testing.TB, what string, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	expect(t, what, resp, body, status)
	var e ociErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: error body is not JSON: %v: %q", what, err, body)
	}
	if len(e.Errors) == 0 {
		t.Fatalf("%s: error body lists no errors: %s", what, body)
	}
	if e.Errors[0].Code != code {
		t.Fatalf("%s: error code %q, want %q; body: %s", what, e.Errors[0].Code, code, body)
	}
	return e.Errors[0].Message
}

// pushBlob uploads content monolithically (POST ?digest=) and returns its digest.
func (c *rawClient) pushBlob(repo string, content []byte) string {
	c.t.Helper()
	dg := sha256Digest(content)
	resp, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+dg, content,
		map[string]string{"Content-Type": "application/octet-stream"})
	expect(c.t, "monolithic upload to "+repo, resp, body, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
		c.t.Fatalf("upload to %s: Docker-Content-Digest %q, want %q", repo, got, dg)
	}
	return dg
}

// startUpload opens an upload session and returns its absolute URL.
func (c *rawClient) startUpload(repo string) string {
	c.t.Helper()
	resp, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	expect(c.t, "start upload in "+repo, resp, body, http.StatusAccepted)
	return c.location(resp)
}

// location resolves a response's Location header against the request URL.
func (c *rawClient) location(resp *http.Response) string {
	c.t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		c.t.Fatalf("%s %s: no Location header", resp.Request.Method, resp.Request.URL)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		c.t.Fatalf("bad Location %q: %v", loc, err)
	}
	return u.String()
}

// withQuery appends k=v to a URL that may already have a query.
func withQuery(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

// expectBlob fetches a blob and checks it against want.
func (c *rawClient) expectBlob(repo, dg string, want []byte) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+dg, nil, nil)
	expect(c.t, "GET blob "+dg+" from "+repo, resp, body, http.StatusOK)
	if !bytes.Equal(body, want) {
		c.t.Fatalf("blob %s in %s: got %d bytes (%s), want %d bytes", dg, repo, len(body), sha256Digest(body), len(want))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
		c.t.Fatalf("blob %s in %s: Docker-Content-Digest %q", dg, repo, got)
	}
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// nextLink returns the target of a Link: <...>; rel="next" header, or "".
var linkNext = regexp.MustCompile(`^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$`)

func nextLink(t testing.TB, resp *http.Response) string {
	t.Helper()
	l := resp.Header.Get("Link")
	if l == "" {
		return ""
	}
	m := linkNext.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("malformed Link header %q", l)
	}
	u, err := resp.Request.URL.Parse(m[1])
	if err != nil {
		t.Fatalf("Link header %q: %v", l, err)
	}
	return u.String()
}

// ---- go-containerregistry ------------------------------------------------

// newTransport returns a transport that dials b whatever the host, and
// drops its idle connections when the test ends. Tests must drop them before
// stopping berth too: a pooled connection that never carried a request makes
// net/http's graceful shutdown wait 5 s for it.
func newTransport(t testing.TB, b *Berth) *http.Transport {
	tr := dialTo(b.Addr)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// ggcr returns remote options that use tr and authenticate as AWS:token
// (anonymous if token is empty); extra options are appended.
func ggcr(tr http.RoundTripper, token string, extra ...remote.Option) []remote.Option {
	var a authn.Authenticator = authn.Anonymous
	if token != "" {
		a = &authn.Basic{Username: "AWS", Password: token}
	}
	return append([]remote.Option{remote.WithAuth(a), remote.WithTransport(tr)}, extra...)
}

// ref parses a reference to b ("repo:tag" or "repo@sha256:...").
func ref(t testing.TB, b *Berth, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(b.Addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// transportCode returns the first distribution-spec error code of a
// go-containerregistry error, and the HTTP status.
func transportCode(err error) (transport.ErrorCode, int) {
	var te *transport.Error
	if !errors.As(err, &te) {
		return "", 0
	}
	if len(te.Errors) == 0 {
		return "", te.StatusCode
	}
	return te.Errors[0].Code, te.StatusCode
}

// ---- streams --------------------------------------------------------------

// patternReader yields n deterministic pseudo-random bytes from seed without
// holding them.
type patternReader struct {
	src *rand.ChaCha8
	n   int64
}

func newPattern(seed byte, n int64) *patternReader {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	return &patternReader{src: rand.NewChaCha8(s), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	n, _ := p.src.Read(b)
	p.n -= int64(n)
	return n, nil
}

// patternBytes is the same stream, in memory (for small sizes).
func patternBytes(seed byte, n int) []byte {
	b, _ := io.ReadAll(newPattern(seed, int64(n)))
	return b
}

// ---- /proc ----------------------------------------------------------------

// procStatusKB reads a "Vm...:  N kB" field of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// ---- ECR JSON API ---------------------------------------------------------

// ecrCall invokes an ECR API operation as account (the default account if
// empty), with an unsigned SigV4-shaped Authorization header: berth takes the
// account from the access key id and does not check signatures. It fails the
// test unless the call answers 200, and returns the response body.
func ecrCall(t testing.TB, b *Berth, account, op string, in any) []byte {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, b.URL+"/", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	key := "AKIDEXAMPLE"
	if account != "" {
		key = account
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	tr := newTransport(t, b)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("ECR %s: %v", op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ECR %s: status %d: %s", op, resp.StatusCode, body)
	}
	tr.CloseIdleConnections()
	return body
}

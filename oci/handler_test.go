package oci

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

var (
	acct   = core.RegistryID{Account: "111111111111", Region: "us-east-1"}
	acct2  = core.RegistryID{Account: "111111111111", Region: "eu-west-1"}
	other  = core.RegistryID{Account: "222222222222", Region: "us-east-1"}
	bgctx  = context.Background()
	apiVer = "registry/2.0"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func (c fixedClock) AfterFunc(d time.Duration, f func()) core.Timer {
	return core.SystemClock.AfterFunc(d, f)
}

// env is a /v2 handler over a registry on memory stores.
type env struct {
	t      *testing.T
	h      *Handler
	reg    *core.Registry
	tokens *core.Tokens
	token  string // a valid token for acct
	ids    *int   // how many one-request upload ids the registry has handed out
}

// envConfig is what varies between test envs.
type envConfig struct {
	noAuth       bool
	authorizer   core.Authorizer // nil: core's default
	createOnPush bool
	maxUploads   int // core.Options.MaxUploads
}

func newEnv(t *testing.T, noAuth bool) *env { return newEnvWith(t, envConfig{noAuth: noAuth}) }

func newEnvWith(t *testing.T, c envConfig) *env {
	t.Helper()
	clock := fixedClock{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n := 0
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Clock: clock, Log: log,
		Authorizer: c.authorizer, CreateOnPush: c.createOnPush, MaxUploads: c.maxUploads,
		NewID: func() string { n++; return "up" + strconv.Itoa(n) }})
	t.Cleanup(func() { reg.Close() })
	tokens := core.NewTokens([]byte("test-secret-test-secret-test-sec"), clock)
	tok, _ := tokens.Issue(core.TokenClaims{Registry: acct})
	h := New(Config{Registry: reg, Tokens: tokens, NoAuth: c.noAuth, DefaultRegistry: acct, Log: log})
	return &env{t: t, h: h, reg: reg, tokens: tokens, token: tok, ids: &n}
}

type req struct {
	method, path string
	body         []byte
	header       map[string]string
	host         string
	noCreds      bool
	remoteAddr   string // default: httptest's 192.0.2.1:1234
	tls          bool
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	hr.Host = "localhost:4566"
	if r.host != "" {
		hr.Host = r.host
	}
	if !r.noCreds {
		hr.SetBasicAuth("AWS", e.token)
	}
	if r.remoteAddr != "" {
		hr.RemoteAddr = r.remoteAddr
	}
	if r.tls {
		hr.TLS = &tls.ConnectionState{}
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	if got := w.Header().Get("Docker-Distribution-API-Version"); got != apiVer {
		e.t.Fatalf("%s %s: Docker-Distribution-API-Version = %q", r.method, r.path, got)
	}
	return w
}

func (e *env) get(path string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(req{method: http.MethodGet, path: path})
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, what string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, w.Code, status, w.Body.String())
	}
}

// wantError checks status and the exact distribution-spec error body.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code, what string) {
	t.Helper()
	wantStatus(t, w, status, what)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: error Content-Type %q", what, ct)
	}
	var body map[string][]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: error body %q: %v", what, w.Body.String(), err)
	}
	if len(body) != 1 || len(body["errors"]) != 1 {
		t.Fatalf("%s: error body %s", what, w.Body.String())
	}
	e := body["errors"][0]
	if e["code"] != code {
		t.Fatalf("%s: code %v, want %s (body %s)", what, e["code"], code, w.Body.String())
	}
	if msg, ok := e["message"].(string); !ok || msg == "" {
		t.Fatalf("%s: message missing in %s", what, w.Body.String())
	}
	for k := range e {
		if k != "code" && k != "message" && k != "detail" {
			t.Fatalf("%s: unexpected field %q in %s", what, k, w.Body.String())
		}
	}
}

// errorMessage is the message of the only error in an error body.
func errorMessage(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Errors []ociError `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return body.Errors[0].Message
}

func (e *env) createRepo(reg core.RegistryID, name string) {
	e.t.Helper()
	if _, err := e.reg.CreateRepository(bgctx, reg, name); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putBlob(reg core.RegistryID, repo string, content []byte) core.Descriptor {
	e.t.Helper()
	d, err := e.reg.PutBlob(bgctx, reg, repo, digest.FromBytes(content), bytes.NewReader(content))
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

type doc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *core.Descriptor  `json:"config,omitempty"`
	Layers        []core.Descriptor `json:"layers,omitempty"`
	Manifests     []core.Descriptor `json:"manifests,omitempty"`
	Subject       *core.Descriptor  `json:"subject,omitempty"`
}

func (d doc) bytes(t *testing.T) []byte {
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// image pushes a config and a layer to repo and returns a manifest naming them.
func (e *env) image(reg core.RegistryID, repo, seed string) []byte {
	e.t.Helper()
	cfg := e.putBlob(reg, repo, []byte(`{"seed":"`+seed+`"}`))
	cfg.MediaType = "application/vnd.oci.image.config.v1+json"
	layer := e.putBlob(reg, repo, []byte("layer "+seed))
	layer.MediaType = "application/vnd.oci.image.layer.v1.tar"
	return doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIManifest, Config: &cfg, Layers: []core.Descriptor{layer}}.bytes(e.t)
}

func TestErrorMapping(t *testing.T) {
	e := newEnv(t, false)
	want := map[core.Kind]struct {
		code   string
		status int
	}{
		core.KindRepositoryNotFound:    {"NAME_UNKNOWN", 404},
		core.KindNameInvalid:           {"NAME_INVALID", 400},
		core.KindTagInvalid:            {"TAG_INVALID", 400},
		core.KindManifestNotFound:      {"MANIFEST_UNKNOWN", 404},
		core.KindManifestNotAcceptable: {"MANIFEST_UNKNOWN", 404},
		core.KindManifestInvalid:       {"MANIFEST_INVALID", 400},
		core.KindManifestTooLarge:      {"MANIFEST_INVALID", 413},
		core.KindManifestBlobMissing:   {"MANIFEST_BLOB_UNKNOWN", 400},
		core.KindManifestChildMissing:  {"MANIFEST_UNKNOWN", 400},
		core.KindManifestReferenced:    {"DENIED", 409},
		core.KindBlobNotFound:          {"BLOB_UNKNOWN", 404},
		core.KindUploadNotFound:        {"BLOB_UPLOAD_UNKNOWN", 404},
		core.KindDigestInvalid:         {"DIGEST_INVALID", 400},
		core.KindRangeInvalid:          {"BLOB_UPLOAD_INVALID", 416},
		core.KindSizeInvalid:           {"SIZE_INVALID", 400},
		core.KindImageTagImmutable:     {"TAG_INVALID", 400},
		core.KindUnauthorized:          {"UNAUTHORIZED", 401},
		core.KindDenied:                {"DENIED", 403},
		core.KindUnsupported:           {"UNSUPPORTED", 405},
		core.KindInvalidParameter:      {"UNSUPPORTED", 400},
		core.KindRepositoryExists:      {"DENIED", 409},
		core.KindRepositoryNotEmpty:    {"DENIED", 409},
	}
	r := httptest.NewRequest(http.MethodGet, "/v2/x/manifests/y", nil)
	for k, c := range want {
		w := httptest.NewRecorder()
		e.h.writeError(w, r, core.Errorf(k, "the %s message", k))
		wantError(t, w, c.status, c.code, string(k))
		var body struct {
			Errors []ociError `json:"errors"`
		}
		json.Unmarshal(w.Body.Bytes(), &body)
		if body.Errors[0].Message != "the "+string(k)+" message" {
			t.Fatalf("%s: message %q", k, body.Errors[0].Message)
		}
		if got := w.Header().Get("WWW-Authenticate"); (k == core.KindUnauthorized) != (got != "") {
			t.Fatalf("%s: WWW-Authenticate %q", k, got)
		}
	}
	// Wrapped domain errors are still recognised.
	w := httptest.NewRecorder()
	e.h.writeError(w, r, errors.Join(errors.New("context"), core.Errorf(core.KindBlobNotFound, "gone")))
	wantError(t, w, 404, "BLOB_UNKNOWN", "wrapped")
	// Anything else is a server fault whose details stay in the log.
	w = httptest.NewRecorder()
	e.h.writeError(w, r, errors.New("disk on fire"))
	wantError(t, w, 500, "UNKNOWN", "unclassified")
	if strings.Contains(w.Body.String(), "disk on fire") {
		t.Fatal("internal error details leaked to the client")
	}
}

func TestBaseAndAuth(t *testing.T) {
	e := newEnv(t, false)
	w := e.get("/v2/")
	wantStatus(t, w, 200, "GET /v2/")
	if w.Body.String() != "{}" {
		t.Fatalf("base body %q", w.Body.String())
	}
	wantStatus(t, e.get("/v2"), 200, "GET /v2")

	for name, r := range map[string]req{
		"no credentials": {method: "GET", path: "/v2/", noCreds: true},
		"wrong user":     {method: "GET", path: "/v2/", noCreds: true, header: map[string]string{"Authorization": "Basic " + basic("root", e.token)}},
		"bad token":      {method: "GET", path: "/v2/", noCreds: true, header: map[string]string{"Authorization": "Basic " + basic("AWS", e.token+"x")}},
		"bearer":         {method: "GET", path: "/v2/app/tags/list", noCreds: true, header: map[string]string{"Authorization": "Bearer " + e.token}},
		"on a blob":      {method: "HEAD", path: "/v2/app/blobs/" + digest.FromString("x").String(), noCreds: true},
	} {
		w := e.do(r)
		if r.method == http.MethodHead {
			wantStatus(t, w, 401, name) // no body on the wire: TestErrorHeadHasTheGetsHeadersAndLength
		} else {
			wantError(t, w, 401, "UNAUTHORIZED", name)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="berth"` {
			t.Fatalf("%s: WWW-Authenticate %q", name, got)
		}
	}

	// An expired token is refused.
	expired := core.NewTokens([]byte("test-secret-test-secret-test-sec"), fixedClock{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	old, _ := expired.Issue(core.TokenClaims{Registry: acct})
	w = e.do(req{method: "GET", path: "/v2/", noCreds: true, header: map[string]string{"Authorization": "Basic " + basic("AWS", old)}})
	wantError(t, w, 401, "UNAUTHORIZED", "expired token")
}

func basic(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestHostAddressesRegistry(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "here")
	e.createRepo(acct2, "there")
	e.createRepo(other, "theirs")

	// The token's own registry by default.
	w := e.get("/v2/_catalog")
	wantStatus(t, w, 200, "catalog")
	if !strings.Contains(w.Body.String(), `"here"`) || strings.Contains(w.Body.String(), "there") {
		t.Fatalf("default catalog %s", w.Body.String())
	}
	// Same account, another region, through the Host name.
	w = e.do(req{method: "GET", path: "/v2/_catalog", host: "111111111111.dkr.ecr.eu-west-1.localhost:4566"})
	wantStatus(t, w, 200, "other region catalog")
	if got := w.Body.String(); got != `{"repositories":["there"]}` {
		t.Fatalf("other region catalog %s", got)
	}
	// Another account: the base check only authenticates; everything else
	// is denied by the default authorizer, naming what was asked.
	otherHost := "222222222222.dkr.ecr.us-east-1.localhost:4566"
	wantStatus(t, e.do(req{method: "GET", path: "/v2/", host: otherHost}), 200, "cross-account base check")
	for _, c := range []struct{ method, path, action, resource string }{
		{"GET", "/v2/_catalog", "ecr:DescribeRepositories", "repository/*"},
		{"GET", "/v2/theirs/tags/list", "ecr:ListImages", "repository/theirs"},
		{"POST", "/v2/theirs/blobs/uploads/", "ecr:InitiateLayerUpload", "repository/theirs"},
		{"GET", "/v2/missing/manifests/v1", "ecr:BatchGetImage", "repository/missing"},
	} {
		w = e.do(req{method: c.method, path: c.path, host: otherHost})
		wantError(t, w, 403, "DENIED", "cross-account "+c.method+" "+c.path)
		want := "User: arn:aws:iam::111111111111:root is not authorized to perform: " + c.action +
			" on resource: arn:aws:ecr:us-east-1:222222222222:" + c.resource +
			" because no resource-based policy allows the " + c.action + " action"
		if got := errorMessage(t, w); got != want {
			t.Fatalf("cross-account %s %s: message\n got  %s\n want %s", c.method, c.path, got, want)
		}
	}
	if repos, _, _ := e.reg.ListRepositories(bgctx, other, core.Page{}); len(repos) != 1 {
		t.Fatalf("cross-account request changed the registry: %v", repos)
	}

	// Anonymous mode serves the default registry, or the one the Host names.
	anon := newEnv(t, true)
	anon.createRepo(acct, "anon-here")
	anon.createRepo(other, "anon-other")
	w = anon.do(req{method: "GET", path: "/v2/_catalog", noCreds: true})
	if w.Code != 200 || w.Body.String() != `{"repositories":["anon-here"]}` {
		t.Fatalf("anonymous catalog %d %s", w.Code, w.Body.String())
	}
	w = anon.do(req{method: "GET", path: "/v2/_catalog", noCreds: true, host: "222222222222.dkr.ecr.us-east-1.localhost"})
	if w.Code != 200 || w.Body.String() != `{"repositories":["anon-other"]}` {
		t.Fatalf("anonymous catalog by host %d %s", w.Code, w.Body.String())
	}
}

// A token is its principal's: one GetAuthorizationToken issued to account
// 111111111111's root for account 222222222222's registry grants nothing in
// that registry, whether the host or the token names it.
func TestTokenForAnotherAccountsRegistryGrantsNothing(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(other, "theirs")
	e.token, _ = e.tokens.Issue(core.TokenClaims{Registry: other, Principal: core.RootPrincipal(acct.Account)})
	for _, host := range []string{"", "222222222222.dkr.ecr.us-east-1.localhost:4566"} {
		for _, r := range []req{{method: "GET", path: "/v2/_catalog"}, {method: "GET", path: "/v2/theirs/tags/list"}, {method: "POST", path: "/v2/theirs/blobs/uploads/"}} {
			r.host = host
			wantError(t, e.do(r), 403, "DENIED", r.method+" "+r.path+" on "+host)
		}
	}
	// Its own registry, named by the host, it may use.
	w := e.do(req{method: "GET", path: "/v2/_catalog", host: "111111111111.dkr.ecr.us-east-1.localhost:4566"})
	wantStatus(t, w, 200, "own registry by host")
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	wantError(t, e.get("/v2/app"), 404, "NOT_FOUND", "no endpoint")
	wantError(t, e.get("/v2/app/manifests/"), 404, "NOT_FOUND", "empty reference")
	wantError(t, e.get("/v2/Bad/manifests/latest"), 400, "NAME_INVALID", "invalid name")
	wantError(t, e.do(req{method: "POST", path: "/v2/app/manifests/latest"}), 405, "UNSUPPORTED", "POST manifest")
	wantError(t, e.do(req{method: "POST", path: "/v2/app/blobs/uploads/up9"}), 405, "UNSUPPORTED", "POST to an upload")
	wantError(t, e.do(req{method: "DELETE", path: "/v2/app/tags/list"}), 405, "UNSUPPORTED", "DELETE tags")
	wantError(t, e.do(req{method: "PATCH", path: "/v2/app/blobs/uploads/"}), 405, "UNSUPPORTED", "PATCH without an upload id")
	wantError(t, e.do(req{method: "POST", path: "/v2/"}), 405, "UNSUPPORTED", "POST base")
	wantError(t, e.do(req{method: "DELETE", path: "/v2/_catalog"}), 405, "UNSUPPORTED", "DELETE catalog")
	wantError(t, e.do(req{method: "DELETE", path: "/v2/Bad/tags/list"}), 400, "NAME_INVALID", "invalid name before method")
	wantError(t, e.get("/v2/app/manifests/-bad"), 400, "TAG_INVALID", "invalid tag")
	wantError(t, e.get("/v2/app/blobs/sha256:abc"), 400, "DIGEST_INVALID", "invalid digest")
	wantError(t, e.get("/v2/missing/tags/list"), 404, "NAME_UNKNOWN", "missing repository")
}

func TestUploadFlow(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "team/app")
	content := []byte("0123456789abcdefghij")
	d := digest.FromBytes(content)

	w := e.do(req{method: "POST", path: "/v2/team/app/blobs/uploads/"})
	wantStatus(t, w, 202, "POST")
	loc := w.Header().Get("Location")
	id := w.Header().Get("Docker-Upload-UUID")
	if id == "" || loc != "/v2/team/app/blobs/uploads/"+id || w.Header().Get("Range") != "0-0" {
		t.Fatalf("POST headers %v", w.Header())
	}

	w = e.do(req{method: "PATCH", path: loc, body: content[:5], header: map[string]string{"Content-Range": "0-4", "Content-Type": "application/octet-stream"}})
	wantStatus(t, w, 202, "PATCH 0-4")
	if w.Header().Get("Location") != loc || w.Header().Get("Range") != "0-4" {
		t.Fatalf("PATCH headers %v", w.Header())
	}

	w = e.get(loc)
	wantStatus(t, w, 204, "GET upload status")
	if w.Header().Get("Location") != loc || w.Header().Get("Range") != "0-4" || w.Body.Len() != 0 {
		t.Fatalf("status headers %v", w.Header())
	}

	// Out of order: 416 with where the upload stands.
	w = e.do(req{method: "PATCH", path: loc, body: content[10:15], header: map[string]string{"Content-Range": "10-14"}})
	wantError(t, w, 416, "BLOB_UPLOAD_INVALID", "out-of-order PATCH")
	if w.Header().Get("Location") != loc || w.Header().Get("Range") != "0-4" {
		t.Fatalf("416 headers %v", w.Header())
	}
	w = e.do(req{method: "PATCH", path: loc, body: content[0:5], header: map[string]string{"Content-Range": "0-4"}})
	wantError(t, w, 416, "BLOB_UPLOAD_INVALID", "repeated PATCH")

	// Content-Range and Content-Length disagree: the spec's SIZE_INVALID.
	for _, cr := range []string{"5-12", "5-8", "bytes 5-10/20"} {
		w = e.do(req{method: "PATCH", path: loc, body: content[5:10], header: map[string]string{"Content-Range": cr}})
		wantError(t, w, 400, "SIZE_INVALID", "Content-Range "+cr+" with Content-Length 5")
	}
	w = e.do(req{method: "PUT", path: loc + "?digest=" + d.String(), body: content[5:], header: map[string]string{"Content-Range": "5-9"}})
	wantError(t, w, 400, "SIZE_INVALID", "PUT whose Content-Range and Content-Length disagree")
	// Malformed Content-Range.
	for _, cr := range []string{"x-y", "5", "9-3", "-1-3"} {
		w = e.do(req{method: "PATCH", path: loc, body: content[5:10], header: map[string]string{"Content-Range": cr}})
		wantError(t, w, 416, "BLOB_UPLOAD_INVALID", "Content-Range "+cr)
	}
	if st, _ := e.reg.GetUpload(bgctx, acct, "team/app", id); st.Size != 5 {
		t.Fatalf("refused chunks changed the upload: size %d", st.Size)
	}

	// "bytes " prefix and a total are tolerated.
	w = e.do(req{method: "PATCH", path: loc, body: content[5:10], header: map[string]string{"Content-Range": "bytes 5-9/*"}})
	wantStatus(t, w, 202, "PATCH bytes 5-9/*")
	if w.Header().Get("Range") != "0-9" {
		t.Fatalf("Range after second chunk %q", w.Header().Get("Range"))
	}
	// Streamed: no Content-Range.
	w = e.do(req{method: "PATCH", path: loc, body: content[10:15]})
	wantStatus(t, w, 202, "streamed PATCH")
	if w.Header().Get("Location") != loc || w.Header().Get("Range") != "0-14" {
		t.Fatalf("streamed PATCH headers %v", w.Header())
	}

	// An out-of-order last chunk is refused like an out-of-order PATCH.
	w = e.do(req{method: "PUT", path: loc + "?digest=" + d.String(), body: content[0:5], header: map[string]string{"Content-Range": "0-4"}})
	wantError(t, w, 416, "BLOB_UPLOAD_INVALID", "out-of-order PUT")

	// Completion needs a (right) digest.
	wantError(t, e.do(req{method: "PUT", path: loc}), 400, "DIGEST_INVALID", "PUT without digest")
	wantError(t, e.do(req{method: "PUT", path: loc + "?digest=sha256:nope"}), 400, "DIGEST_INVALID", "PUT with a malformed digest")
	wantError(t, e.do(req{method: "PUT", path: loc + "?digest=" + digest.FromString("x").String()}), 400, "DIGEST_INVALID", "PUT with a wrong digest")
	wantError(t, e.get("/v2/team/app/blobs/"+d.String()), 404, "BLOB_UNKNOWN", "blob before completion")

	w = e.do(req{method: "PUT", path: loc + "?digest=" + d.String(), body: content[15:], header: map[string]string{"Content-Range": "15-19"}})
	wantStatus(t, w, 201, "PUT")
	if w.Header().Get("Location") != "/v2/team/app/blobs/"+d.String() || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("PUT headers %v", w.Header())
	}
	w = e.get("/v2/team/app/blobs/" + d.String())
	wantStatus(t, w, 200, "GET blob")
	if !bytes.Equal(w.Body.Bytes(), content) {
		t.Fatalf("blob body %q", w.Body.String())
	}
	wantError(t, e.get(loc), 404, "BLOB_UPLOAD_UNKNOWN", "status after completion")

	// Another repository cannot touch an upload.
	e.createRepo(acct, "other")
	w = e.do(req{method: "POST", path: "/v2/team/app/blobs/uploads/"})
	loc2 := w.Header().Get("Location")
	wantError(t, e.get(strings.Replace(loc2, "team/app", "other", 1)), 404, "BLOB_UPLOAD_UNKNOWN", "upload from another repository")

	// Cancel.
	wantStatus(t, e.do(req{method: "DELETE", path: loc2}), 204, "DELETE upload")
	wantError(t, e.get(loc2), 404, "BLOB_UPLOAD_UNKNOWN", "status after cancel")
	wantError(t, e.do(req{method: "DELETE", path: loc2}), 404, "BLOB_UPLOAD_UNKNOWN", "cancel twice")

	// Starting an upload into a missing repository.
	wantError(t, e.do(req{method: "POST", path: "/v2/missing/blobs/uploads/"}), 404, "NAME_UNKNOWN", "POST into a missing repository")
}

func TestMonolithicUploadAndMount(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "src")
	e.createRepo(acct, "dst")
	content := []byte("one shot")
	d := digest.FromBytes(content)

	w := e.do(req{method: "POST", path: "/v2/src/blobs/uploads/?digest=" + d.String(), body: content, header: map[string]string{"Content-Type": "application/octet-stream"}})
	wantStatus(t, w, 201, "monolithic POST")
	if w.Header().Get("Location") != "/v2/src/blobs/"+d.String() || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("monolithic headers %v", w.Header())
	}
	w = e.do(req{method: "POST", path: "/v2/src/blobs/uploads/?digest=" + digest.FromString("else").String(), body: content})
	wantError(t, w, 400, "DIGEST_INVALID", "monolithic POST with a wrong digest")

	// Mounting is an ECR account setting; with it off, a mount request becomes an upload.
	w = e.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d.String() + "&from=src"})
	wantStatus(t, w, 202, "mount while disabled")
	if !strings.HasPrefix(w.Header().Get("Location"), "/v2/dst/blobs/uploads/") {
		t.Fatalf("fallback Location %q", w.Header().Get("Location"))
	}
	_, err := e.reg.UpdateSettings(bgctx, acct, func(s *core.RegistrySettings) error {
		s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w = e.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d.String() + "&from=src"})
	wantStatus(t, w, 201, "mount")
	if w.Header().Get("Location") != "/v2/dst/blobs/"+d.String() || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("mount headers %v", w.Header())
	}
	wantStatus(t, e.do(req{method: "HEAD", path: "/v2/dst/blobs/" + d.String()}), 200, "mounted blob")

	// Nothing to mount: a regular upload session.
	w = e.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + digest.FromString("absent").String() + "&from=src"})
	wantStatus(t, w, 202, "mount fallback")
	if !strings.HasPrefix(w.Header().Get("Location"), "/v2/dst/blobs/uploads/") || w.Header().Get("Range") != "0-0" {
		t.Fatalf("fallback headers %v", w.Header())
	}
	wantError(t, e.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=nope"}), 400, "DIGEST_INVALID", "malformed mount digest")
	wantError(t, e.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d.String() + "&from=Bad"}), 400, "NAME_INVALID", "malformed from")
}

func TestBlobGet(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	e.createRepo(acct, "other")
	content := []byte("The quick brown fox")
	d := e.putBlob(acct, "app", content).Digest
	path := "/v2/app/blobs/" + d.String()

	w := e.get(path)
	wantStatus(t, w, 200, "GET")
	if !bytes.Equal(w.Body.Bytes(), content) || w.Header().Get("Content-Length") != strconv.Itoa(len(content)) ||
		w.Header().Get("Docker-Content-Digest") != d.String() || w.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET %v %q", w.Header(), w.Body.String())
	}

	w = e.do(req{method: "GET", path: path, header: map[string]string{"Range": "bytes=4-8"}})
	wantStatus(t, w, 206, "GET with Range")
	if w.Body.String() != "quick" || w.Header().Get("Content-Range") != "bytes 4-8/19" || w.Header().Get("Content-Length") != "5" {
		t.Fatalf("Range GET %v %q", w.Header(), w.Body.String())
	}
	w = e.do(req{method: "GET", path: path, header: map[string]string{"Range": "bytes=100-"}})
	wantStatus(t, w, 416, "unsatisfiable Range")

	w = e.do(req{method: "HEAD", path: path})
	wantStatus(t, w, 200, "HEAD")
	if w.Header().Get("Content-Length") != "19" || w.Body.Len() != 0 || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("HEAD %v %q", w.Header(), w.Body.String())
	}

	wantError(t, e.get("/v2/other/blobs/"+d.String()), 404, "BLOB_UNKNOWN", "blob of another repository")
	wantError(t, e.get("/v2/app/blobs/"+digest.FromString("absent").String()), 404, "BLOB_UNKNOWN", "unknown blob")
	wantError(t, e.get("/v2/nope/blobs/"+d.String()), 404, "NAME_UNKNOWN", "missing repository")

	wantStatus(t, e.do(req{method: "DELETE", path: path}), 202, "DELETE blob")
	wantError(t, e.get(path), 404, "BLOB_UNKNOWN", "deleted blob")
	wantError(t, e.do(req{method: "DELETE", path: path}), 404, "BLOB_UNKNOWN", "deleting twice")

	// A layer a manifest still uses is not deleted: the image would become
	// unpullable. Once the manifest is gone, it can be.
	body := e.image(acct, "app", "in use")
	m, err := e.reg.PutManifest(bgctx, acct, "app", core.PutManifestInput{Reference: "v1", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := core.ParseManifest(body, "")
	layerPath := "/v2/app/blobs/" + parsed.Layers[0].Digest.String()
	wantError(t, e.do(req{method: "DELETE", path: layerPath}), 409, "DENIED", "DELETE a layer in use")
	wantStatus(t, e.get(layerPath), 200, "the layer after the refused DELETE")
	wantStatus(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/" + m.Digest.String()}), 202, "DELETE the manifest")
	wantStatus(t, e.do(req{method: "DELETE", path: layerPath}), 202, "DELETE the layer no manifest uses")
}

func TestManifestEndpoints(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	body := e.image(acct, "app", "one")
	d := digest.FromBytes(body)

	w := e.do(req{method: "PUT", path: "/v2/app/manifests/v1", body: body, header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}})
	wantStatus(t, w, 201, "PUT by tag")
	if w.Header().Get("Location") != "/v2/app/manifests/"+d.String() || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("PUT headers %v", w.Header())
	}
	if w.Header().Get("OCI-Subject") != "" || len(w.Header().Values("OCI-Tag")) != 0 {
		t.Fatalf("PUT without subject or tag parameters: %v", w.Header())
	}

	for _, ref := range []string{"v1", d.String()} {
		w = e.do(req{method: "GET", path: "/v2/app/manifests/" + ref, header: map[string]string{"Accept": core.MediaTypeOCIManifest}})
		wantStatus(t, w, 200, "GET "+ref)
		// A small manifest's length is net/http's to write (checked on the
		// wire by TestManifestGetSendsItsLengthOnTheWire).
		if !bytes.Equal(w.Body.Bytes(), body) || w.Header().Get("Content-Type") != core.MediaTypeOCIManifest ||
			w.Header().Get("Docker-Content-Digest") != d.String() || w.Header().Get("Etag") != `"`+d.String()+`"` ||
			len(body) >= netHTTPBuffered || w.Header().Get("Content-Length") != "" {
			t.Fatalf("GET %s: %v", ref, w.Header())
		}
		w = e.do(req{method: "HEAD", path: "/v2/app/manifests/" + ref})
		wantStatus(t, w, 200, "HEAD "+ref)
		if w.Body.Len() != 0 || w.Header().Get("Content-Length") != strconv.Itoa(len(body)) || w.Header().Get("Docker-Content-Digest") != d.String() ||
			w.Header().Get("Content-Type") != core.MediaTypeOCIManifest {
			t.Fatalf("HEAD %s: %v %q", ref, w.Header(), w.Body.String())
		}
	}
	// Content negotiation: several Accept headers, one of them matching.
	hr := httptest.NewRequest("GET", "/v2/app/manifests/v1", nil)
	hr.SetBasicAuth("AWS", e.token)
	hr.Header.Add("Accept", core.MediaTypeDockerManifest)
	hr.Header.Add("Accept", core.MediaTypeOCIManifest)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	wantStatus(t, rec, 200, "GET with two Accept headers")
	// Only types it is not.
	for _, m := range []string{"GET", "HEAD"} {
		w = e.do(req{method: m, path: "/v2/app/manifests/v1", header: map[string]string{"Accept": core.MediaTypeDockerManifest + ", " + core.MediaTypeOCIIndex}})
		if m == "GET" {
			wantError(t, w, 404, "MANIFEST_UNKNOWN", "unacceptable GET")
		} else {
			wantStatus(t, w, 404, "unacceptable HEAD")
		}
	}
	wantError(t, e.get("/v2/app/manifests/nope"), 404, "MANIFEST_UNKNOWN", "unknown tag")
	wantError(t, e.get("/v2/nope/manifests/v1"), 404, "NAME_UNKNOWN", "unknown repository")

	// PUT by digest with tag parameters: OCI-Tag headers, tags created.
	body2 := e.image(acct, "app", "two")
	d2 := digest.FromBytes(body2)
	w = e.do(req{method: "PUT", path: "/v2/app/manifests/" + d2.String() + "?tag=a&tag=b", body: body2, header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}})
	wantStatus(t, w, 201, "PUT with tags")
	if got := w.Header().Values("OCI-Tag"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("OCI-Tag %v", got)
	}
	for _, tag := range []string{"a", "b"} {
		if w := e.do(req{method: "HEAD", path: "/v2/app/manifests/" + tag}); w.Header().Get("Docker-Content-Digest") != d2.String() {
			t.Fatalf("tag %s -> %q", tag, w.Header().Get("Docker-Content-Digest"))
		}
	}
	wantError(t, e.do(req{method: "PUT", path: "/v2/app/manifests/" + d.String(), body: body2}), 400, "DIGEST_INVALID", "PUT digest mismatch")
	wantError(t, e.do(req{method: "PUT", path: "/v2/app/manifests/x", body: []byte("{")}), 400, "MANIFEST_INVALID", "PUT invalid JSON")
	missing := core.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest.FromString("absent"), Size: 6}
	wantError(t, e.do(req{method: "PUT", path: "/v2/app/manifests/x", body: doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIManifest, Config: &missing}.bytes(t)}),
		400, "MANIFEST_BLOB_UNKNOWN", "PUT with a missing blob")
	big := bytes.Repeat([]byte(" "), core.MaxManifestSize+10)
	wantError(t, e.do(req{method: "PUT", path: "/v2/app/manifests/big", body: big}), 413, "MANIFEST_INVALID", "PUT too large")

	// A referrer: OCI-Subject.
	subj := core.Descriptor{MediaType: core.MediaTypeOCIManifest, Digest: d, Size: int64(len(body))}
	cfg := e.putBlob(acct, "app", []byte("{}"))
	cfg.MediaType = core.MediaTypeOCIEmpty
	sig := doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIManifest, ArtifactType: "application/vnd.example.sig", Config: &cfg, Layers: []core.Descriptor{cfg}, Subject: &subj}.bytes(t)
	sigD := digest.FromBytes(sig)
	w = e.do(req{method: "PUT", path: "/v2/app/manifests/" + sigD.String(), body: sig, header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}})
	wantStatus(t, w, 201, "PUT referrer")
	if w.Header().Get("OCI-Subject") != d.String() {
		t.Fatalf("OCI-Subject %q", w.Header().Get("OCI-Subject"))
	}

	// An index listing the first manifest blocks its deletion.
	idx := doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIIndex, Manifests: []core.Descriptor{subj}}.bytes(t)
	wantStatus(t, e.do(req{method: "PUT", path: "/v2/app/manifests/idx", body: idx, header: map[string]string{"Content-Type": core.MediaTypeOCIIndex}}), 201, "PUT index")
	orphanIdx := doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIIndex, Manifests: []core.Descriptor{{MediaType: core.MediaTypeOCIManifest, Digest: digest.FromString("gone"), Size: 4}}}.bytes(t)
	wantError(t, e.do(req{method: "PUT", path: "/v2/app/manifests/bad-idx", body: orphanIdx}), 400, "MANIFEST_UNKNOWN", "index with a missing child")
	wantError(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/" + d.String()}), 409, "DENIED", "DELETE a listed manifest")
	wantStatus(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/idx"}), 202, "DELETE a tag")
	wantStatus(t, e.do(req{method: "HEAD", path: "/v2/app/manifests/" + digest.FromBytes(idx).String()}), 200, "index after its tag went")
	wantStatus(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/" + digest.FromBytes(idx).String()}), 202, "DELETE index")
	wantStatus(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/" + d.String()}), 202, "DELETE manifest")
	wantError(t, e.get("/v2/app/manifests/v1"), 404, "MANIFEST_UNKNOWN", "tag of a deleted manifest")
	wantError(t, e.do(req{method: "DELETE", path: "/v2/app/manifests/" + d.String()}), 404, "MANIFEST_UNKNOWN", "DELETE twice")
}

func listOf(t *testing.T, w *httptest.ResponseRecorder, key string) []string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	raw, ok := body[key].([]any)
	if !ok {
		t.Fatalf("%s is not a list in %s", key, w.Body.String())
	}
	out := []string{}
	for _, v := range raw {
		out = append(out, v.(string))
	}
	return out
}

func TestTagsListPaging(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "team/app")
	body := e.image(acct, "team/app", "x")
	_, err := e.reg.PutManifest(bgctx, acct, "team/app", core.PutManifestInput{Reference: "v1", Body: body, Tags: []string{"b", "a", "c", "v2"}})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"a", "b", "c", "v1", "v2"}

	w := e.get("/v2/team/app/tags/list")
	wantStatus(t, w, 200, "tags")
	if got := listOf(t, w, "tags"); !reflect.DeepEqual(got, all) || w.Header().Get("Link") != "" {
		t.Fatalf("tags %v Link %q", got, w.Header().Get("Link"))
	}
	var name map[string]any
	json.Unmarshal(w.Body.Bytes(), &name)
	if name["name"] != "team/app" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("tags body %s", w.Body.String())
	}

	w = e.get("/v2/team/app/tags/list?n=2")
	if got := listOf(t, w, "tags"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("first page %v", got)
	}
	if link := w.Header().Get("Link"); link != `</v2/team/app/tags/list?last=b&n=2>; rel="next"` {
		t.Fatalf("Link %q", link)
	}
	// Follow the links.
	var walked []string
	next := "/v2/team/app/tags/list?n=2"
	for next != "" {
		w = e.get(next)
		wantStatus(t, w, 200, next)
		walked = append(walked, listOf(t, w, "tags")...)
		next = ""
		if link := w.Header().Get("Link"); link != "" {
			next = strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
		}
	}
	if !reflect.DeepEqual(walked, all) {
		t.Fatalf("walked %v", walked)
	}
	w = e.get("/v2/team/app/tags/list?n=2&last=c")
	if got := listOf(t, w, "tags"); !reflect.DeepEqual(got, []string{"v1", "v2"}) || w.Header().Get("Link") != "" {
		t.Fatalf("last page %v Link %q", got, w.Header().Get("Link"))
	}
	w = e.get("/v2/team/app/tags/list?last=b")
	if got := listOf(t, w, "tags"); !reflect.DeepEqual(got, []string{"c", "v1", "v2"}) {
		t.Fatalf("last without n %v", got)
	}
	w = e.get("/v2/team/app/tags/list?n=0")
	wantStatus(t, w, 200, "n=0")
	if got := listOf(t, w, "tags"); len(got) != 0 || w.Header().Get("Link") != "" {
		t.Fatalf("n=0 %v Link %q", got, w.Header().Get("Link"))
	}
	wantError(t, e.get("/v2/missing/tags/list?n=0"), 404, "NAME_UNKNOWN", "n=0 on a missing repository")
	wantError(t, e.get("/v2/team/app/tags/list?n=-1"), 400, "PAGINATION_NUMBER_INVALID", "n=-1")
	wantError(t, e.get("/v2/team/app/tags/list?n=x"), 400, "PAGINATION_NUMBER_INVALID", "n=x")

	// A repository without tags lists an empty array, not null.
	e.createRepo(acct, "empty")
	w = e.get("/v2/empty/tags/list")
	if w.Code != 200 || w.Body.String() != `{"name":"empty","tags":[]}` {
		t.Fatalf("empty repository %d %s", w.Code, w.Body.String())
	}
}

func TestCatalogPaging(t *testing.T) {
	e := newEnv(t, false)
	w := e.get("/v2/_catalog")
	if w.Code != 200 || w.Body.String() != `{"repositories":[]}` {
		t.Fatalf("empty catalog %d %s", w.Code, w.Body.String())
	}
	for _, n := range []string{"cc", "aa/xx", "bb", "aa"} {
		e.createRepo(acct, n)
	}
	e.createRepo(other, "zzz")

	w = e.get("/v2/_catalog")
	if got := listOf(t, w, "repositories"); !reflect.DeepEqual(got, []string{"aa", "aa/xx", "bb", "cc"}) || w.Header().Get("Link") != "" {
		t.Fatalf("catalog %v", got)
	}
	w = e.get("/v2/_catalog?n=3")
	if got := listOf(t, w, "repositories"); !reflect.DeepEqual(got, []string{"aa", "aa/xx", "bb"}) {
		t.Fatalf("first page %v", got)
	}
	if link := w.Header().Get("Link"); link != `</v2/_catalog?last=bb&n=3>; rel="next"` {
		t.Fatalf("Link %q", link)
	}
	w = e.get("/v2/_catalog?last=bb&n=3")
	if got := listOf(t, w, "repositories"); !reflect.DeepEqual(got, []string{"cc"}) || w.Header().Get("Link") != "" {
		t.Fatalf("second page %v Link %q", got, w.Header().Get("Link"))
	}
	w = e.get("/v2/_catalog?last=aa/xx&n=2")
	if got := listOf(t, w, "repositories"); !reflect.DeepEqual(got, []string{"bb", "cc"}) || w.Header().Get("Link") != "" {
		t.Fatalf("exactly n left %v Link %q", got, w.Header().Get("Link"))
	}
	w = e.get("/v2/_catalog?n=0")
	if w.Code != 200 || w.Body.String() != `{"repositories":[]}` || w.Header().Get("Link") != "" {
		t.Fatalf("n=0 %d %s", w.Code, w.Body.String())
	}
	wantError(t, e.get("/v2/_catalog?n=-5"), 400, "PAGINATION_NUMBER_INVALID", "negative n")
}

func TestReferrersEndpoint(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	body := e.image(acct, "app", "subject")
	d := digest.FromBytes(body)
	if _, err := e.reg.PutManifest(bgctx, acct, "app", core.PutManifestInput{Reference: "v1", Body: body}); err != nil {
		t.Fatal(err)
	}
	subj := core.Descriptor{MediaType: core.MediaTypeOCIManifest, Digest: d, Size: int64(len(body))}
	cfg := e.putBlob(acct, "app", []byte("{}"))
	cfg.MediaType = core.MediaTypeOCIEmpty
	var sigD digest.Digest
	for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
		m := doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIManifest, ArtifactType: at, Config: &cfg, Layers: []core.Descriptor{cfg}, Subject: &subj}.bytes(t)
		if _, err := e.reg.PutManifest(bgctx, acct, "app", core.PutManifestInput{Reference: digest.FromBytes(m).String(), Body: m}); err != nil {
			t.Fatal(err)
		}
		if at == "application/vnd.example.sig" {
			sigD = digest.FromBytes(m)
		}
	}

	type index struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []core.Descriptor `json:"manifests"`
	}
	decode := func(w *httptest.ResponseRecorder) index {
		t.Helper()
		var ix index
		if err := json.Unmarshal(w.Body.Bytes(), &ix); err != nil {
			t.Fatal(err)
		}
		if ix.SchemaVersion != 2 || ix.MediaType != core.MediaTypeOCIIndex || w.Header().Get("Content-Type") != core.MediaTypeOCIIndex {
			t.Fatalf("referrers response %v %s", w.Header(), w.Body.String())
		}
		return ix
	}

	w := e.get("/v2/app/referrers/" + d.String())
	wantStatus(t, w, 200, "referrers")
	if ix := decode(w); len(ix.Manifests) != 2 || w.Header().Get("OCI-Filters-Applied") != "" {
		t.Fatalf("referrers %+v, filters %q", ix, w.Header().Get("OCI-Filters-Applied"))
	}
	w = e.get("/v2/app/referrers/" + d.String() + "?artifactType=application/vnd.example.sig")
	wantStatus(t, w, 200, "filtered referrers")
	ix := decode(w)
	if len(ix.Manifests) != 1 || ix.Manifests[0].Digest != sigD || ix.Manifests[0].ArtifactType != "application/vnd.example.sig" {
		t.Fatalf("filtered %+v", ix)
	}
	// Each entry is an OCI descriptor, spelled as the spec spells it (Go's
	// decoder would forgive other capitalisation; clients in other languages do not).
	var raw struct {
		Manifests []map[string]any `json:"manifests"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for k := range raw.Manifests[0] {
		if !slices.Contains([]string{"mediaType", "digest", "size", "artifactType", "annotations"}, k) {
			t.Fatalf("a referrers entry has the member %q: %s", k, w.Body.String())
		}
	}
	if raw.Manifests[0]["digest"] != sigD.String() || raw.Manifests[0]["mediaType"] != core.MediaTypeOCIManifest {
		t.Fatalf("referrers entry %v", raw.Manifests[0])
	}
	if w.Header().Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("OCI-Filters-Applied %q", w.Header().Get("OCI-Filters-Applied"))
	}
	// Unknown subject or repository: an empty index.
	for _, p := range []string{"/v2/app/referrers/" + digest.FromString("none").String(), "/v2/missing/referrers/" + d.String()} {
		w = e.get(p)
		wantStatus(t, w, 200, p)
		if !strings.Contains(w.Body.String(), `"manifests":[]`) {
			t.Fatalf("%s: %s", p, w.Body.String())
		}
	}
	wantError(t, e.get("/v2/app/referrers/sha256:bad"), 400, "DIGEST_INVALID", "malformed subject digest")
}

// The error document is byte for byte what encoding a map of it gave,
// HTML escaping and final newline included.
func TestErrorBodyIsTheSpecDocument(t *testing.T) {
	errs := []ociError{{Code: "MANIFEST_UNKNOWN", Message: `manifest 'a<b>&"c"' is not in repository 'x'`}, {Code: "DENIED", Message: "é\u2028"}}
	rec := httptest.NewRecorder()
	writeErrorBody(rec, http.StatusNotFound, errs...)
	var want bytes.Buffer
	json.NewEncoder(&want).Encode(map[string]any{"errors": errs})
	if rec.Body.String() != want.String() {
		t.Fatalf("body %q, want %q", rec.Body.String(), want.String())
	}
	if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// setHeaders sets what Header.Set would, whatever the keys' case, and each
// value stays its own: adding to one header leaves the others as they were.
func TestSetHeadersIsHeaderSet(t *testing.T) {
	got, want := http.Header{}, http.Header{}
	kv := []string{"Location", "/v2/a/blobs/x", "Docker-Upload-UUID", "u1", "etag", `"d"`, "Content-Length", "0"}
	setHeaders(got, kv...)
	for i := 0; i < len(kv); i += 2 {
		want.Set(kv[i], kv[i+1])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("setHeaders: %v, want %v", got, want)
	}
	got.Add("Location", "/elsewhere")
	if got.Get("Docker-Upload-UUID") != "u1" || len(got.Values("Location")) != 2 {
		t.Fatalf("an Add reached another header: %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { setHeaders(got, "Location", "a", "Content-Length", "0") }); n > 1 {
		t.Errorf("setHeaders allocates %v times, want 1", n)
	}
}

// A manifest GET sets Content-Length itself only when net/http could not:
// on the wire every answer has it, none is chunked, and a HEAD has it too,
// for a manifest below net/http's buffer and one above it.
func TestManifestGetSendsItsLengthOnTheWire(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	small := e.image(acct, "app", "small")
	// An index of many children is far larger than net/http's buffer.
	var children []core.Descriptor
	for i := range 40 {
		b := e.image(acct, "app", "child-"+strconv.Itoa(i))
		w := e.do(req{method: "PUT", path: "/v2/app/manifests/" + digest.FromBytes(b).String(), body: b, header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}})
		wantStatus(t, w, 201, "PUT child")
		children = append(children, core.Descriptor{MediaType: core.MediaTypeOCIManifest, Digest: digest.FromBytes(b), Size: int64(len(b))})
	}
	large := doc{SchemaVersion: 2, MediaType: core.MediaTypeOCIIndex, Manifests: children}.bytes(t)
	if len(small) >= netHTTPBuffered || len(large) <= netHTTPBuffered {
		t.Fatalf("sizes %d and %d do not straddle %d", len(small), len(large), netHTTPBuffered)
	}
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, c := range []struct {
		tag  string
		body []byte
		mt   string
	}{{"small", small, core.MediaTypeOCIManifest}, {"large", large, core.MediaTypeOCIIndex}} {
		w := e.do(req{method: "PUT", path: "/v2/app/manifests/" + c.tag, body: c.body, header: map[string]string{"Content-Type": c.mt}})
		wantStatus(t, w, 201, "PUT "+c.tag)
		for _, method := range []string{"GET", "HEAD"} {
			for range 2 { // the second answer reuses the first's header values
				hr, _ := http.NewRequest(method, srv.URL+"/v2/app/manifests/"+c.tag, nil)
				hr.SetBasicAuth("AWS", e.token)
				resp, err := srv.Client().Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := c.body
				if method == "HEAD" {
					want = nil
				}
				if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(c.body)) || resp.ContentLength != int64(len(c.body)) ||
					len(resp.TransferEncoding) != 0 || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != c.mt ||
					resp.Header.Get("Docker-Content-Digest") != digest.FromBytes(c.body).String() || resp.Header.Get("Etag") != `"`+digest.FromBytes(c.body).String()+`"` {
					t.Fatalf("%s %s: %d %v, %d bytes, transfer encoding %v", method, c.tag, resp.StatusCode, resp.Header, len(got), resp.TransferEncoding)
				}
			}
		}
	}
}

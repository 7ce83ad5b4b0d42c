package pullthrough

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var reg = coretest.RegA

// upstream is a live registry in the test (go-containerregistry's), which
// counts what it is asked for and can be made to fail, lie or demand a
// password.
type upstream struct {
	*httptest.Server
	host string

	mu     sync.Mutex
	counts map[string]int // "GET manifests", "HEAD manifests", "GET blobs", …

	status  atomic.Int32 // when set, every request is answered with it
	corrupt atomic.Bool  // blobs are sent with their bytes changed
	user    string       // when set, requests need basic auth user:password
	pass    string
	lies    map[string][]byte // path → a body served instead of the registry's
	liesHdr map[string]string // path → a Docker-Content-Digest served with it
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{counts: map[string]int{}, lies: map[string][]byte{}, liesHdr: map[string]string{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.Method+" "+kindOf(r.URL.Path)]++
		lie, lieHdr := u.lies[r.URL.Path], u.liesHdr[r.URL.Path]
		u.mu.Unlock()
		if s := u.status.Load(); s != 0 {
			http.Error(w, "the upstream is having a bad day", int(s))
			return
		}
		if u.user != "" {
			user, pass, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(user+":"+pass), []byte(u.user+":"+u.pass)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if lie != nil {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			if lieHdr != "" {
				w.Header().Set("Docker-Content-Digest", lieHdr)
			}
			w.Write(lie)
			return
		}
		if u.corrupt.Load() && r.Method == http.MethodGet && kindOf(r.URL.Path) == "blobs" {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			b := rec.Body.Bytes()
			if len(b) > 0 {
				b[len(b)/2] ^= 0xff
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(rec.Code)
			w.Write(b)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	u.host = strings.TrimPrefix(u.URL, "http://")
	t.Cleanup(u.Close)
	return u
}

// kindOf names what a /v2 path asks for.
func kindOf(path string) string {
	switch {
	case strings.Contains(path, "/manifests/"):
		return "manifests"
	case strings.Contains(path, "/blobs/"):
		return "blobs"
	}
	return path
}

func (u *upstream) count(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[key]
}

func (u *upstream) resetCounts() {
	u.mu.Lock()
	u.counts = map[string]int{}
	u.mu.Unlock()
}

// push writes an image into the upstream and returns it.
func (u *upstream) push(t testing.TB, repo, tag string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(u.host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{}
	if u.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: u.user, Password: u.pass}))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("pushing to the upstream: %v", err)
	}
	return img
}

// cache is a registry whose Upstream is a Service.
type cache struct {
	svc *Service
	f   *coretest.Fixture
	r   *core.Registry
}

// newCache builds a Service (credentials file content, if any) over a
// memory registry with the given authorizer (nil: AccountBoundary).
func newCache(t *testing.T, credentials string, authz core.Authorizer) *cache {
	t.Helper()
	file := ""
	if credentials != "" {
		file = filepath.Join(t.TempDir(), "credentials.yaml")
		if err := os.WriteFile(file, []byte(credentials), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := New(Options{Credentials: file, Refresh: DefaultRefresh})
	if err != nil {
		t.Fatal(err)
	}
	f := coretest.New(t, coretest.Memory, coretest.Options{Upstream: svc, Authorizer: authz})
	svc.clock = f.Clock
	svc.Bind(f.Registry())
	return &cache{svc: svc, f: f, r: f.Registry()}
}

func (c *cache) rule(t *testing.T, in Input) Rule {
	t.Helper()
	rule, err := c.svc.Create(coretest.AsRoot(reg), reg, in)
	if err != nil {
		t.Fatalf("Create(%+v): %v", in, err)
	}
	return rule
}

// pull reads an image through the cache as a client would: the manifest by
// tag, then each blob, checking every digest.
func (c *cache) pull(t *testing.T, repo, tag string, want v1.Image) {
	t.Helper()
	ctx := coretest.AsRoot(reg)
	m, body, err := c.r.GetManifest(ctx, reg, repo, tag, nil)
	if err != nil {
		t.Fatalf("GetManifest(%s:%s): %v", repo, tag, err)
	}
	wantDigest, _ := want.Digest()
	if m.Digest.String() != wantDigest.String() {
		t.Fatalf("pulled %s, want %s", m.Digest, wantDigest)
	}
	mf, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	descs := append([]v1.Descriptor{mf.Config}, mf.Layers...)
	for _, d := range descs {
		rd, err := c.r.OpenBlob(ctx, reg, repo, digestOf(d.Digest))
		if err != nil {
			t.Fatalf("OpenBlob(%s): %v", d.Digest, err)
		}
		b, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", d.Digest, err)
		}
		if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != d.Digest {
			t.Fatalf("blob %s came back as %s", d.Digest, got)
		}
	}
}

func bg() context.Context { return coretest.AsRoot(reg) }

package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/scanning"
	"github.com/berth-dev/berth/signing"
	"github.com/berth-dev/berth/templates"
	"github.com/opencontainers/go-digest"
)

// The registry every fuzzed request starts from. Its contents are fixed so
// that the seed corpus (testdata/fuzz/FuzzECRRequest) can name them: each
// operation's minimal valid body addresses these repositories, images,
// layers and upload sessions.
var (
	fuzzReg = coretest.RegA // 111111111111, us-east-1: the handler's default
	// fuzzLayer is a layer blob of "app": sha256("hello").
	fuzzLayer = digest.FromString("hello")
	// fuzzEmptyUpload is an upload session of "app" with no bytes yet, and
	// fuzzFullUpload one holding "abc" (sha256:ba7816bf…), ready to complete.
	fuzzEmptyUpload = "65e1c340-5b45-0fc0-5f28-9b89d65477a7"
	fuzzFullUpload  = "65e1c340-5b45-0fc1-0e04-cf45e2240b2e"
)

// fuzzOperations is the model's operation names in a fixed order.
var fuzzOperations = func() []string {
	names := make([]string, 0, len(operations))
	for name := range operations {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}()

// pickOperation maps any fuzzed string onto an operation of the model, so
// that mutations of the name still exercise a real decoder and validator
// (unknown names are a one-line path TestProtocolErrors covers).
func pickOperation(op string) string {
	if _, ok := operations[op]; ok {
		return op
	}
	h := fnv.New32a()
	h.Write([]byte(op))
	return fuzzOperations[h.Sum32()%uint32(len(fuzzOperations))]
}

// fuzzRegistry is a handler over a fresh registry holding the fixture, with
// the stores watched so that a test can tell whether a request changed
// anything.
type fuzzRegistry struct {
	h     *Handler
	f     *coretest.Fixture
	watch *storeWatch
}

func newFuzzRegistry(t testing.TB) *fuzzRegistry {
	t.Helper()
	w := &storeWatch{}
	f := coretest.New(t, coretest.Memory, coretest.Options{Core: func(o *core.Options) {
		w.kv, w.blobs = o.KV, o.Blobs
		o.KV = watchedKV{o.KV, w}
	}})
	f.CreateRepository(fuzzReg, "app")
	// Small hand-made images rather than coretest's gzipped ones: the
	// fixture is built for every input, and its cost is the fuzzer's speed.
	layer := f.PushBlob(fuzzReg, "app", []byte("hello"), coretest.MediaTypeLayer)
	image := func(tag, os string) coretest.Pushed {
		cfg := f.PushBlob(fuzzReg, "app", []byte(`{"architecture":"amd64","os":"`+os+`"}`), coretest.MediaTypeConfig)
		return f.PushManifest(fuzzReg, "app", tag, coretest.Document{MediaType: core.MediaTypeOCIManifest, Config: &cfg, Layers: []core.Descriptor{layer}}.Build())
	}
	img, other := image("latest", "linux"), image("", "windows")
	f.PushIndex(fuzzReg, "app", "multi", img, other)
	f.PushReferrer(fuzzReg, "app", img.Descriptor(), "application/vnd.example.sig", "sig")
	f.CreateRepository(fuzzReg, "empty")
	ctx := coretest.AsRoot(fuzzReg)
	r := f.Registry()
	for i, want := range []string{fuzzEmptyUpload, fuzzFullUpload} {
		st, err := r.StartUpload(ctx, fuzzReg, "app")
		if err != nil || st.ID != want {
			t.Fatalf("upload %d: id %q, %v; the seed corpus names %q", i, st.ID, err, want)
		}
	}
	if _, err := r.WriteUpload(ctx, fuzzReg, "app", fuzzFullUpload, 0, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	const policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`
	if _, err := r.UpdateRepository(ctx, fuzzReg, "app", func(repo *core.Repository) error { repo.Policy = policy; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.UpdateSettings(ctx, fuzzReg, func(s *core.RegistrySettings) error {
		s.Policy, s.PullTimeExclusions = policy, []string{"arn:aws:iam::111111111111:role/ci"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A lifecycle policy and a finished preview of it, so that the lifecycle
	// operations' seeds succeed; the policy acts on nothing in the fixture.
	const lifecyclePolicy = `{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	if _, err := r.UpdateRepository(ctx, fuzzReg, "app", func(repo *core.Repository) error { repo.LifecyclePolicy = lifecyclePolicy; return nil }); err != nil {
		t.Fatal(err)
	}
	lc := lifecycle.New(r, f.Clock, slog.New(slog.DiscardHandler))
	if _, err := lc.StartPreview(ctx, fuzzReg, "app", ""); err != nil {
		t.Fatal(err)
	}
	lc.WaitPreviews()
	// A creation template, so that the seeds updating and deleting it succeed.
	if _, err := templates.NewAttached(r, templates.Options{}).Create(ctx, fuzzReg,
		templates.Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush}}); err != nil {
		t.Fatal(err)
	}
	// A scan of latest, so that DescribeImageScanFindings' seed finds one
	// (it fails: the fixture loads no scanner plugin).
	sc := scanning.New(r, scanning.Config{Clock: f.Clock, Log: slog.New(slog.DiscardHandler)})
	if _, err := sc.StartScan(ctx, fuzzReg, "app", img.Image); err != nil {
		t.Fatal(err)
	}
	sc.Wait(context.Background())
	sc.Close()
	// A signing configuration, so that the seeds getting and deleting it succeed.
	if _, err := signing.New(r, signing.NewKeys("", f.Clock), f.Clock, slog.New(slog.DiscardHandler)).Put(ctx, fuzzReg,
		signing.Configuration{Rules: []signing.Rule{{SigningProfileArn: "arn:aws:signer:us-east-1:111111111111:/signing-profiles/fuzz"}}}); err != nil {
		t.Fatal(err)
	}
	w.arm()
	h := New(Config{Registry: r, Tokens: core.NewTokens([]byte("fuzz-secret-fuzz-secret-fuzz-sec"), f.Clock),
		DefaultAccount: fuzzReg.Account, Region: fuzzReg.Region, Log: slog.New(slog.DiscardHandler), Lifecycle: lc})
	return &fuzzRegistry{h: h, f: f, watch: w}
}

// storeWatch tells whether the stores hold anything other than what they
// held when it was armed. Every key a transaction writes or deletes is noted
// with the value it had before (rolled-back transactions too: the note is
// only ever the value before the first touch); the blob store is small
// enough to compare whole.
type storeWatch struct {
	kv    kv.Store
	blobs blob.Store

	mu      sync.Mutex
	armed   bool
	touched map[[2]string][]byte // bucket, key → value before (nil: absent)
	before  string
}

func (w *storeWatch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.touched, w.before = true, map[[2]string][]byte{}, w.blobState()
}

func (w *storeWatch) note(tx kv.Tx, bucket string, key []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := [2]string{bucket, string(key)}
	if _, seen := w.touched[k]; w.armed && !seen {
		w.touched[k] = bytes.Clone(tx.Get(bucket, key))
	}
}

// changes lists what differs from when the watch was armed.
func (w *storeWatch) changes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	w.kv.View(func(tx kv.Tx) error {
		for k, was := range w.touched {
			if now := tx.Get(k[0], []byte(k[1])); (now == nil) != (was == nil) || !bytes.Equal(now, was) {
				out = append(out, "kv "+k[0]+" "+k[1]+": "+string(was)+" → "+string(now))
			}
		}
		return nil
	})
	if now := w.blobState(); now != w.before {
		out = append(out, "blobs: "+w.before+" → "+now)
	}
	slices.Sort(out)
	return out
}

// blobState describes every blob and upload of the (memory) blob store.
func (w *storeWatch) blobState() string {
	var s []string
	w.blobs.Walk(func(d digest.Digest, size int64) error {
		s = append(s, "blob "+d.String()+" "+strconv.FormatInt(size, 10))
		return nil
	})
	w.blobs.ListUploads(func(id string) error {
		size := int64(-1)
		if up, err := w.blobs.ResumeUpload(id); err == nil {
			size = up.Size() // the memory store hands back the one session, untouched
		}
		s = append(s, "upload "+id+" "+strconv.FormatInt(size, 10))
		return nil
	})
	slices.Sort(s)
	return strings.Join(s, ", ")
}

type watchedKV struct {
	kv.Store
	w *storeWatch
}

func (s watchedKV) Update(fn func(kv.Tx) error) error {
	return s.Store.Update(func(tx kv.Tx) error { return fn(watchedTx{tx, s.w}) })
}

func (s watchedKV) Batch(fn func(kv.Tx) error) error {
	return s.Store.Batch(func(tx kv.Tx) error { return fn(watchedTx{tx, s.w}) })
}

type watchedTx struct {
	kv.Tx
	w *storeWatch
}

func (tx watchedTx) Put(bucket string, key, value []byte) error {
	tx.w.note(tx.Tx, bucket, key)
	return tx.Tx.Put(bucket, key, value)
}

func (tx watchedTx) Delete(bucket string, key []byte) error {
	tx.w.note(tx.Tx, bucket, key)
	return tx.Tx.Delete(bucket, key)
}

// postJSON sends one JSON 1.1 request as the default account's root.
func (fr *fuzzRegistry) postJSON(op string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+fuzzReg.Account+"/20240301/"+fuzzReg.Region+"/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	rec := httptest.NewRecorder()
	fr.h.ServeHTTP(rec, req)
	return rec
}

// FuzzECRRequest sends an operation of the model with any body through the
// real handler, over a registry holding a little of everything. Whatever
// the body, the answer is JSON 1.1: a success (200, the protocol's content
// type, a JSON object) or an error (4xx, a JSON object whose __type is the
// X-Amzn-Errortype header, with a message) — never a server fault — and a
// request answered with an error changed nothing in the registry.
func FuzzECRRequest(f *testing.F) {
	f.Add("CreateRepository", []byte(`{"repositoryName":"new"}`))
	f.Add("DescribeImages", []byte(`{"repositoryName":"app"}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		op = pickOperation(op)
		fr := newFuzzRegistry(t)
		rec := fr.postJSON(op, body)
		res := rec.Result()
		got, _ := io.ReadAll(res.Body)
		if ct := res.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("%s %q: %d with Content-Type %q", op, body, res.StatusCode, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(got, &out); err != nil || out == nil {
			t.Fatalf("%s %q: %d with a body that is not a JSON object (%v): %q", op, body, res.StatusCode, err, got)
		}
		switch {
		case res.StatusCode == http.StatusOK:
			return
		case res.StatusCode >= 500:
			t.Fatalf("%s %q: server fault %d: %s", op, body, res.StatusCode, got)
		case res.StatusCode < 400:
			t.Fatalf("%s %q: status %d", op, body, res.StatusCode)
		}
		typ, _ := out["__type"].(string)
		if typ == "" || typ != res.Header.Get("X-Amzn-Errortype") {
			t.Fatalf("%s %q: error __type %q, X-Amzn-Errortype %q", op, body, typ, res.Header.Get("X-Amzn-Errortype"))
		}
		if _, ok := out["message"].(string); !ok {
			t.Fatalf("%s %q: error without a message: %s", op, body, got)
		}
		if changed := fr.watch.changes(); len(changed) > 0 {
			t.Fatalf("%s %q answered %s but changed the registry:\n%s", op, body, got, strings.Join(changed, "\n"))
		}
	})
}

// The watch FuzzECRRequest relies on sees no change when a request is
// refused, and sees one in the metadata or in the blob store when there is.
func TestStoreWatchSeesChanges(t *testing.T) {
	fr := newFuzzRegistry(t)
	if rec := fr.postJSON("CreateRepository", []byte(`{"repositoryName":"app"}`)); rec.Code != 400 || len(fr.watch.changes()) > 0 {
		t.Fatalf("refused CreateRepository: %d, changes %q", rec.Code, fr.watch.changes())
	}
	if rec := fr.postJSON("CreateRepository", []byte(`{"repositoryName":"new"}`)); rec.Code != 200 || len(fr.watch.changes()) == 0 {
		t.Fatalf("CreateRepository: %d, no change seen", rec.Code)
	}
	fr = newFuzzRegistry(t)
	body := `{"repositoryName":"app","uploadId":"` + fuzzEmptyUpload + `","partFirstByte":0,"partLastByte":2,"layerPartBlob":"YWJj"}`
	if rec := fr.postJSON("UploadLayerPart", []byte(body)); rec.Code != 200 || !slices.ContainsFunc(fr.watch.changes(), func(c string) bool { return strings.HasPrefix(c, "blobs:") }) {
		t.Fatalf("UploadLayerPart: %d, changes %q", rec.Code, fr.watch.changes())
	}
}

// The seed corpus holds a minimal valid body for every operation of the
// model, and each one berth implements succeeds on the fixture, so that the
// fuzzer starts from every success path and not only from the errors around
// them. A model or fixture change that breaks a seed fails here, by name.
func TestECRSeedCorpusHasAValidBodyForEveryOperation(t *testing.T) {
	seeds := readCorpus(t, "testdata/fuzz/FuzzECRRequest")
	for _, op := range fuzzOperations {
		vals, ok := seeds["valid-"+op]
		if !ok {
			t.Errorf("%s: no seed valid-%s", op, op)
			continue
		}
		if got, _ := vals[0].(string); got != op {
			t.Errorf("valid-%s names operation %q", op, got)
			continue
		}
		body := vals[1].([]byte)
		rec := newFuzzRegistry(t).postJSON(op, body)
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		_, implemented := (&Handler{}).operations()[op]
		switch {
		case implemented && rec.Code != http.StatusOK:
			t.Errorf("%s %s: %d %v", op, body, rec.Code, out)
		case !implemented && out["__type"] != "UnknownOperationException":
			t.Errorf("%s %s: %d %v, want the body accepted and the operation unknown", op, body, rec.Code, out)
		}
	}
}

// readCorpus reads a fuzz corpus directory of string and []byte values,
// by file name.
func readCorpus(t *testing.T, dir string) map[string][]any {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]any{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a corpus file", e.Name())
		}
		var vals []any
		for _, l := range lines[1:] {
			lit, isBytes := strings.CutPrefix(l, "[]byte(")
			if !isBytes {
				lit, _ = strings.CutPrefix(l, "string(")
			}
			s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				t.Fatalf("%s: %q: %v", e.Name(), l, err)
			}
			if isBytes {
				vals = append(vals, []byte(s))
			} else {
				vals = append(vals, s)
			}
		}
		out[e.Name()] = vals
	}
	return out
}

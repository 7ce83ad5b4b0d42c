package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// The crash tests kill berth with SIGKILL at bad moments — a chunk half
// received, blob completions and manifest pushes in flight, a burst of
// PutImage calls — start it again on the same data dir, and check that
// everything it acknowledged is there, whole, on both surfaces; that what it
// did not acknowledge is there whole or not at all; and that it starts
// cleanly each time. They check outcomes only, never how long anything took.

// crashIterations is how many times each crash test kills berth.
const crashIterations = 5

func skipCrashTestUnderShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("crash test: kills berth with SIGKILL and restarts it several times; skipped under -short")
	}
}

// crashRand returns a test's random source, seeded from BERTH_CRASH_SEED or
// the clock; the seed is logged, so that a failure's content and kill points
// can be replayed (when the kill lands still depends on timing).
func crashRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BERTH_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BERTH_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (BERTH_CRASH_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// chachaFrom derives an independent byte source from rng (one per goroutine).
func chachaFrom(rng *rand.Rand) *rand.ChaCha8 {
	var s [32]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return rand.NewChaCha8(s)
}

func bytesFrom(src *rand.ChaCha8, n int) []byte {
	b := make([]byte, n)
	src.Read(b)
	return b
}

// expectCleanStart fails if berth, started again after a kill, logged a
// warning or an error: it must find nothing damaged to complain about.
func expectCleanStart(t *testing.T, b *Berth) {
	t.Helper()
	for _, line := range strings.Split(b.Stderr(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Errorf("berth, started again after SIGKILL, logged: %s", line)
		}
	}
}

// expectSoundBlobStore checks every blob file in the data dir against its
// name: a crash must never leave partial bytes under a digest. It returns
// how many blobs there are.
func expectSoundBlobStore(t *testing.T, b *Berth) int {
	t.Helper()
	root := filepath.Join(b.DataDir, "blobs")
	n := 0
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if alg, _, _ := strings.Cut(rel, string(filepath.Separator)); alg != "sha256" {
			t.Errorf("blob store: unexpected file %s", rel)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("blob store: %s holds content that hashes to sha256:%s", rel, got)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("walking the blob store: %v", err)
	}
	return n
}

// ---- a client that reports failures instead of failing the test -----------

// crashClient sends /v2 requests that may fail because berth was killed: it
// returns errors, so that it can run on any goroutine, and has checking
// wrappers for the test's own goroutine.
type crashClient struct {
	base  string
	token string
	tr    *http.Transport
	hc    *http.Client
}

func newCrashClient(t testing.TB, b *Berth, token string) *crashClient {
	tr := newTransport(t, b)
	return &crashClient{base: b.URL, token: token, tr: tr, hc: &http.Client{Transport: tr}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// statusError is an answer other than the one expected.
type statusError struct {
	what string
	r    reply
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.what, e.r.status, e.r.body)
}

// call sends one request; size is the body's length. An error means the
// request or its answer did not get through.
func (c *crashClient) call(method, target string, body io.Reader, size int64, hdr map[string]string) (reply, error) {
	if strings.HasPrefix(target, "/") {
		target = c.base + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	req.SetBasicAuth("AWS", c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// expectStatus is call, with any other status than want as a *statusError.
func (c *crashClient) expectStatus(what string, want int, method, target string, body []byte, hdr map[string]string) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := c.call(method, target, rd, int64(len(body)), hdr)
	if err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	if r.status != want {
		return r, &statusError{what: what, r: r}
	}
	return r, nil
}

// mustOK fails the test on an error (on the test's goroutine only).
func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mustStatus is expectStatus, failing the test on an error.
func (c *crashClient) mustStatus(t testing.TB, what string, want int, method, target string, body []byte, hdr map[string]string) reply {
	t.Helper()
	r, err := c.expectStatus(what, want, method, target, body, hdr)
	mustOK(t, err)
	return r
}

// mustStart opens an upload session in repo and returns its location.
func (c *crashClient) mustStart(t testing.TB, repo string) string {
	t.Helper()
	loc, err := c.startUpload(repo)
	mustOK(t, err)
	return loc
}

// startUpload opens a session in repo and returns its location.
func (c *crashClient) startUpload(repo string) (string, error) {
	r, err := c.expectStatus("start an upload in "+repo, http.StatusAccepted, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", err
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/") {
		return "", fmt.Errorf("start an upload in %s: Location %q", repo, loc)
	}
	return loc, nil
}

// patch sends content[from:to] as one chunk and checks the progress reported.
func (c *crashClient) patch(loc string, content []byte, from, to int) error {
	what := fmt.Sprintf("PATCH bytes %d-%d", from, to-1)
	r, err := c.expectStatus(what, http.StatusAccepted, http.MethodPatch, loc, content[from:to], map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", from, to-1),
	})
	if err != nil {
		return err
	}
	if got, want := r.header.Get("Range"), rangeOf(to); got != want {
		return fmt.Errorf("%s: Range %q, want %q", what, got, want)
	}
	return nil
}

// rangeOf is the Range header of an upload holding size bytes.
func rangeOf(size int) string {
	if size == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}

// complete ends the session at loc with a PUT ?digest= carrying last (nil:
// no body), and checks the digest berth reports.
func (c *crashClient) complete(loc, dg string, last []byte) error {
	hdr := map[string]string{"Content-Type": "application/octet-stream"}
	r, err := c.expectStatus("complete an upload with PUT ?digest=", http.StatusCreated, http.MethodPut, withQuery(loc, "digest", dg), last, hdr)
	if err != nil {
		return err
	}
	if got := r.header.Get("Docker-Content-Digest"); got != dg {
		return fmt.Errorf("PUT ?digest=%s: Docker-Content-Digest %q", dg, got)
	}
	return nil
}

// pushBlob uploads content to repo in one of three ways, by mode: a
// monolithic POST ?digest=, a POST then a PUT ?digest= with the bytes, or a
// POST, a PATCH and an empty PUT ?digest=.
func (c *crashClient) pushBlob(repo string, content []byte, mode int) error {
	dg := sha256Digest(content)
	if mode%3 == 0 {
		r, err := c.expectStatus("monolithic upload", http.StatusCreated, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+dg, content,
			map[string]string{"Content-Type": "application/octet-stream"})
		if err == nil && r.header.Get("Docker-Content-Digest") != dg {
			err = fmt.Errorf("monolithic upload of %s: Docker-Content-Digest %q", dg, r.header.Get("Docker-Content-Digest"))
		}
		return err
	}
	loc, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	if mode%3 == 1 {
		return c.complete(loc, dg, content)
	}
	if err := c.patch(loc, content, 0, len(content)); err != nil {
		return err
	}
	return c.complete(loc, dg, nil)
}

func (c *crashClient) putManifest(repo, ref string, manifest []byte) error {
	r, err := c.expectStatus("PUT manifest "+repo+":"+ref, http.StatusCreated, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, manifest,
		map[string]string{"Content-Type": mtOCIManifest})
	if err == nil && r.header.Get("Docker-Content-Digest") != sha256Digest(manifest) {
		err = fmt.Errorf("PUT manifest %s:%s: Docker-Content-Digest %q", repo, ref, r.header.Get("Docker-Content-Digest"))
	}
	return err
}

func (c *crashClient) expectBlob(t *testing.T, repo, dg string, want []byte) {
	t.Helper()
	r := c.mustStatus(t, "GET blob "+dg+" from "+repo, http.StatusOK, http.MethodGet, "/v2/"+repo+"/blobs/"+dg, nil, nil)
	if !bytes.Equal(r.body, want) {
		t.Fatalf("blob %s in %s: got %d bytes (%s), want %d bytes", dg, repo, len(r.body), sha256Digest(r.body), len(want))
	}
}

// tags lists repo's tags over /v2, following Link headers.
func (c *crashClient) tags(t *testing.T, repo string) []string {
	t.Helper()
	var all []string
	next := "/v2/" + repo + "/tags/list?n=500"
	for next != "" {
		r := c.mustStatus(t, "list tags of "+repo, http.StatusOK, http.MethodGet, next, nil, nil)
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("tags of %s: %v: %s", repo, err, r.body)
		}
		all = append(all, page.Tags...)
		next = ""
		if m := linkNext.FindStringSubmatch(r.header.Get("Link")); m != nil {
			next = m[1]
		}
	}
	return all
}

// manifest fetches a manifest by tag or digest over /v2.
func (c *crashClient) manifest(t *testing.T, repo, ref string) (string, []byte) {
	t.Helper()
	r := c.mustStatus(t, "GET manifest "+repo+":"+ref, http.StatusOK, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil,
		map[string]string{"Accept": mtOCIManifest})
	dg := r.header.Get("Docker-Content-Digest")
	if dg != sha256Digest(r.body) {
		t.Fatalf("manifest %s:%s: Docker-Content-Digest %q for content %s", repo, ref, dg, sha256Digest(r.body))
	}
	return dg, r.body
}

// ---- a ledger of what was pushed and what was acknowledged -----------------

// crashImage is an image a test pushes: a config and layers, and the
// manifest naming them.
type crashImage struct {
	manifest []byte
	digest   string
	blobs    [][]byte // config, then layers
}

// newCrashImage builds an image of a unique config, the shared layer base
// (if any) and, if unique, a layer of its own of random size.
func newCrashImage(src *rand.ChaCha8, base []byte, unique bool) crashImage {
	var img crashImage
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"nonce":"%x"}},"rootfs":{"type":"layers","diff_ids":[]}}`, bytesFrom(src, 8))
	img.blobs = append(img.blobs, cfg)
	m := manifestDoc{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &descriptor{MediaType: mtOCIConfig, Digest: sha256Digest(cfg), Size: int64(len(cfg))}}
	var layers [][]byte
	if base != nil {
		layers = append(layers, base)
	}
	if unique {
		layers = append(layers, bytesFrom(src, 200+int(src.Uint64()%24_000)))
	}
	for _, l := range layers {
		img.blobs = append(img.blobs, l)
		m.Layers = append(m.Layers, descriptor{MediaType: mtOCILayer, Digest: sha256Digest(l), Size: int64(len(l))})
	}
	img.manifest = []byte(m.String())
	img.digest = sha256Digest(img.manifest)
	return img
}

// crashLedger records, across kills, every blob upload berth acknowledged,
// every image push tried (and whether it was acknowledged), and every push
// of each tag in order. Its methods are safe for concurrent use.
type crashLedger struct {
	mu     sync.Mutex
	blobs  map[repoDigest][]byte      // acknowledged uploads
	images map[repoDigest]*pushRecord // tried manifest pushes
	tags   map[repoTag][]tagPush      // each tag's pushes, in order
	repos  map[string]bool
}

type repoDigest struct{ repo, digest string }
type repoTag struct{ repo, tag string }

type pushRecord struct {
	img   crashImage
	acked bool
}

type tagPush struct {
	digest string
	acked  bool
}

func newCrashLedger(repos ...string) *crashLedger {
	l := &crashLedger{blobs: map[repoDigest][]byte{}, images: map[repoDigest]*pushRecord{}, tags: map[repoTag][]tagPush{}, repos: map[string]bool{}}
	for _, r := range repos {
		l.repos[r] = true
	}
	return l
}

func (l *crashLedger) blobAcked(repo string, content []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blobs[repoDigest{repo, sha256Digest(content)}] = content
}

// pushing records a push of img to repo (with tag, unless empty) about to be sent.
func (l *crashLedger) pushing(repo string, img crashImage, tag string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := repoDigest{repo, img.digest}
	if l.images[k] == nil {
		l.images[k] = &pushRecord{img: img}
	}
	if tag != "" {
		l.tags[repoTag{repo, tag}] = append(l.tags[repoTag{repo, tag}], tagPush{digest: img.digest})
	}
}

// pushAcked records that the last push of img (with tag) was acknowledged.
func (l *crashLedger) pushAcked(repo string, img crashImage, tag string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.images[repoDigest{repo, img.digest}].acked = true
	if tag != "" {
		pushes := l.tags[repoTag{repo, tag}]
		pushes[len(pushes)-1].acked = true
	}
}

// counts returns how many image pushes were tried and acknowledged.
func (l *crashLedger) counts() (tried, acked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.images {
		tried++
		if p.acked {
			acked++
		}
	}
	return tried, acked
}

// verify checks berth against the ledger, through /v2 and the ECR API:
//   - every acknowledged blob upload is served byte for byte;
//   - every acknowledged image is listed by DescribeImages, served by
//     BatchGetImage and by /v2 by digest, with all its blobs;
//   - every image either surface knows of was pushed, is served whole by
//     both, and every blob it names is served byte for byte (a push that was
//     not acknowledged is there whole or not at all);
//   - /v2 and DescribeImages agree on every tag and the image it names;
//   - a tag names the image of its last acknowledged push or of a later one
//     tried, and is missing only if no push of it was acknowledged.
func (l *crashLedger) verify(t *testing.T, b *Berth, token string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := newCrashClient(t, b, token)
	s := defaultSDK(t, b)
	wantBlobs := maps.Clone(l.blobs)
	for _, repo := range slices.Sorted(maps.Keys(l.repos)) {
		v2Tags := map[string]string{}
		for _, tag := range c.tags(t, repo) {
			v2Tags[tag], _ = c.manifest(t, repo, tag)
		}
		ecrTags, listed := map[string]string{}, map[string]bool{}
		pages := ecr.NewDescribeImagesPaginator(s.ecr, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(1000)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(s.ctx)
			noErr(t, "DescribeImages "+repo, err)
			for _, d := range out.ImageDetails {
				dg := aws.ToString(d.ImageDigest)
				listed[dg] = true
				for _, tag := range d.ImageTags {
					ecrTags[tag] = dg
				}
			}
		}
		if !maps.Equal(v2Tags, ecrTags) {
			t.Fatalf("%s: /v2 and DescribeImages disagree on the tags:\n/v2  %v\nECR  %v", repo, v2Tags, ecrTags)
		}

		// Every image there was pushed, and is whole.
		for _, dg := range slices.Sorted(maps.Keys(listed)) {
			p := l.images[repoDigest{repo, dg}]
			if p == nil {
				t.Fatalf("%s: DescribeImages lists %s, which was never pushed", repo, dg)
			}
			if _, body := c.manifest(t, repo, dg); !bytes.Equal(body, p.img.manifest) {
				t.Fatalf("%s@%s: /v2 serves other manifest bytes than were pushed", repo, dg)
			}
			for _, blob := range p.img.blobs {
				wantBlobs[repoDigest{repo, sha256Digest(blob)}] = blob
			}
		}
		ids := make([]types.ImageIdentifier, 0, len(listed))
		for dg := range listed {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(dg)})
		}
		for batch := range slices.Chunk(ids, 100) {
			out, err := s.ecr.BatchGetImage(s.ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo), ImageIds: batch, AcceptedMediaTypes: []string{mtOCIManifest}})
			noErr(t, "BatchGetImage "+repo, err)
			if len(out.Failures) > 0 || len(out.Images) != len(batch) {
				t.Fatalf("%s: BatchGetImage of %d listed images: %d images, failures %+v", repo, len(batch), len(out.Images), out.Failures)
			}
			for _, img := range out.Images {
				dg := aws.ToString(img.ImageId.ImageDigest)
				if p := l.images[repoDigest{repo, dg}]; p == nil || aws.ToString(img.ImageManifest) != string(p.img.manifest) {
					t.Fatalf("%s: BatchGetImage answers other manifest bytes for %s than were pushed", repo, dg)
				}
			}
		}

		// Every acknowledged image is there.
		for k, p := range l.images {
			if k.repo == repo && p.acked && !listed[k.digest] {
				t.Fatalf("%s: the push of %s was acknowledged, but DescribeImages does not list it", repo, k.digest)
			}
		}
		// Every tag is where its pushes left it.
		for k, pushes := range l.tags {
			if k.repo != repo {
				continue
			}
			last := -1
			for i, p := range pushes {
				if p.acked {
					last = i
				}
			}
			got, ok := v2Tags[k.tag]
			var allowed []string
			for _, p := range pushes[max(last, 0):] {
				allowed = append(allowed, p.digest)
			}
			switch {
			case !ok && last >= 0:
				t.Fatalf("%s: tag %s is missing, but its push of %s was acknowledged", repo, k.tag, pushes[last].digest)
			case ok && !slices.Contains(allowed, got):
				t.Fatalf("%s: tag %s names %s, want one of %v (its last acknowledged push, or a later one)", repo, k.tag, got, allowed)
			}
		}
		for tag := range v2Tags {
			if _, ok := l.tags[repoTag{repo, tag}]; !ok {
				t.Fatalf("%s: tag %s was never pushed", repo, tag)
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(wantBlobs), func(a, b repoDigest) int {
		return strings.Compare(a.repo+a.digest, b.repo+b.digest)
	}) {
		c.expectBlob(t, k.repo, k.digest, wantBlobs[k])
	}
}

// killWhen runs the pushes, kills berth once kill is closed (or they all
// end), and waits for them to stop.
func killWhen(t *testing.T, b *Berth, kill <-chan struct{}, pushes *sync.WaitGroup) (killedMidway bool) {
	t.Helper()
	done := make(chan struct{})
	go func() { pushes.Wait(); close(done) }()
	select {
	case <-kill:
		killedMidway = true
	case <-done:
	}
	b.Kill()
	<-done
	return killedMidway
}

// ---- 2. blob completions and manifest pushes in flight ---------------------

// TestAcknowledgedPushesSurviveKillMidCommit kills berth while 16 clients
// push small images over /v2 — blobs by monolithic POST, by PUT ?digest=
// with the bytes, or by PATCH and an empty PUT ?digest=, a layer all images
// share among them; manifests PUT by a tag of their own, then by a tag each
// client moves — after a varying number of manifest pushes were
// acknowledged. After every restart the ledger's checks hold (see verify):
// acknowledged images pull by digest and tag with all their blobs, /v2 and
// the ECR API agree, and the rest is whole or absent.
func TestAcknowledgedPushesSurviveKillMidCommit(t *testing.T) {
	skipCrashTestUnderShort(t)
	t.Parallel()
	rng := crashRand(t)
	b := Start(t)
	token := b.Token("")
	repos := []string{"crash/commit-a", "crash/commit-b", "crash/commit-c", "crash/commit-d"}
	s := defaultSDK(t, b)
	for _, r := range repos {
		s.createRepo(r)
	}
	led := newCrashLedger(repos...)
	base := bytesFrom(chachaFrom(rng), 48_000)
	const clients = 16
	for iter := range crashIterations {
		killAfter := 1 + rng.IntN(64)
		var (
			acked    atomic.Int32
			kill     = make(chan struct{})
			killOnce sync.Once
			pushes   sync.WaitGroup
		)
		for w := range clients {
			c := newCrashClient(t, b, token)
			src := chachaFrom(rng)
			repo := repos[w%len(repos)]
			moving := fmt.Sprintf("i%d-c%d-latest", iter, w)
			pushes.Add(1)
			go func() {
				defer pushes.Done()
				// fail reports an error that is not berth going away.
				fail := func(err error) {
					if se := (*statusError)(nil); errors.As(err, &se) {
						t.Errorf("client %d: %v", w, err)
					}
				}
				for n := range 200 {
					img := newCrashImage(src, base, true)
					for i, blob := range img.blobs {
						if err := c.pushBlob(repo, blob, n+i+w); err != nil {
							fail(err)
							return
						}
						led.blobAcked(repo, blob)
					}
					for _, tag := range []string{fmt.Sprintf("i%d-c%d-%d", iter, w, n), moving} {
						led.pushing(repo, img, tag)
						if err := c.putManifest(repo, tag, img.manifest); err != nil {
							fail(err)
							return
						}
						led.pushAcked(repo, img, tag)
						if int(acked.Add(1)) == killAfter {
							killOnce.Do(func() { close(kill) })
						}
					}
				}
			}()
		}
		midway := killWhen(t, b, kill, &pushes)
		tried, ok := led.counts()
		t.Logf("iteration %d: killed after %d acknowledged manifest pushes (midway: %v); %d images tried, %d acknowledged in all", iter, killAfter, midway, tried, ok)
		b.StartAgain()
		led.verify(t, b, token)
		expectSoundBlobStore(t, b)
		expectCleanStart(t, b)
	}
	b.Restart()
	led.verify(t, b, token)
}

// ---- 3. a burst of PutImage --------------------------------------------------

// TestAcknowledgedPutImagesSurviveKillMidBurst has 16 clients upload the
// blobs of 8 images each (a config of their own, a layer they share) through
// the ECR layer API and then, all at once, PutImage them (most with a tag,
// some without), and kills berth after a varying number of PutImage calls
// were acknowledged. After every restart the ledger's checks hold (see
// verify): every acknowledged image is there with its tag, through both
// surfaces, and the rest is whole or absent.
func TestAcknowledgedPutImagesSurviveKillMidBurst(t *testing.T) {
	skipCrashTestUnderShort(t)
	t.Parallel()
	rng := crashRand(t)
	b := Start(t)
	repos := []string{"crash/burst-a", "crash/burst-b"}
	s := defaultSDK(t, b)
	for _, r := range repos {
		s.createRepo(r)
	}
	token := s.token()
	led := newCrashLedger(repos...)
	base := bytesFrom(chachaFrom(rng), 64_000)
	baseDigest := sha256Digest(base)
	const clients, perClient = 16, 8
	for iter := range crashIterations {
		s := defaultSDK(t, b)
		for _, r := range repos {
			s.ensureLayer(r, base)
			led.blobAcked(r, base)
		}
		killAfter := 1 + rng.IntN(clients*perClient*3/4)
		var (
			acked    atomic.Int32
			kill     = make(chan struct{})
			killOnce sync.Once
			ready    sync.WaitGroup // every client has uploaded its blobs
			burst    = make(chan struct{})
			pushes   sync.WaitGroup
		)
		for w := range clients {
			sc := defaultSDK(t, b)
			src := chachaFrom(rng)
			repo := repos[w%len(repos)]
			ready.Add(1)
			pushes.Add(1)
			go func() {
				defer pushes.Done()
				// The blobs first, through the layer API.
				var imgs []crashImage
				for range perClient {
					img := newCrashImage(src, base, false)
					for _, blob := range img.blobs {
						if sha256Digest(blob) == baseDigest {
							continue
						}
						if _, err := uploadLayerOnce(sc, repo, blob); err != nil {
							t.Errorf("client %d: uploading a layer before the burst: %v", w, err)
							ready.Done()
							return
						}
						led.blobAcked(repo, blob)
					}
					imgs = append(imgs, img)
				}
				ready.Done()
				<-burst
				for n, img := range imgs {
					in := &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(string(img.manifest))}
					tag := ""
					if (w+n)%5 != 0 {
						tag = fmt.Sprintf("b%d-c%d-%d", iter, w, n)
						in.ImageTag = aws.String(tag)
					}
					led.pushing(repo, img, tag)
					out, err := sc.ecr.PutImage(sc.ctx, in)
					if err != nil {
						if errors.As(err, new(smithy.APIError)) {
							t.Errorf("client %d: PutImage: %v", w, err)
						}
						return
					}
					if got := aws.ToString(out.Image.ImageId.ImageDigest); got != img.digest {
						t.Errorf("client %d: PutImage answered digest %s, want %s", w, got, img.digest)
						return
					}
					led.pushAcked(repo, img, tag)
					if int(acked.Add(1)) == killAfter {
						killOnce.Do(func() { close(kill) })
					}
				}
			}()
		}
		ready.Wait()
		if t.Failed() {
			close(burst)
			pushes.Wait()
			t.FailNow()
		}
		close(burst)
		midway := killWhen(t, b, kill, &pushes)
		t.Logf("iteration %d: killed after %d acknowledged PutImage calls (midway: %v); %d acknowledged by then", iter, killAfter, midway, acked.Load())
		b.StartAgain()
		led.verify(t, b, token)
		expectSoundBlobStore(t, b)
		expectCleanStart(t, b)
	}
	b.Restart()
	led.verify(t, b, token)
}

// uploadLayerOnce uploads data through InitiateLayerUpload, UploadLayerPart
// and CompleteLayerUpload, returning errors rather than failing the test
// (it runs on the clients' goroutines).
func uploadLayerOnce(s *sdk, repo string, data []byte) (string, error) {
	init, err := s.ecr.InitiateLayerUpload(s.ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String(repo)})
	if err != nil {
		return "", err
	}
	_, err = s.ecr.UploadLayerPart(s.ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: init.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(int64(len(data) - 1)), LayerPartBlob: data})
	if err != nil {
		return "", err
	}
	dg := sha256Digest(data)
	out, err := s.ecr.CompleteLayerUpload(s.ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: init.UploadId, LayerDigests: []string{dg}})
	if err != nil {
		return "", err
	}
	if got := aws.ToString(out.LayerDigest); got != dg {
		return "", fmt.Errorf("CompleteLayerUpload: layerDigest %q, want %q", got, dg)
	}
	return dg, nil
}

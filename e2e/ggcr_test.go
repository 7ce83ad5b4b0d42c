package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// compareImages checks that got (pulled) is exactly want (pushed): manifest
// digest and bytes, config, and every layer's digest and bytes.
func compareImages(t testing.TB, want, got v1.Image) {
	t.Helper()
	wd, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if wd != gd {
		t.Fatalf("manifest digest: pulled %s, pushed %s", gd, wd)
	}
	wm, _ := want.RawManifest()
	gm, err := got.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wm, gm) {
		t.Fatalf("manifest bytes differ:\npushed %s\npulled %s", wm, gm)
	}
	wc, _ := want.RawConfigFile()
	gc, err := got.RawConfigFile()
	if err != nil {
		t.Fatalf("pulling config: %v", err)
	}
	if !bytes.Equal(wc, gc) {
		t.Fatalf("config bytes differ")
	}
	wl, err := want.Layers()
	if err != nil {
		t.Fatal(err)
	}
	gl, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(wl) != len(gl) {
		t.Fatalf("pulled %d layers, pushed %d", len(gl), len(wl))
	}
	for i := range wl {
		wdg, _ := wl[i].Digest()
		gdg, err := gl[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		if wdg != gdg {
			t.Fatalf("layer %d: digest %s, want %s", i, gdg, wdg)
		}
		wb := readAll(t, wl[i].Compressed)
		gb := readAll(t, gl[i].Compressed)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("layer %d (%s): pulled %d bytes differ from the %d pushed", i, wdg, len(gb), len(wb))
		}
		// The bytes themselves must hash to the digest (the server served the right blob).
		if h, _, _ := v1.SHA256(bytes.NewReader(gb)); h != wdg {
			t.Fatalf("layer %d: pulled bytes hash to %s, want %s", i, h, wdg)
		}
	}
}

func readAll(t testing.TB, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGGCRImageRoundTrip pushes a random multi-layer image and pulls it back
// by tag and by digest.
func TestGGCRImageRoundTrip(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	opts := ggcr(newTransport(t, b), b.Token(""))
	img, err := random.Image(3000, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "ggcr/image:v1"), img, opts...); err != nil {
		t.Fatalf("push: %v", err)
	}
	dg, _ := img.Digest()
	for _, r := range []string{"ggcr/image:v1", "ggcr/image@" + dg.String()} {
		got, err := remote.Image(ref(t, b, r), opts...)
		if err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
		compareImages(t, img, got)
	}
	// The descriptor served for the tag has the pushed size and media type.
	desc, err := remote.Head(ref(t, b, "ggcr/image:v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	size, _ := img.Size()
	if desc.Digest != dg || desc.MediaType != mt || desc.Size != size {
		t.Fatalf("HEAD: %+v, want digest %s media type %s size %d", desc, dg, mt, size)
	}
}

// TestGGCRPullsLargeLayersFromDisk pushes layers of several MiB into berth
// on disk and pulls them back byte for byte: a blob file of 1 MiB or more is
// served from a mapping of the file (core/blob), the rest with sendfile.
func TestGGCRPullsLargeLayersFromDisk(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	opts := ggcr(newTransport(t, b), b.Token(""))
	img, err := random.Image(3<<20+777, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "ggcr/large:v1"), img, opts...); err != nil {
		t.Fatalf("push: %v", err)
	}
	got, err := remote.Image(ref(t, b, "ggcr/large:v1"), opts...)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	compareImages(t, img, got)
}

// TestGGCRIndexRoundTrip pushes a random index (each child with its layers)
// and pulls every part back.
func TestGGCRIndexRoundTrip(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	opts := ggcr(newTransport(t, b), b.Token(""))
	idx, err := random.Index(2000, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref(t, b, "ggcr/index:multi"), idx, opts...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	got, err := remote.Index(ref(t, b, "ggcr/index:multi"), opts...)
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	wd, _ := idx.Digest()
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if wd != gd {
		t.Fatalf("index digest: pulled %s, pushed %s", gd, wd)
	}
	wm, _ := idx.RawManifest()
	gm, _ := got.RawManifest()
	if !bytes.Equal(wm, gm) {
		t.Fatalf("index bytes differ:\npushed %s\npulled %s", wm, gm)
	}
	if mt, _ := got.MediaType(); mt != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("index media type %q", mt)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 3 {
		t.Fatalf("random index has %d children", len(im.Manifests))
	}
	for _, d := range im.Manifests {
		want, _ := idx.Image(d.Digest)
		child, err := got.Image(d.Digest)
		if err != nil {
			t.Fatalf("pull child %s: %v", d.Digest, err)
		}
		compareImages(t, want, child)
		// Each child is also addressable on its own in the repository.
		direct, err := remote.Image(ref(t, b, "ggcr/index@"+d.Digest.String()), opts...)
		if err != nil {
			t.Fatalf("pull child %s by digest: %v", d.Digest, err)
		}
		compareImages(t, want, direct)
	}
}

// TestGGCRDelete deletes a manifest by digest: it and its tag are gone.
func TestGGCRDelete(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	opts := ggcr(newTransport(t, b), b.Token(""))
	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := random.Image(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "ggcr/del:doomed"), img, opts...); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "ggcr/del:kept"), keep, opts...); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	byDigest := ref(t, b, "ggcr/del@"+dg.String())
	if _, err := remote.Image(byDigest, opts...); err != nil {
		t.Fatalf("pull before delete: %v", err)
	}
	if err := remote.Delete(byDigest, opts...); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, r := range []name.Reference{byDigest, ref(t, b, "ggcr/del:doomed")} {
		_, err := remote.Image(r, opts...)
		if err == nil {
			t.Fatalf("pull %s after delete succeeded", r)
		}
		if code, status := transportCode(err); code != transport.ManifestUnknownErrorCode || status != http.StatusNotFound {
			t.Fatalf("pull %s after delete: %v (code %q, status %d), want MANIFEST_UNKNOWN 404", r, err, code, status)
		}
	}
	// Deleting again is MANIFEST_UNKNOWN too.
	if err := remote.Delete(byDigest, opts...); err == nil {
		t.Fatal("second delete succeeded")
	} else if code, _ := transportCode(err); code != transport.ManifestUnknownErrorCode {
		t.Fatalf("second delete: %v, want MANIFEST_UNKNOWN", err)
	}
	// The other image is untouched, and the tag list lost only the deleted tag.
	got, err := remote.Image(ref(t, b, "ggcr/del:kept"), opts...)
	if err != nil {
		t.Fatalf("pull the other image: %v", err)
	}
	compareImages(t, keep, got)
	tags, err := remote.List(ref(t, b, "ggcr/del:kept").Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"kept"}) {
		t.Fatalf("tags after delete: %v, want [kept]", tags)
	}
}

// TestGGCRTagPagination tags one image 1001 times and lists the tags in pages
// of 100, through go-containerregistry and by following Link by hand.
func TestGGCRTagPagination(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	img, err := random.Image(500, 1)
	if err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	tr := newTransport(t, b)
	pusher, err := remote.NewPusher(ggcr(tr, token)...)
	if err != nil {
		t.Fatal(err)
	}
	opts := ggcr(tr, token, remote.Reuse(pusher))
	if err := remote.Write(ref(t, b, "ggcr/tags@"+dg.String()), img, opts...); err != nil {
		t.Fatal(err)
	}
	const n = 1001
	want := make([]string, 0, n)
	for i := range n {
		// Unpadded numbers, so that lexical order differs from push order.
		tag := fmt.Sprintf("v%d", i)
		want = append(want, tag)
		tr, err := name.NewTag(b.Addr+"/ggcr/tags:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(tr, img, opts...); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
	sort.Strings(want)
	repo := ref(t, b, "ggcr/tags:v0").Context()

	t.Run("ggcr", func(t *testing.T) {
		pages := &countingTransport{rt: tr, path: "/v2/ggcr/tags/tags/list"}
		got, err := remote.List(repo, ggcr(pages, token, remote.WithPageSize(100))...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("remote.List: %d tags, want %d sorted tags; first %v", len(got), len(want), got[:min(5, len(got))])
		}
		if n := pages.n.Load(); n != 11 {
			t.Fatalf("remote.List fetched %d pages, want 11", n)
		}
	})

	t.Run("link", func(t *testing.T) {
		c := raw(t, b, token)
		var got []string
		next := c.url("/v2/ggcr/tags/tags/list?n=100")
		pages := 0
		for next != "" {
			pages++
			if pages > 20 {
				t.Fatalf("more than 20 pages; Link loops? last %s", next)
			}
			resp, body := c.do(http.MethodGet, next, nil, nil)
			expect(t, "GET "+next, resp, body, http.StatusOK)
			var page struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatalf("page %d: %v: %s", pages, err, body)
			}
			if page.Name != "ggcr/tags" {
				t.Fatalf("page %d names repository %q", pages, page.Name)
			}
			if len(page.Tags) > 100 {
				t.Fatalf("page %d has %d tags, n was 100", pages, len(page.Tags))
			}
			next = nextLink(t, resp)
			if next != "" && len(page.Tags) != 100 {
				t.Fatalf("page %d has %d tags but a Link to more", pages, len(page.Tags))
			}
			got = append(got, page.Tags...)
		}
		if pages != 11 {
			t.Errorf("%d pages, want 11 (10 of 100 and one of 1)", pages)
		}
		if !sort.StringsAreSorted(got) {
			t.Errorf("tags across pages are not sorted")
		}
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("tags repeat across pages")
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Link walk: %d tags, want %d", len(got), len(want))
		}
		// Every tag resolves to the image.
		for _, tag := range []string{want[0], want[500], want[n-1]} {
			resp, body := c.do(http.MethodHead, "/v2/ggcr/tags/manifests/"+tag, nil, nil)
			expect(t, "HEAD "+tag, resp, body, http.StatusOK)
			if resp.Header.Get("Docker-Content-Digest") != dg.String() {
				t.Fatalf("tag %s points at %s, want %s", tag, resp.Header.Get("Docker-Content-Digest"), dg)
			}
		}
	})
}

// countingTransport counts the requests made to one path.
type countingTransport struct {
	rt   http.RoundTripper
	path string
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == c.path {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(r)
}

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// subjectRecorder remembers the OCI-Subject header of every manifest PUT,
// by the digest the registry answered with.
type subjectRecorder struct {
	rt       http.RoundTripper
	mu       sync.Mutex
	subjects map[string]string
}

func (s *subjectRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err == nil && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		s.mu.Lock()
		if s.subjects == nil {
			s.subjects = map[string]string{}
		}
		s.subjects[resp.Header.Get("Docker-Content-Digest")] = resp.Header.Get("OCI-Subject")
		s.mu.Unlock()
	}
	return resp, err
}

func (s *subjectRecorder) subject(manifest digest.Digest) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.subjects[manifest.String()]
	return v, ok
}

// TestORASReferrers pushes two artifacts whose subject is an image and lists
// them through the referrers API, with and without an artifactType filter.
func TestORASReferrers(t *testing.T) {
	t.Parallel()
	const (
		sbomType = "application/vnd.example.sbom.v1+json"
		sigType  = "application/vnd.example.signature.v1"
	)
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	ctx := context.Background()

	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "oras/app:v1"), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("push subject: %v", err)
	}
	imgDigest, _ := img.Digest()
	imgType, _ := img.MediaType()
	imgSize, _ := img.Size()
	subject := ocispec.Descriptor{MediaType: string(imgType), Digest: digest.Digest(imgDigest.String()), Size: imgSize}

	rec := &subjectRecorder{rt: tr}
	newRepo := func() *orasremote.Repository {
		repo, err := orasremote.NewRepository(b.Addr + "/oras/app")
		if err != nil {
			t.Fatal(err)
		}
		repo.PlainHTTP = true
		repo.Client = &auth.Client{
			Client:     &http.Client{Transport: rec},
			Credential: auth.StaticCredential(b.Addr, auth.Credential{Username: "AWS", Password: token}),
			Cache:      auth.NewCache(),
		}
		return repo
	}
	repo := newRepo()

	layer, err := oras.PushBytes(ctx, repo, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`))
	if err != nil {
		t.Fatalf("push sbom layer: %v", err)
	}
	sbom, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sbomType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{"org.example.kind": "sbom"},
	})
	if err != nil {
		t.Fatalf("push sbom manifest: %v", err)
	}
	sig, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sigType, oras.PackManifestOptions{Subject: &subject})
	if err != nil {
		t.Fatalf("push signature manifest: %v", err)
	}

	// The registry said it processed the subject of each push.
	for _, m := range []ocispec.Descriptor{sbom, sig} {
		got, ok := rec.subject(m.Digest)
		if !ok {
			t.Fatalf("no manifest PUT answered with digest %s", m.Digest)
		}
		if got != subject.Digest.String() {
			t.Fatalf("PUT %s: OCI-Subject %q, want %q", m.Digest, got, subject.Digest)
		}
	}

	// The manifest is stored as pushed.
	_, body, err := oras.FetchBytes(ctx, repo, sbom.Digest.String(), oras.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatalf("fetch sbom manifest: %v", err)
	}
	if digest.FromBytes(body) != sbom.Digest {
		t.Fatalf("fetched sbom manifest hashes to %s, want %s", digest.FromBytes(body), sbom.Digest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != sbomType || m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Fatalf("fetched sbom manifest: artifactType %q subject %+v", m.ArtifactType, m.Subject)
	}

	check := func(what string, got []ocispec.Descriptor, want ...ocispec.Descriptor) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d referrers %+v, want %d", what, len(got), got, len(want))
		}
		for _, w := range want {
			i := slices.IndexFunc(got, func(d ocispec.Descriptor) bool { return d.Digest == w.Digest })
			if i < 0 {
				t.Fatalf("%s: %s (%s) is not listed: %+v", what, w.Digest, w.ArtifactType, got)
			}
			g := got[i]
			if g.ArtifactType != w.ArtifactType || g.Size != w.Size || g.MediaType != ocispec.MediaTypeImageManifest {
				t.Fatalf("%s: listed as %+v, want artifactType %q size %d media type %q", what, g, w.ArtifactType, w.Size, ocispec.MediaTypeImageManifest)
			}
			for k, v := range w.Annotations {
				if g.Annotations[k] != v {
					t.Fatalf("%s: %s lacks annotation %s=%s: %v", what, w.Digest, k, v, g.Annotations)
				}
			}
		}
	}
	list := func(repo *orasremote.Repository, artifactType string) []ocispec.Descriptor {
		t.Helper()
		var got []ocispec.Descriptor
		err := repo.Referrers(ctx, subject, artifactType, func(page []ocispec.Descriptor) error {
			got = append(got, page...)
			return nil
		})
		if err != nil {
			t.Fatalf("referrers (%q): %v", artifactType, err)
		}
		return got
	}
	check("all referrers", list(repo, ""), sbom, sig)
	check("sbom referrers", list(repo, sbomType), sbom)
	check("signature referrers", list(repo, sigType), sig)
	check("unknown type", list(repo, "application/vnd.example.none"))
	// A client that knows nothing yet about the registry finds them through the API too.
	all, err := registry.Referrers(ctx, newRepo(), subject, "")
	if err != nil {
		t.Fatal(err)
	}
	check("registry.Referrers", all, sbom, sig)

	// The registry filters by itself, and says so.
	c := raw(t, b, token)
	resp, body := c.do(http.MethodGet, "/v2/oras/app/referrers/"+subject.Digest.String()+"?artifactType="+sigType, nil, nil)
	expect(t, "filtered referrers", resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
		t.Fatalf("referrers Content-Type %q", ct)
	}
	if f := resp.Header.Get("OCI-Filters-Applied"); f != "artifactType" {
		t.Fatalf("OCI-Filters-Applied %q, want artifactType", f)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	check("server-filtered referrers", idx.Manifests, sig)

	// Nothing fell back to the referrers tag schema (a sha256-<hex> tag).
	resp, body = c.do(http.MethodGet, "/v2/oras/app/tags/list", nil, nil)
	expect(t, "tags", resp, body, http.StatusOK)
	var tags struct{ Tags []string }
	json.Unmarshal(body, &tags)
	if !slices.Equal(tags.Tags, []string{"v1"}) {
		t.Fatalf("tags %v, want only [v1]", tags.Tags)
	}

	// Deleting a referrer removes it from the list.
	if err := repo.Delete(ctx, sig); err != nil {
		t.Fatalf("delete signature: %v", err)
	}
	check("after delete", list(newRepo(), ""), sbom)
}

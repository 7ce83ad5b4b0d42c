package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

// Where signatures live, as cosign and Notation store them.
const (
	cosignSignatureAnnotation   = "dev.cosignproject.cosign/signature"
	cosignCertificateAnnotation = "dev.sigstore.cosign/certificate"
	cosignChainAnnotation       = "dev.sigstore.cosign/chain"
	cosignSimpleSigning         = "application/vnd.dev.cosign.simplesigning.v1+json"
	sigstoreBundlePrefix        = "application/vnd.dev.sigstore.bundle"
	notationArtifactType        = "application/vnd.cncf.notary.signature"
	notationJWS                 = "application/jose+json"
)

// Bounds on what one decision reads: signatures are small, and a repository stuffed with
// thousands of them must not turn a push into a scan.
const (
	maxCandidates     = 64
	maxSignatureBytes = 1 << 20
)

// signatureTag matches the tags cosign keeps signatures, attestations and SBOMs under, and the
// referrers tag schema's fallback tag: moving them is storing a signature, not an image.
var signatureTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$`)

// legacyTag is the tag cosign stores dg's signatures under.
func legacyTag(dg digest.Digest) string {
	return dg.Algorithm().String() + "-" + dg.Encoded() + ".sig"
}

// found is what the registry holds for one image: the manifests that carry its signatures
// (their digests are the cache key) and, once read, the candidates.
type found struct {
	manifests []digest.Digest // sorted
	legacy    *core.Image
	referrers []core.Image
}

// setKey is the signature manifests' digests joined, for the cache key.
func (f *found) setKey() string {
	var b strings.Builder
	for _, d := range f.manifests {
		b.WriteString(string(d))
		b.WriteByte(',')
	}
	return b.String()
}

// locate lists the manifests that may hold signatures of dg in repo: the legacy .sig tag's
// manifest and the signature referrers. It reads only records, no blobs, so that a cached
// decision stays cheap.
func locate(ctx context.Context, r Registry, reg core.RegistryID, repo string, dg digest.Digest) (*found, error) {
	f := &found{}
	img, err := r.ResolveImage(ctx, reg, repo, "", legacyTag(dg))
	switch {
	case err == nil:
		f.legacy = &img
		f.manifests = append(f.manifests, img.Digest)
	case core.IsKind(err, core.KindManifestNotFound), core.IsKind(err, core.KindRepositoryNotFound):
	default:
		return nil, err
	}
	refs, err := r.Referrers(ctx, reg, repo, dg, "")
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if ref.ArtifactType == notationArtifactType || strings.HasPrefix(ref.ArtifactType, sigstoreBundlePrefix) {
			f.referrers = append(f.referrers, ref)
			f.manifests = append(f.manifests, ref.Digest)
		}
	}
	sort.Slice(f.manifests, func(i, j int) bool { return f.manifests[i] < f.manifests[j] })
	return f, nil
}

// candidates reads the signatures out of the located manifests, in a stable order. A
// manifest or blob that cannot be read is skipped with a reason rather than failing the
// decision: it is one candidate less, and the other candidates may still verify.
func candidates(ctx context.Context, r Registry, reg core.RegistryID, repo string, f *found) ([]schema.Signature, []string) {
	var sigs []schema.Signature
	var problems []string
	if f.legacy != nil {
		m, err := manifest(ctx, r, reg, repo, f.legacy.Digest)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.legacy.Digest, err))
		}
		for i, l := range m.Layers {
			sig, ok := l.Annotations[cosignSignatureAnnotation]
			if !ok || len(sigs) >= maxCandidates {
				continue
			}
			payload, err := readBlob(ctx, r, reg, repo, l)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s layer %d: %v", f.legacy.Digest, i, err))
				continue
			}
			sigs = append(sigs, schema.Signature{ID: fmt.Sprintf("%s#%d", f.legacy.Digest, i), Format: schema.FormatCosign,
				Payload: payload, Signature: sig, Certificate: l.Annotations[cosignCertificateAnnotation], Chain: l.Annotations[cosignChainAnnotation]})
		}
	}
	refs := append([]core.Image(nil), f.referrers...)
	sort.Slice(refs, func(i, j int) bool { return refs[i].Digest < refs[j].Digest })
	for _, ref := range refs {
		if len(sigs) >= maxCandidates {
			break
		}
		m, err := manifest(ctx, r, reg, repo, ref.Digest)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", ref.Digest, err))
			continue
		}
		format := schema.FormatNotation
		if strings.HasPrefix(ref.ArtifactType, sigstoreBundlePrefix) {
			format = schema.FormatSigstoreBundle
		}
		for _, l := range m.Layers {
			if format == schema.FormatNotation && l.MediaType != notationJWS && l.MediaType != "application/cose" {
				continue
			}
			if format == schema.FormatSigstoreBundle && !strings.HasPrefix(l.MediaType, sigstoreBundlePrefix) {
				continue
			}
			env, err := readBlob(ctx, r, reg, repo, l)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", ref.Digest, err))
				continue
			}
			sigs = append(sigs, schema.Signature{ID: ref.Digest.String(), Format: format, Envelope: env, MediaType: l.MediaType})
			break // one signature per referrer manifest
		}
	}
	return sigs, problems
}

func manifest(ctx context.Context, r Registry, reg core.RegistryID, repo string, dg digest.Digest) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	b, err := r.ManifestBytes(ctx, reg, repo, dg)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not an image manifest: %v", err)
	}
	return m, nil
}

func readBlob(ctx context.Context, r Registry, reg core.RegistryID, repo string, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > maxSignatureBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than a signature's %d", d.Digest, d.Size, maxSignatureBytes)
	}
	rd, err := r.OpenBlob(ctx, reg, repo, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b, err := io.ReadAll(io.LimitReader(rd, maxSignatureBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSignatureBytes {
		return nil, fmt.Errorf("%s is larger than a signature's %d bytes", d.Digest, maxSignatureBytes)
	}
	return b, nil
}

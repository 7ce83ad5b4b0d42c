package ecr

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

func (h *Handler) batchCheckLayerAvailability(c *call, in *BatchCheckLayerAvailabilityRequest) (*BatchCheckLayerAvailabilityResponse, error) {
	reg := c.registry
	if err := h.reg.HasRepository(c.ctx, reg, in.RepositoryName); err != nil {
		return nil, err
	}
	out := &BatchCheckLayerAvailabilityResponse{Layers: []Layer{}, Failures: []LayerFailure{}}
	for _, ds := range in.LayerDigests {
		dg, err := digest.Parse(ds)
		if err != nil {
			out.Failures = append(out.Failures, LayerFailure{LayerDigest: ds, FailureCode: "InvalidLayerDigest", FailureReason: "Invalid layer digest"})
			continue
		}
		size, err := h.reg.StatBlob(c.ctx, reg, in.RepositoryName, dg)
		switch {
		case core.IsKind(err, core.KindBlobNotFound):
			out.Failures = append(out.Failures, LayerFailure{LayerDigest: ds, FailureCode: "MissingLayerDigest", FailureReason: "Could not find layer"})
		case err != nil:
			return nil, err
		default:
			out.Layers = append(out.Layers, Layer{LayerDigest: ds, LayerAvailability: "AVAILABLE", LayerSize: i64(size), MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip"})
		}
	}
	return out, nil
}

// partSize is the part size ECR suggests for UploadLayerPart.
const partSize = 10 << 20

func (h *Handler) initiateLayerUpload(c *call, in *InitiateLayerUploadRequest) (*InitiateLayerUploadResponse, error) {
	reg := c.registry
	st, err := h.reg.StartUpload(c.ctx, reg, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	return &InitiateLayerUploadResponse{UploadId: st.ID, PartSize: i64(partSize)}, nil
}

func invalidPart(reg core.RegistryID, repo, id string, size int64, reason string) *awsError {
	e := newError("InvalidLayerPartException", "%s", reason)
	e.Fields = map[string]any{"registryId": reg.Account, "repositoryName": repo, "uploadId": id, "lastValidByteReceived": size - 1}
	return e
}

// uploadLayerPart writes a part the dispatcher streamed into c.blob (see
// body.go): its length is checked against the range before a byte of it
// reaches the upload, which a rejected part leaves as it was.
func (h *Handler) uploadLayerPart(c *call, in *UploadLayerPartRequest) (*UploadLayerPartResponse, error) {
	reg := c.registry
	first, last := deref(in.PartFirstByte), deref(in.PartLastByte)
	// Through ServeHTTP the part is always in c.blob (the member is required);
	// the typed value is the part only when a handler is called directly.
	var part io.Reader = bytes.NewReader(in.LayerPartBlob)
	size := int64(len(in.LayerPartBlob))
	if c.blob != nil {
		rd, err := c.blob.reader()
		if err != nil {
			return nil, err
		}
		part, size = rd, c.blob.size()
	}
	if last-first+1 != size {
		st, err := h.reg.GetUpload(c.ctx, reg, in.RepositoryName, in.UploadId)
		if err != nil {
			return nil, err
		}
		return nil, invalidPart(reg, in.RepositoryName, in.UploadId, st.Size,
			"The part range does not match the part size: partFirstByte "+strconv.FormatInt(first, 10)+", partLastByte "+strconv.FormatInt(last, 10)+", "+strconv.FormatInt(size, 10)+" bytes")
	}
	st, err := h.reg.WriteLayerPart(c.ctx, reg, in.RepositoryName, in.UploadId, first, part)
	if core.IsKind(err, core.KindRangeInvalid) {
		return nil, invalidPart(reg, in.RepositoryName, in.UploadId, st.Size,
			"The layer part must start at byte "+strconv.FormatInt(st.Size, 10)+", not "+strconv.FormatInt(first, 10))
	}
	if err != nil {
		return nil, err
	}
	return &UploadLayerPartResponse{RegistryId: reg.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId, LastByteReceived: i64(st.Size - 1)}, nil
}

func (h *Handler) completeLayerUpload(c *call, in *CompleteLayerUploadRequest) (*CompleteLayerUploadResponse, error) {
	reg := c.registry
	st, err := h.reg.GetUpload(c.ctx, reg, in.RepositoryName, in.UploadId)
	if err != nil {
		return nil, err
	}
	if st.Size == 0 {
		return nil, newError("EmptyUploadException", "The upload with id '%s' has no layer parts", in.UploadId)
	}
	dg, err := digest.Parse(in.LayerDigests[0])
	if err != nil {
		return nil, newError("InvalidLayerException", "Invalid layer digest '%s'", in.LayerDigests[0])
	}
	if _, err := h.reg.StatBlob(c.ctx, reg, in.RepositoryName, dg); err == nil {
		// A rejected request changes nothing: the session stays (the janitor
		// ends it if the client walks away).
		return nil, newError("LayerAlreadyExistsException", "Layer %s already exists in the repository with name '%s' in the registry with id '%s'", dg, in.RepositoryName, reg.Account)
	}
	if _, err := h.reg.CompleteLayerUpload(c.ctx, reg, in.RepositoryName, in.UploadId, dg); err != nil {
		if core.IsKind(err, core.KindDigestInvalid) {
			return nil, newError("InvalidLayerException", "The calculated digest of the uploaded layer does not match '%s'", dg)
		}
		return nil, err
	}
	return &CompleteLayerUploadResponse{RegistryId: reg.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId, LayerDigest: dg.String()}, nil
}

// downloadTTL is how long a GetDownloadUrlForLayer URL works.
const downloadTTL = time.Hour

func (h *Handler) getDownloadUrlForLayer(c *call, in *GetDownloadUrlForLayerRequest) (*GetDownloadUrlForLayerResponse, error) {
	reg := c.registry
	dg, err := digest.Parse(in.LayerDigest)
	if err != nil {
		return nil, invalidParameter("layerDigest", "Invalid layer digest")
	}
	if _, err := h.reg.LocateBlob(c.ctx, reg, in.RepositoryName, dg); err != nil {
		switch core.KindOf(err) {
		case core.KindBlobNotFound:
			return nil, newError("LayersNotFoundException", "The specified layer %s does not exist in the repository with name '%s' in the registry with id '%s'", dg, in.RepositoryName, reg.Account)
		case core.KindUpstreamUnavailable:
			return nil, newError("UnableToGetUpstreamLayerException", "%s", err.Error())
		}
		return nil, err
	}
	tok := h.tokens.Sign(core.LayerGrant{Registry: reg, Repository: in.RepositoryName, Digest: dg}, downloadTTL)
	u := url.URL{Scheme: "http", Host: c.selfHost(h, reg), Path: "/_berth/layers/" + tok}
	return &GetDownloadUrlForLayerResponse{DownloadUrl: u.String(), LayerDigest: dg.String()}, nil
}

// ServeLayer answers a download URL: the signature is the only credential.
func (h *Handler) ServeLayer(w http.ResponseWriter, r *http.Request, token string) {
	g, err := h.tokens.VerifyGrant(token)
	if err != nil {
		http.Error(w, "the download URL is invalid or expired", http.StatusForbidden)
		return
	}
	rd, err := h.reg.OpenBlob(r.Context(), g.Registry, g.Repository, g.Digest)
	if err != nil {
		http.Error(w, "layer not found", http.StatusNotFound)
		return
	}
	defer rd.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", g.Digest.String())
	blob.ServeContent(w, r, rd)
}

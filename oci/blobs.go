package oci

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
)

func (h *Handler) getBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	dg, err := core.ParseDigest(rt.ref)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rd, err := h.reg.OpenBlob(ctx, reg, rt.name, dg)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer rd.Close()
	setHeaders(w.Header(), "Docker-Content-Digest", dg.String(), "Content-Type", "application/octet-stream",
		"Etag", `"`+dg.String()+`"`, "Cache-Control", "max-age=31536000")
	// ServeContent answers Range requests (206/416) and HEAD, and sends the
	// bytes the cheapest way the blob's store allows.
	blob.ServeContent(w, r, rd)
}

func (h *Handler) deleteBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	dg, err := core.ParseDigest(rt.ref)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.reg.DeleteBlob(ctx, reg, rt.name, dg); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// uploadProgress sets the headers that tell a client where an upload stands.
func uploadProgress(w http.ResponseWriter, name string, st core.UploadStatus) {
	setHeaders(w.Header(), "Location", uploadLocation(name, st.ID), "Docker-Upload-Uuid", st.ID, "Range", progressOf(st))
}

// progressOf is an upload's Range header: the bytes it holds.
func progressOf(st core.UploadStatus) string {
	if st.Size > 0 {
		return "0-" + strconv.FormatInt(st.Size-1, 10)
	}
	return "0-0"
}

// uploadAccepted answers with the session's location and progress.
// Every small blob's push answers twice with these: the keys are written
// in canonical form (setHeaders would canonicalize each again), and the
// values set in one allocation.
func uploadAccepted(w http.ResponseWriter, name string, st core.UploadStatus, status int) {
	v := make([]string, 3)
	v[0], v[1], v[2] = uploadLocation(name, st.ID), st.ID, progressOf(st)
	h := w.Header()
	h["Location"], h["Docker-Upload-Uuid"], h["Range"], h["Content-Length"] = v[0:1:1], v[1:2:2], v[2:3:3], zeroLength
	w.WriteHeader(status)
}

func blobCreated(w http.ResponseWriter, name string, d core.Descriptor) {
	v := make([]string, 2)
	v[0], v[1] = "/v2/"+name+"/blobs/"+d.Digest.String(), d.Digest.String()
	h := w.Header()
	h["Location"], h["Docker-Content-Digest"], h["Content-Length"] = v[0:1:1], v[1:2:2], zeroLength
	w.WriteHeader(http.StatusCreated)
}

// zeroLength is the Content-Length of an answer without a body. net/http
// only reads header values, so one slice serves every response.
var zeroLength = []string{"0"}

// startUpload opens an upload session.
func (h *Handler) startUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	st, err := h.reg.StartUpload(ctx, reg, rt.name)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	uploadAccepted(w, rt.name, st, http.StatusAccepted)
}

// mountBlob links a blob that another repository of the registry holds
// (?mount=<digest>&from=<name>) or, when there is nothing to mount, opens an
// upload session instead, as the spec says.
func (h *Handler) mountBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	if h.mount(ctx, w, r, reg, rt) {
		return
	}
	h.startUpload(ctx, w, r, reg, rt)
}

// uploadWhole stores a blob sent whole with its digest (?digest=), unless a
// mount asked for in the same request provides it.
func (h *Handler) uploadWhole(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	q := queryOf(r)
	if q.Has("mount") && h.mount(ctx, w, r, reg, rt) {
		return
	}
	dg, err := core.ParseDigest(q.Get("digest"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	d, err := h.reg.PutBlob(ctx, reg, rt.name, dg, r.Body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	blobCreated(w, rt.name, d)
}

// mount tries the mount a POST asks for, and reports whether that answered
// the request: the blob was mounted, or the request was wrong.
func (h *Handler) mount(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) bool {
	q := queryOf(r)
	dg, err := core.ParseDigest(q.Get("mount"))
	if err != nil {
		h.writeError(w, r, err)
		return true
	}
	from := q.Get("from")
	if from != "" && !core.ValidRepositoryName(from) {
		h.writeError(w, r, core.Errorf(core.KindNameInvalid, "invalid repository name '%s'", from))
		return true
	}
	d, mounted, err := h.reg.MountBlob(ctx, reg, rt.name, from, dg)
	if err != nil {
		h.writeError(w, r, err)
		return true
	}
	if mounted {
		blobCreated(w, rt.name, d)
	}
	return mounted
}

func (h *Handler) uploadStatus(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	st, err := h.reg.GetUpload(ctx, reg, rt.name, rt.ref)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	uploadAccepted(w, rt.name, st, http.StatusNoContent)
}

// chunk reads Content-Range ("start-end", optionally "bytes start-end") and
// checks it against Content-Length. It returns where the chunk starts (-1
// when no range is given) and its body, held by core to the length the range
// declares: a body sent chunked has no Content-Length to check.
func chunk(r *http.Request) (int64, io.Reader, error) {
	// Spaces and tabs, as HTTP trims them; strings.TrimSpace would also
	// take a header of Unicode spaces for an absent one.
	cr := strings.Trim(strings.TrimPrefix(r.Header.Get("Content-Range"), "bytes "), " \t")
	if cr == "" {
		return -1, r.Body, nil
	}
	a, b, ok := strings.Cut(cr, "-")
	start, ok1 := bytePos(a)
	end, ok2 := bytePos(strings.Split(b, "/")[0])
	if !ok || !ok1 || !ok2 || end < start-1 {
		return 0, nil, core.Errorf(core.KindRangeInvalid, "invalid Content-Range '%s'", cr)
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, nil, core.Errorf(core.KindSizeInvalid, "Content-Range '%s' does not match Content-Length %d", cr, r.ContentLength)
	}
	return start, core.ChunkOfLength(r.Body, end-start+1), nil
}

// bytePos reads a byte position: decimal digits only, where ParseInt would
// also take a sign ("0-+4").
func bytePos(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (h *Handler) patchUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	start, body, err := chunk(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	st, err := h.reg.WriteUpload(ctx, reg, rt.name, rt.ref, start, body)
	if err != nil {
		if core.IsKind(err, core.KindRangeInvalid) {
			uploadProgress(w, rt.name, st) // the client needs the progress to resume
		}
		h.writeError(w, r, err)
		return
	}
	uploadAccepted(w, rt.name, st, http.StatusAccepted)
}

func (h *Handler) putUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	digestParam, ok := queryParam(r.URL.RawQuery, "digest")
	if !ok {
		h.writeError(w, r, core.Errorf(core.KindDigestInvalid, "the digest query parameter is required to complete an upload"))
		return
	}
	dg, err := core.ParseDigest(digestParam)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	start, body, err := chunk(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	d, err := h.reg.CompleteUpload(ctx, reg, rt.name, rt.ref, start, body, dg)
	if err != nil {
		if core.IsKind(err, core.KindRangeInvalid) {
			if st, serr := h.reg.GetUpload(ctx, reg, rt.name, rt.ref); serr == nil {
				uploadProgress(w, rt.name, st)
			}
		}
		h.writeError(w, r, err)
		return
	}
	blobCreated(w, rt.name, d)
}

func (h *Handler) cancelUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	if err := h.reg.CancelUpload(ctx, reg, rt.name, rt.ref); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// queryParam is what url.ParseQuery(raw) holds first for key, and whether it
// holds key at all (its Get and Has), without building the map: every
// upload's completion reads its digest so.
func queryParam(raw, key string) (string, bool) {
	if strings.Count(raw, "&") >= 1000 {
		// Many parameters: ParseQuery itself, with its limit on them.
		q, _ := url.ParseQuery(raw)
		return q.Get(key), q.Has(key)
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue // as ParseQuery: empty, or refused
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue // ParseQuery skips the pair
			}
			v = uv
		}
		return v, true
	}
	return "", false
}

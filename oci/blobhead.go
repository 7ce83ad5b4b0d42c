package oci

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/core"
)

// headBlob answers a blob HEAD as getBlob does (through net/http's
// ServeContent), with the same headers, without opening the blob or going
// through ServeContent: a push asks it before every layer, an index push
// before each image's config and layer. A HEAD that ServeContent would
// answer otherwise than 200 with the whole length (a Range, a condition on
// the ETag or on a date) is getBlob's.
func (h *Handler) headBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	if servedByServeContent(r.Header) {
		h.getBlob(ctx, w, r, reg, rt)
		return
	}
	dg, err := core.ParseDigest(rt.ref)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	size, err := h.reg.HeadBlob(ctx, reg, rt.name, dg)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// getBlob's headers and ServeContent's (Accept-Ranges, Content-Length),
	// keys in canonical form, values in one slice, the ETag (the digest
	// quoted) and the length cut from one string.
	d := dg.String()
	var buf [160]byte
	b := strconv.AppendInt(append(append(append(buf[:0], '"'), d...), '"'), size, 10)
	s := string(b)
	v := []string{d, "application/octet-stream", s[:len(d)+2], "max-age=31536000", "bytes", s[len(d)+2:]}
	hd := w.Header()
	hd["Docker-Content-Digest"], hd["Content-Type"], hd["Etag"] = v[0:1:1], v[1:2:2], v[2:3:3]
	hd["Cache-Control"], hd["Accept-Ranges"], hd["Content-Length"] = v[3:4:4], v[4:5:5], v[5:6:6]
	w.WriteHeader(http.StatusOK)
}

// servedByServeContent reports whether a HEAD carries a header that
// net/http's ServeContent answers: a Range, or a precondition (RFC 9110
// section 13) on the ETag or on a date.
func servedByServeContent(h http.Header) bool {
	for _, k := range [...]string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

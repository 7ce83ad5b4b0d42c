package oci

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/core"
)

func (h *Handler) getManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	accept := r.Header.Values("Accept")
	var (
		m    core.Image
		body []byte
		err  error
	)
	if r.Method == http.MethodHead {
		m, err = h.reg.StatManifest(ctx, reg, rt.name, rt.ref, accept)
	} else {
		m, body, err = h.reg.GetManifest(ctx, reg, rt.name, rt.ref, accept)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// Set as setHeaders does, with keys written in canonical form rather
	// than canonicalized: every pull answers with them. Date is set here,
	// as the answer is written, so that net/http does not format it again.
	v := h.manifestHeaderValues(m)
	hd := w.Header()
	hd["Content-Type"], hd["Docker-Content-Digest"], hd["Etag"] = v[0:1:1], v[1:2:2], v[2:3:3]
	hd["Date"] = h.date.Header(time.Now())
	if r.Method == http.MethodHead || len(body) >= netHTTPBuffered {
		hd["Content-Length"] = v[3:4:4]
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// netHTTPBuffered is how much of a body net/http holds before it sends the
// headers (its bufferBeforeChunkingSize): a smaller body written whole by a
// handler that then returns gets its Content-Length from net/http, which
// writes it without the header map's sorting and escaping. A HEAD (no
// body) and a larger body set it themselves, or a GET would be chunked.
const netHTTPBuffered = 2048

// manifestHeaderValues returns the values of a manifest answer's headers
// (Content-Type, Docker-Content-Digest, ETag: the digest quoted, and
// Content-Length), built once per manifest and shared by its answers while
// it is the one last served: net/http only reads header values, and a pull
// loop asks for the same manifest again and again. They depend only on the
// digest (hence the size) and the media type, both compared.
func (h *Handler) manifestHeaderValues(m core.Image) []string {
	dg := m.Digest.String()
	k := manifestKey{dg, m.MediaType}
	if v, ok := h.lastManifest.Get(k); ok {
		return v[:]
	}
	var buf [160]byte
	b := strconv.AppendInt(append(append(append(buf[:0], '"'), dg...), '"'), m.Size, 10)
	s := string(b) // the ETag and the length cut from one string
	v := &[4]string{m.MediaType, dg, s[:len(dg)+2], s[len(dg)+2:]}
	h.lastManifest.Set(k, v)
	return v[:]
}

// manifestKey is what a manifest answer's header values depend on.
type manifestKey struct{ digest, mediaType string }

func (h *Handler) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	body, err := readManifestBody(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var tags []string
	for _, t := range queryOf(r)["tag"] {
		tags = append(tags, strings.Split(t, ",")...)
	}
	m, err := h.reg.PutManifest(ctx, reg, rt.name, core.PutManifestInput{
		Reference: rt.ref, ContentType: r.Header.Get("Content-Type"), Body: body, Tags: tags,
	})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// Keys in canonical form, values in one slice, as getManifest sets them.
	dg := m.Digest.String()
	v := []string{"/v2/" + rt.name + "/manifests/" + dg, dg, "0"}
	hd := w.Header()
	hd["Location"], hd["Docker-Content-Digest"], hd["Content-Length"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if m.Subject != nil {
		w.Header().Set("OCI-Subject", m.Subject.Digest.String())
	}
	for _, t := range tags {
		w.Header().Add("OCI-Tag", t)
	}
	w.WriteHeader(http.StatusCreated)
}

// readManifestBody reads a manifest's body: in one buffer of its declared
// length, when it declares one within the limit (net/http ends the body
// there), else up to one byte past the limit, for core to refuse.
func readManifestBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= core.MaxManifestSize {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = core.BodyUnreadable(err) // shorter than declared: the client's
			}
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, core.MaxManifestSize+1))
}

func (h *Handler) deleteManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	if err := h.reg.DeleteManifest(ctx, reg, rt.name, rt.ref); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

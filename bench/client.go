package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	acceptManifests   = mediaTypeManifest + ", " + mediaTypeIndex
)

// newClient returns the HTTP client every measured request goes through: raw
// net/http, one keep-alive connection per registry, identical for both.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
			WriteBufferSize:     1 << 20,
			ReadBufferSize:      1 << 20,
		},
		Timeout: 5 * time.Minute,
	}
}

// reg is a client of one registry under test.
type reg struct {
	name  string
	base  *url.URL
	c     *http.Client
	buf   []byte            // read buffer for blob pulls
	crane http.RoundTripper // remote.WriteIndex's transport
}

func newReg(name, base string) (*reg, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &reg{name: name, base: u, c: newClient(), buf: make([]byte, 1<<20), crane: craneTransport()}, nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// do sends a request and fails unless the status is want. The body is
// drained and closed, so the connection is reused.
func (r *reg) do(method, path string, body []byte, contentType string, want int) (*http.Response, error) {
	u, err := r.base.Parse(path)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, err
	}
	return resp, r.check(resp, method, path, want)
}

func (r *reg) check(resp *http.Response, method, path string, want int) error {
	if resp.StatusCode == want {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return fmt.Errorf("%s: %s %s: status %d, want %d: %s", r.name, method, path, resp.StatusCode, want, strings.TrimSpace(string(b)))
}

func (r *reg) discard(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// pushBlob uploads data monolithically: POST to open a session, then PUT the
// bytes to its Location with ?digest=.
func (r *reg) pushBlob(repo string, data []byte, dg string) error {
	resp, err := r.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, "", http.StatusAccepted)
	if err != nil {
		return err
	}
	r.discard(resp)
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("%s: upload Location: %w", r.name, err)
	}
	q := loc.Query()
	q.Set("digest", dg)
	loc.RawQuery = q.Encode()
	resp, err = r.do(http.MethodPut, loc.String(), data, "application/octet-stream", http.StatusCreated)
	if err != nil {
		return err
	}
	r.discard(resp)
	return nil
}

// pullBlob GETs a blob, reads it to the end and returns its size.
func (r *reg) pullBlob(repo, dg string) (int64, error) {
	path := "/v2/" + repo + "/blobs/" + dg
	resp, err := r.do(http.MethodGet, path, nil, "", http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	for {
		m, err := resp.Body.Read(r.buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("%s: reading %s: %w", r.name, path, err)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("%s: %s: read %d bytes of %d", r.name, path, n, resp.ContentLength)
	}
	return n, nil
}

func (r *reg) deleteBlob(repo, dg string) error {
	resp, err := r.do(http.MethodDelete, "/v2/"+repo+"/blobs/"+dg, nil, "", http.StatusAccepted)
	if err != nil {
		return err
	}
	r.discard(resp)
	return nil
}

func (r *reg) putManifest(repo, ref string, body []byte, mediaType string) error {
	resp, err := r.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, mediaType, http.StatusCreated)
	if err != nil {
		return err
	}
	r.discard(resp)
	return nil
}

// getManifest GETs a manifest and returns its body.
func (r *reg) getManifest(repo, ref string) ([]byte, error) {
	path := "/v2/" + repo + "/manifests/" + ref
	u, err := r.base.Parse(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptManifests)
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, err
	}
	if err := r.check(resp, http.MethodGet, path, http.StatusOK); err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(b)) {
		return nil, fmt.Errorf("%s: %s: got %d bytes, Content-Length %s", r.name, path, len(b), cl)
	}
	return b, nil
}

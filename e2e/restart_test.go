package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRestartKeepsImages pushes an image, restarts berth on the same data
// dir and pulls the image back, bit for bit, with the token issued before.
func TestRestartKeepsImages(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	opts := ggcr(tr, token)
	img, err := random.Image(5000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "restart/app:v1"), img, opts...); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()

	tr.CloseIdleConnections()
	b.Restart()

	for _, r := range []string{"restart/app:v1", "restart/app@" + dg.String()} {
		got, err := remote.Image(ref(t, b, r), opts...)
		if err != nil {
			t.Fatalf("pull %s after restart: %v", r, err)
		}
		compareImages(t, img, got)
	}
	tags, err := remote.List(ref(t, b, "restart/app:v1").Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("tags after restart: %v", tags)
	}
}

// TestRestartResumesUpload sends the first chunk of an upload, restarts
// berth, and finishes the same upload session afterwards.
func TestRestartResumesUpload(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	c := raw(t, b, b.Token(""))
	content := patternBytes(7, 300_000)
	first, second := content[:120_000], content[120_000:]
	dg := sha256Digest(content)

	loc := c.startUpload("restart/blob")
	resp, body := c.do(http.MethodPatch, loc, first, map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("0-%d", len(first)-1),
	})
	expect(t, "PATCH first chunk", resp, body, http.StatusAccepted)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", len(first)-1) {
		t.Fatalf("Range after first chunk: %q", r)
	}

	c.closeIdle()
	b.Restart()

	// The session survived with its bytes.
	resp, body = c.do(http.MethodGet, loc, nil, nil)
	expect(t, "upload status after restart", resp, body, http.StatusNoContent)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", len(first)-1) {
		t.Fatalf("Range after restart: %q, want 0-%d", r, len(first)-1)
	}
	// A chunk that does not start where the upload ends is refused.
	resp, body = c.do(http.MethodPatch, loc, second[:10], map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": "0-9",
	})
	expectOCIError(t, "PATCH at the wrong offset", resp, body, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")

	resp, body = c.do(http.MethodPatch, loc, second, map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", len(first), len(content)-1),
	})
	expect(t, "PATCH second chunk after restart", resp, body, http.StatusAccepted)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", len(content)-1) {
		t.Fatalf("Range after second chunk: %q", r)
	}
	next := c.location(resp)
	resp, body = c.do(http.MethodPut, withQuery(next, "digest", dg), nil, nil)
	expect(t, "PUT to complete the upload", resp, body, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
		t.Fatalf("Docker-Content-Digest %q, want %s", got, dg)
	}
	c.expectBlob("restart/blob", dg, content)
	resp, body = c.do(http.MethodHead, "/v2/restart/blob/blobs/"+dg, nil, nil)
	expect(t, "HEAD blob", resp, body, http.StatusOK)
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(content)) {
		t.Fatalf("HEAD Content-Length %q, want %d", resp.Header.Get("Content-Length"), len(content))
	}
	// The finished session is gone, and stays gone after another restart.
	resp, body = c.do(http.MethodGet, loc, nil, nil)
	expectOCIError(t, "status of a finished upload", resp, body, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	c.closeIdle()
	b.Restart()
	resp, body = c.do(http.MethodGet, loc, nil, nil)
	expectOCIError(t, "status of a finished upload after restart", resp, body, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	c.expectBlob("restart/blob", dg, content)
}

// TestRestartBetweenPostAndPut: a session that got no bytes before a
// restart — its POST wrote nothing, its id describes it — takes its blob
// whole after the restart, on /v2 and through ECR's layer API; a
// completed session stays unknown after another restart.
func TestRestartBetweenPostAndPut(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	s := defaultSDK(t, b)
	s.createRepo("restart/ecr")
	c := raw(t, b, s.token())
	content := []byte(`{"architecture":"amd64","os":"linux"}`)
	dg := sha256Digest(content)
	layer := patternBytes(3, 5000)
	layerDigest := sha256Digest(layer)

	loc := c.startUpload("restart/post")
	init, err := s.ecr.InitiateLayerUpload(s.ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("restart/ecr")})
	noErr(t, "InitiateLayerUpload", err)
	c.closeIdle()
	b.Restart()

	resp, body := c.do(http.MethodPut, withQuery(loc, "digest", dg), content, map[string]string{"Content-Type": "application/octet-stream"})
	expect(t, "PUT after a restart", resp, body, http.StatusCreated)
	c.expectBlob("restart/post", dg, content)

	id := init.UploadId
	_, err = s.ecr.UploadLayerPart(s.ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("restart/ecr"), UploadId: id,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(int64(len(layer) - 1)), LayerPartBlob: layer})
	noErr(t, "UploadLayerPart after a restart", err)
	done, err := s.ecr.CompleteLayerUpload(s.ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String("restart/ecr"),
		UploadId: id, LayerDigests: []string{layerDigest}})
	noErr(t, "CompleteLayerUpload", err)
	eq(t, "layerDigest", aws.ToString(done.LayerDigest), layerDigest)
	c.expectBlob("restart/ecr", layerDigest, layer)

	c.closeIdle()
	b.Restart()
	resp, body = c.do(http.MethodGet, loc, nil, nil)
	expectOCIError(t, "status of a completed upload after a restart", resp, body, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	_, err = s.ecr.UploadLayerPart(s.ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("restart/ecr"), UploadId: id,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(0), LayerPartBlob: layer[:1]})
	var nf *types.UploadNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("UploadLayerPart into a completed upload after a restart: %v, want UploadNotFoundException", err)
	}
}

// A blob a manifest uses cannot be deleted (409 DENIED), whether it is a
// layer or the config, and one pushed without a manifest can; once the
// manifest is gone its blobs can be deleted too. Layout 7 answers "in use"
// from the repository's manifests themselves, so the rule must hold across
// a restart as well.
func TestDeleteBlobRefusesBlobsAManifestUses(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	img, err := random.Image(3000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "inuse/app:v1"), img, ggcr(tr, token)...); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	c := raw(t, b, token)
	loose := c.pushBlob("inuse/app", []byte("a blob no manifest names"))
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	cfg, _ := img.ConfigName()
	rawCfg, _ := img.RawConfigFile()
	used := []string{ld.String(), cfg.String()}
	content := map[string][]byte{ld.String(): readAll(t, layers[1].Compressed), cfg.String(): rawCfg}

	for round, restart := range []bool{false, true} {
		if restart {
			c.closeIdle()
			b.Restart()
		}
		for _, dg := range used {
			resp, body := c.do(http.MethodDelete, "/v2/inuse/app/blobs/"+dg, nil, nil)
			expectOCIError(t, fmt.Sprintf("round %d: DELETE of %s, used by v1", round, dg), resp, body, http.StatusConflict, "DENIED")
			c.expectBlob("inuse/app", dg, content[dg])
		}
	}
	resp, body := c.do(http.MethodDelete, "/v2/inuse/app/blobs/"+loose, nil, nil)
	expect(t, "DELETE of a blob no manifest names", resp, body, http.StatusAccepted)

	dg, _ := img.Digest()
	resp, body = c.do(http.MethodDelete, "/v2/inuse/app/manifests/"+dg.String(), nil, nil)
	expect(t, "DELETE of the manifest", resp, body, http.StatusAccepted)
	for _, d := range used {
		resp, body = c.do(http.MethodDelete, "/v2/inuse/app/blobs/"+d, nil, nil)
		expect(t, "DELETE of "+d+" once its manifest is gone", resp, body, http.StatusAccepted)
		resp, body = c.do(http.MethodGet, "/v2/inuse/app/blobs/"+d, nil, nil)
		expectOCIError(t, "GET of a deleted blob", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")
	}
	c.closeIdle()
}

package berthtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/berth-dev/berth/berthtest"
	"github.com/berth-dev/berth/core"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

var start = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// v2 sends one /v2 request with HTTP Basic AWS:token.
func v2(t *testing.T, srv *berthtest.Server, method, path, token string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.Endpoint+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("AWS", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// ociErrorCode is the first code of an OCI error body.
func ociErrorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("%s: no OCI error body (%v)", resp.Request.URL.Path, err)
	}
	return body.Errors[0].Code
}

// The clock given to WithClock is the server's; without one it is the real clock.
func TestClockAccessor(t *testing.T) {
	clock := core.NewManualClock(start)
	if got := berthtest.New(t, berthtest.WithClock(clock)).Clock(); got != core.Clock(clock) {
		t.Fatalf("Clock() = %v, want the manual clock", got)
	}
	if got := berthtest.New(t).Clock(); got != core.SystemClock {
		t.Fatalf("Clock() = %v, want core.SystemClock", got)
	}
}

// A token from GetAuthorizationToken lives 12 hours on the injected clock:
// /v2 accepts it up to its expiry and answers 401 a second later.
func TestTokenExpiresOnTheInjectedClock(t *testing.T) {
	clock := core.NewManualClock(start)
	srv := berthtest.New(t, berthtest.WithClock(clock))
	out, err := ecr.NewFromConfig(srv.AWSConfig).GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	data := out.AuthorizationData[0]
	if want := start.Add(12 * time.Hour); !aws.ToTime(data.ExpiresAt).Equal(want) {
		t.Errorf("expiresAt %v, want %v", aws.ToTime(data.ExpiresAt), want)
	}
	userPass, err := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(string(userPass), "AWS:")

	if resp := v2(t, srv, "GET", "/v2/", token, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh token: %s", resp.Status)
	}
	clock.Advance(12 * time.Hour)
	if resp := v2(t, srv, "GET", "/v2/", token, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("token at its expiry instant: %s", resp.Status)
	}
	clock.Advance(time.Second)
	resp := v2(t, srv, "GET", "/v2/", token, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token 12h and 1s old: %s, want 401", resp.Status)
	}
	if code := ociErrorCode(t, resp); code != "UNAUTHORIZED" {
		t.Errorf("expired token: %s", code)
	}
	if resp := v2(t, srv, "GET", "/v2/", srv.Token(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a token issued now: %s", resp.Status)
	}
}

// DescribeImages reports the injected clock's time as imagePushedAt.
func TestImagePushedAtIsTheClocksTime(t *testing.T) {
	clock := core.NewManualClock(start)
	srv := berthtest.New(t, berthtest.WithClock(clock))
	ctx := context.Background()
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("aged")}); err != nil {
		t.Fatal(err)
	}
	push := func(tag string) string {
		t.Helper()
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(srv.Host+"/aged:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		// A token of the current time: the one from before may have expired.
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	pushed := map[string]time.Time{}
	clock.Advance(90 * time.Minute)
	pushed[push("old")] = clock.Now()
	clock.Advance(30 * 24 * time.Hour)
	pushed[push("new")] = clock.Now()

	out, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("aged")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 2 {
		t.Fatalf("DescribeImages lists %d images", len(out.ImageDetails))
	}
	for _, d := range out.ImageDetails {
		want, ok := pushed[aws.ToString(d.ImageDigest)]
		if !ok {
			t.Fatalf("unexpected image %s", aws.ToString(d.ImageDigest))
		}
		if got := aws.ToTime(d.ImagePushedAt); !got.Equal(want) {
			t.Errorf("%v: imagePushedAt %v, want the manual clock's %v", d.ImageTags, got, want)
		}
	}
}

// The upload janitor runs hourly on the injected clock: advancing it 25
// hours discards a session idle for 25 hours (404 BLOB_UPLOAD_UNKNOWN on
// /v2) and keeps one idle for 13, which still completes.
func TestUploadJanitorRunsOnTheInjectedClock(t *testing.T) {
	clock := core.NewManualClock(start)
	srv := berthtest.New(t, berthtest.WithClock(clock))
	// New returned after the janitor's first round, so whatever it discards
	// below it discards in a round the clock fired.
	if clock.Pending() == 0 {
		t.Fatal("the janitor's next round is not armed on the clock")
	}
	if _, err := ecr.NewFromConfig(srv.AWSConfig).CreateRepository(context.Background(),
		&ecr.CreateRepositoryInput{RepositoryName: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	startUpload := func() string {
		t.Helper()
		resp := v2(t, srv, "POST", "/v2/uploads/blobs/uploads/", srv.Token(), "")
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("starting an upload: %s", resp.Status)
		}
		return resp.Header.Get("Location")
	}
	idle := startUpload()
	if resp := v2(t, srv, "PATCH", idle, srv.Token(), "some bytes"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("writing to the upload: %s", resp.Status)
	}
	clock.Advance(12 * time.Hour)
	fresh := startUpload()
	clock.Advance(13 * time.Hour)

	resp := v2(t, srv, "GET", idle, srv.Token(), "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the upload idle for 25h: %s, want 404", resp.Status)
	}
	if code := ociErrorCode(t, resp); code != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("the upload idle for 25h: %s, want BLOB_UPLOAD_UNKNOWN", code)
	}
	if resp := v2(t, srv, "GET", fresh, srv.Token(), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the upload idle for 13h: %s, want 204", resp.Status)
	}
	content := "the fresh upload's bytes"
	sep := "?"
	if strings.Contains(fresh, "?") {
		sep = "&"
	}
	if resp := v2(t, srv, "PUT", fresh+sep+"digest="+digest.FromString(content).String(), srv.Token(), content); resp.StatusCode != http.StatusCreated {
		t.Fatalf("completing the fresh upload: %s", resp.Status)
	}
}

// WaitForEvents returns once a subscriber has handled what a request
// published.
func TestWaitForEvents(t *testing.T) {
	srv := berthtest.New(t, berthtest.WithCreateOnPush())
	var handled atomic.Int32
	srv.Registry().Bus().Subscribe(core.Subscriber{Name: "slow", Kinds: []core.EventKind{core.EventPush},
		Handle: func(ctx context.Context, e core.Event) error {
			time.Sleep(50 * time.Millisecond)
			handled.Add(1)
			return nil
		}})
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(srv.Host+"/events:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitForEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("WaitForEvents returned with %d push events handled, want 1", n)
	}
}

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// Test suites look inside berth and wipe it between tests.
func TestIntrospectionAndReset(t *testing.T) {
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRepo("team/app")
	img := s.newImage("team/app", 100, 200)
	s.putImage("team/app", "v1", img.Manifest)

	var repos struct {
		Repositories []struct {
			Account, Region, Name string
			Images                int
		}
	}
	if code := getJSON(t, b.URL+"/_berth/ecr/repositories", &repos); code != 200 || len(repos.Repositories) != 1 ||
		repos.Repositories[0].Name != "team/app" || repos.Repositories[0].Account != "000000000000" || repos.Repositories[0].Images != 1 {
		t.Fatalf("repositories: %d %+v", code, repos)
	}
	var imgs struct {
		Images []struct {
			Digest string
			Tags   []string
		}
	}
	if code := getJSON(t, b.URL+"/_berth/ecr/images?repository=team/app", &imgs); code != 200 || len(imgs.Images) != 1 ||
		imgs.Images[0].Digest != img.Digest || imgs.Images[0].Tags[0] != "v1" {
		t.Fatalf("images: %d %+v, want %s", code, imgs, img.Digest)
	}
	var missing map[string]string
	if code := getJSON(t, b.URL+"/_berth/ecr/images?repository=nope", &missing); code != 404 {
		t.Errorf("images of a missing repository: %d %v", code, missing)
	}
	var blobs struct {
		Blobs []struct {
			Digest       string
			Size         int64
			Repositories []string
		}
	}
	getJSON(t, b.URL+"/_berth/ecr/blobs", &blobs)
	if len(blobs.Blobs) != 3 { // config + 2 layers
		t.Fatalf("blobs: %+v", blobs)
	}
	for _, bl := range blobs.Blobs {
		if len(bl.Repositories) != 1 || bl.Repositories[0] != "000000000000/us-east-1/team/app" {
			t.Errorf("blob %s reachable from %v", bl.Digest, bl.Repositories)
		}
	}

	for _, path := range []string{"/_berth/reset", "/moto-api/reset"} {
		s.createRepo("again")
		resp, err := http.Post(b.URL+path, "application/json", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
		getJSON(t, b.URL+"/_berth/ecr/repositories", &repos)
		getJSON(t, b.URL+"/_berth/ecr/blobs", &blobs)
		if len(repos.Repositories) != 0 || len(blobs.Blobs) != 0 {
			t.Fatalf("after %s: %+v %+v", path, repos, blobs)
		}
		out, err := s.ecr.DescribeRepositories(s.ctx, &ecr.DescribeRepositoriesInput{})
		if err != nil || len(out.Repositories) != 0 {
			t.Fatalf("after %s the API still sees %v (%v)", path, out, err)
		}
	}
}

// repositoryUri and proxyEndpoint follow --uri-style and --hostname; the
// flags have BERTH_* equivalents. --uri-style aws gives exactly what AWS and
// moto return, which suites written against them assert.
func TestURIStyles(t *testing.T) {
	for _, c := range []struct {
		flags []string
		env   []string
		host  string // with ":PORT" for the port berth listens on
		proxy string // proxyEndpoint, if not http://<host>
	}{
		{nil, nil, "localhost:PORT", ""},
		{[]string{"--uri-style", "ecr"}, nil, "123456789012.dkr.ecr.eu-west-1.localhost:PORT", ""},
		{[]string{"--hostname", "registry.internal"}, nil, "registry.internal:PORT", ""},
		{nil, []string{"BERTH_URI_STYLE=ecr"}, "123456789012.dkr.ecr.eu-west-1.localhost:PORT", ""},
		{[]string{"--uri-style", "aws"}, nil, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		{nil, []string{"BERTH_URI_STYLE=aws"}, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		{[]string{"--uri-style", "aws", "--hostname", "registry.internal"}, nil, "registry.internal:PORT", ""},
	} {
		for _, e := range c.env {
			k, v, _ := strings.Cut(e, "=")
			t.Setenv(k, v)
		}
		b := Start(t, c.flags...)
		s := newSDK(t, b, "123456789012", "eu-west-1")
		repo := s.createRepo("app")
		_, port, _ := strings.Cut(b.Addr, ":")
		want := strings.ReplaceAll(c.host, "PORT", port)
		if got := aws.ToString(repo.RepositoryUri); got != want+"/app" {
			t.Errorf("%v %v: repositoryUri %s, want %s/app", c.flags, c.env, got, want)
		}
		auth, err := s.ecr.GetAuthorizationToken(s.ctx, &ecr.GetAuthorizationTokenInput{})
		if err != nil {
			t.Fatal(err)
		}
		wantProxy := c.proxy
		if wantProxy == "" {
			wantProxy = "http://" + want
		}
		if got := aws.ToString(auth.AuthorizationData[0].ProxyEndpoint); got != wantProxy {
			t.Errorf("%v %v: proxyEndpoint %s, want %s", c.flags, c.env, got, wantProxy)
		}
		// A layer's download URL is fetched from berth itself, so it must
		// reach berth whatever repositoryUri looks like.
		img := s.newImage("app", 64)
		s.putImage("app", "v1", img.Manifest)
		layer := img.LayerDescs[0].Digest
		dl, err := s.ecr.GetDownloadUrlForLayer(s.ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("app"), LayerDigest: aws.String(layer)})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(aws.ToString(dl.DownloadUrl))
		if err != nil {
			t.Fatal(err)
		}
		if got, status := fetchFrom(t, b, u); status != http.StatusOK || sha256Digest(got) != layer {
			t.Errorf("%v %v: download URL %s: %d, %d bytes", c.flags, c.env, u, status, len(got))
		}
		if h := u.Hostname(); strings.HasSuffix(h, ".amazonaws.com") {
			t.Errorf("%v %v: download URL %s names AWS, not berth", c.flags, c.env, u)
		}
		b.Stop()
		for _, e := range c.env {
			k, _, _ := strings.Cut(e, "=")
			os.Unsetenv(k)
		}
	}
}

// fetchFrom GETs u from b, dialling b whatever host u names (so that names
// like registry.internal need no DNS), and returns the body and status.
func fetchFrom(t *testing.T, b *Berth, u *url.URL) ([]byte, int) {
	t.Helper()
	resp, body := raw(t, b, "").do(http.MethodGet, u.String(), nil, nil)
	return body, resp.StatusCode
}

// --memory keeps nothing on disk: the data dir stays empty.
func TestMemoryModeWritesNothing(t *testing.T) {
	b := Start(t, "--memory", "--create-on-push")
	s := defaultSDK(t, b)
	s.createRepo("app")
	s.putImage("app", "v1", s.newImage("app", 64).Manifest)
	entries, err := os.ReadDir(b.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("--memory wrote %d entries into the data dir", len(entries))
	}
}

// --log-format json makes every log line a JSON object (for log pipelines).
func TestJSONLogs(t *testing.T) {
	b := Start(t, "--log-format", "json", "--log-level", "info")
	b.Stop()
	lines := strings.Split(strings.TrimSpace(b.Stderr()), "\n")
	ready := false
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if rec["msg"] == "berth ready" && rec["endpoint"] == b.URL {
			ready = true
		}
	}
	if !ready {
		t.Errorf("no JSON 'berth ready' line with the endpoint in:\n%s", b.Stderr())
	}
}

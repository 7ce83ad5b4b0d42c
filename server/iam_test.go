package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/identity"
)

// writeIAMConfig writes an --iam-config file and returns its path.
func writeIAMConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "iam.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestABadIAMConfigStopsStartAtItsLine(t *testing.T) {
	path := writeIAMConfig(t, "accounts:\n  - id: '111111111111'\n    users:\n      - name: alice\n        access_keys: [K1]\n      - name: bob\n        access_keys: [K1]\n")
	cfg := Defaults()
	cfg.Memory, cfg.IAMConfig = true, path
	srv, err := New(cfg)
	if err == nil {
		srv.Shutdown(t.Context())
		t.Fatal("berth started with a config giving one access key to two users")
	}
	var ce *identity.ConfigError
	if !errors.As(err, &ce) || ce.Line != 7 {
		t.Fatalf("error %v (%T), want a ConfigError at line 7", err, err)
	}
	if want := "--iam-config: " + path + ":7: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestAMissingIAMConfigStopsStart(t *testing.T) {
	cfg := Defaults()
	cfg.Memory, cfg.IAMConfig = true, filepath.Join(t.TempDir(), "none.yaml")
	srv, err := New(cfg)
	if err == nil {
		srv.Shutdown(t.Context())
		t.Fatal("berth started with a config file that does not exist")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want not-exist", err)
	}
}

// iamTestConfig gives account 111111111111 a root key and a user alice who
// may only pull.
const iamTestConfig = `accounts:
  - id: "111111111111"
    root_access_keys: [AKIAROOT1]
    users:
      - name: alice
        access_keys: [AKIAALICE]
        policies:
          - |
            {"Version": "2012-10-17", "Statement": [{"Sid": "Pull", "Effect": "Allow",
              "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:ListImages", "ecr:DescribeRepositories"],
              "Resource": "*"}]}
`

// ecrCall posts one ECR JSON 1.1 call signed with accessKey.
func ecrCall(t *testing.T, srv *Server, op, body, accessKey string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/20261201/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// v2Password is the /v2 password of the token GetAuthorizationToken gives
// accessKey's principal for registryIds.
func v2Password(t *testing.T, srv *Server, accessKey, registryIds string) string {
	t.Helper()
	code, out := ecrCall(t, srv, "GetAuthorizationToken", `{"registryIds":`+registryIds+`}`, accessKey)
	data, _ := out["authorizationData"].([]any)
	if code != http.StatusOK || len(data) != 1 {
		t.Fatalf("GetAuthorizationToken as %s: %d %v", accessKey, code, out)
	}
	raw, _ := base64.StdEncoding.DecodeString(data[0].(map[string]any)["authorizationToken"].(string))
	password, ok := strings.CutPrefix(string(raw), "AWS:")
	if !ok {
		t.Fatalf("token %q is not AWS:<password>", raw)
	}
	return password
}

func v2Get(srv *Server, path, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://127.0.0.1:4566"+path, nil)
	req.SetBasicAuth("AWS", password)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// The token issued to a configured user carries the user to /v2: alice may
// read her account's repository, and what she may not do is refused in her
// name, not her account root's.
func TestAConfiguredKeysTokenActsAsItsPrincipalOnV2(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.IAMConfig = writeIAMConfig(t, iamTestConfig) })
	if code, out := ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "AKIAROOT1"); code != http.StatusOK {
		t.Fatalf("CreateRepository as the root of 111111111111: %d %v", code, out)
	}
	if code, out := ecrCall(t, srv, "CreateRepository", `{"repositoryName":"other"}`, "222222222222"); code != http.StatusOK {
		t.Fatalf("CreateRepository as the root of 222222222222: %d %v", code, out)
	}
	own := v2Password(t, srv, "AKIAALICE", `["111111111111"]`)
	if rec := v2Get(srv, "/v2/app/tags/list", own); rec.Code != http.StatusOK {
		t.Errorf("alice lists her account's tags: %d %s", rec.Code, rec.Body)
	}
	other := v2Password(t, srv, "AKIAALICE", `["222222222222"]`)
	rec := v2Get(srv, "/v2/other/tags/list", other)
	want := "User: arn:aws:iam::111111111111:user/alice is not authorized to perform: ecr:ListImages on resource: arn:aws:ecr:us-east-1:222222222222:repository/other"
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("alice lists another account's tags: %d %s\nwant 403 with %q", rec.Code, rec.Body, want)
	}
}

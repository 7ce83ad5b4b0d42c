package ecr

import (
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/identity"
)

const accessKeysConfig = `accounts:
  - id: "111111111111"
    root_access_keys: [AKIAROOT1]
    users:
      - name: alice
        path: /dev/
        access_keys: [AKIAALICE, "222222222222"]
    roles:
      - name: ci
        session: build
        access_keys: [ASIACI]
`

// newKeyedHandler is a handler whose access keys are those of
// accessKeysConfig, with its token issuer.
func newKeyedHandler(t *testing.T) (*Handler, *core.Tokens) {
	t.Helper()
	dir, err := identity.Parse("iam.yaml", []byte(accessKeysConfig))
	if err != nil {
		t.Fatal(err)
	}
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { reg.Close() })
	tokens := core.NewTokens(core.RandomSecret(), nil)
	return New(Config{Registry: reg, Tokens: tokens, DefaultAccount: "000000000000", Region: "us-east-1", AccessKeys: dir}), tokens
}

func TestAKnownAccessKeyActsAsItsPrincipalInItsAccount(t *testing.T) {
	h, _ := newKeyedHandler(t)
	for key, principal := range map[string]string{
		"AKIAALICE": "arn:aws:iam::111111111111:user/dev/alice",
		"ASIACI":    "arn:aws:sts::111111111111:assumed-role/ci/build",
		"AKIAROOT1": "arn:aws:iam::111111111111:root",
		// A configured key wins over the 12-digit rule: it is alice's, not
		// account 222222222222's root.
		"222222222222": "arn:aws:iam::111111111111:user/dev/alice",
	} {
		_, out := post(t, h, "CreateRepository", `{"repositoryName":"app-`+strings.ToLower(key)+`"}`, key, "eu-west-1")
		repo, _ := out["repository"].(map[string]any)
		if repo["registryId"] != "111111111111" {
			t.Errorf("key %s: repository created in %v, want the principal's account 111111111111 (%v)", key, repo["registryId"], out)
		}
		// The default authorizer's denial names the caller.
		_, out = post(t, h, "DescribeRepositories", `{"registryId":"333333333333"}`, key, "eu-west-1")
		want := "User: " + principal + " is not authorized to perform: ecr:DescribeRepositories on resource: arn:aws:ecr:eu-west-1:333333333333:repository/* because no resource-based policy allows the ecr:DescribeRepositories action"
		if out["message"] != want {
			t.Errorf("key %s: denial %v, want %q", key, out["message"], want)
		}
	}
}

func TestAnUnknownAccessKeyKeepsTheAccountRule(t *testing.T) {
	h, _ := newKeyedHandler(t)
	for key, account := range map[string]string{
		"444444444444": "444444444444", // a 12-digit key is that account's root
		"AKIAUNKNOWN":  "000000000000", // anything else is the default account's
		"akiaalice":    "000000000000", // key ids are case-sensitive
	} {
		_, out := post(t, h, "DescribeRepositories", `{"registryId":"333333333333"}`, key, "us-east-1")
		want := "User: arn:aws:iam::" + account + ":root is not authorized"
		if msg, _ := out["message"].(string); !strings.HasPrefix(msg, want) {
			t.Errorf("key %s: %q, want it to start %q", key, msg, want)
		}
	}
}

func TestTheAuthorizationTokenIsIssuedToTheKeysPrincipal(t *testing.T) {
	h, tokens := newKeyedHandler(t)
	_, out := post(t, h, "GetAuthorizationToken", `{}`, "ASIACI", "eu-west-1")
	data, _ := out["authorizationData"].([]any)
	if len(data) != 1 {
		t.Fatalf("GetAuthorizationToken: %v", out)
	}
	encoded, _ := data[0].(map[string]any)["authorizationToken"].(string)
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := strings.CutPrefix(string(raw), "AWS:")
	if !ok {
		t.Fatalf("token %q is not AWS:<password>", raw)
	}
	claims, err := tokens.Verify(password)
	if err != nil {
		t.Fatal(err)
	}
	want := core.TokenClaims{Registry: core.RegistryID{Account: "111111111111", Region: "eu-west-1"},
		Principal: "arn:aws:sts::111111111111:assumed-role/ci/build"}
	if claims != want {
		t.Errorf("claims %+v, want %+v", claims, want)
	}
}

// keyTable is an AccessKeyLookup over a map.
type keyTable map[string]string

func (k keyTable) PrincipalForAccessKey(id string) (string, bool) {
	arn, ok := k[id]
	return arn, ok
}

// A lookup that answers with an ARN naming no account does not make a
// caller without one: the key falls back to the account rule.
func TestAKeysPrincipalWithoutAnAccountIsNotUsed(t *testing.T) {
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { reg.Close() })
	h := New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1",
		AccessKeys: keyTable{"AKIAODD": "arn:aws:iam::acct:user/odd", "AKIAGOOD": "arn:aws:iam::555555555555:user/good"}})
	for key, want := range map[string]string{
		"AKIAODD":  "User: arn:aws:iam::000000000000:root is not authorized",
		"AKIAGOOD": "User: arn:aws:iam::555555555555:user/good is not authorized",
	} {
		_, out := post(t, h, "DescribeRepositories", `{"registryId":"333333333333"}`, key, "us-east-1")
		if msg, _ := out["message"].(string); !strings.HasPrefix(msg, want) {
			t.Errorf("key %s: %q, want it to start %q", key, msg, want)
		}
	}
}

// Package authz measures what deciding with IAM policies costs a request:
// the same DescribeImages and /v2 manifest GET, in one process, with the
// default authorizer (AccountBoundary, the owner's own request) and with
// policy.Authorizer deciding a cross-account caller by a 50-statement
// repository policy whose last statement grants it.
//
//	go test -run '^$' -bench . ./bench/authz
//
// throughput-ratio is the default's time over the policy's: 1.0 means
// enforcing the policy costs nothing, 0.8 that it costs a quarter more.
package authz

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/ecr"
	"github.com/berth-dev/berth/oci"
	"github.com/berth-dev/berth/policy"
)

const (
	owner  = "111111111111"
	caller = "222222222222"
	images = 50
)

var ownerReg = core.RegistryID{Account: owner, Region: "us-east-1"}

// policy50 has 49 statements for other accounts, actions and conditions,
// and a last one granting caller the reads.
func policy50() string {
	var st []string
	for i := range 49 {
		switch i % 3 {
		case 0:
			st = append(st, fmt.Sprintf(`{"Sid":"Other%d","Effect":"Allow","Principal":{"AWS":"3333333333%02d"},"Action":["ecr:BatchGetImage","ecr:DescribeImages"]}`, i, i))
		case 1:
			st = append(st, fmt.Sprintf(`{"Sid":"Push%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::4444444444%02d:role/ci"},"Action":"ecr:PutImage"}`, i, i))
		default:
			st = append(st, fmt.Sprintf(`{"Sid":"DenyOld%d","Effect":"Deny","Principal":"*","Action":"ecr:BatchDeleteImage","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"%s"}}}`, i, owner))
		}
	}
	st = append(st, `{"Sid":"CallerReads","Effect":"Allow","Principal":{"AWS":"`+caller+`"},"Action":["ecr:DescribeImages","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`)
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
}

// site is one berth, its two edges, and who calls them.
type site struct {
	ecr, oci http.Handler
	account  string // the caller's account (its access key id)
	token    string // the caller's /v2 token
}

func newSite(b *testing.B, authz core.Authorizer, account string) site {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Authorizer: authz, Log: log})
	b.Cleanup(func() { reg.Close() })
	ctx := core.WithCaller(context.Background(), core.Caller{Registry: ownerReg, Principal: core.RootPrincipal(owner)})
	if _, err := reg.CreateRepository(ctx, ownerReg, "app", func(r *core.Repository) { r.Policy = policy50() }); err != nil {
		b.Fatal(err)
	}
	cfg := `{"architecture":"amd64","os":"linux"}`
	if _, err := reg.PutBlob(ctx, ownerReg, "app", digest.FromString(cfg), strings.NewReader(cfg)); err != nil {
		b.Fatal(err)
	}
	for i := range images {
		body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"annotations":{"n":"%d"}}`,
			digest.FromString(cfg), len(cfg), i)
		if _, err := reg.PutManifest(ctx, ownerReg, "app", core.PutManifestInput{Reference: fmt.Sprintf("v%d", i), Body: []byte(body)}); err != nil {
			b.Fatal(err)
		}
	}
	tokens := core.NewTokens(core.RandomSecret(), nil)
	tok, _ := tokens.Issue(core.TokenClaims{Registry: core.RegistryID{Account: account, Region: "us-east-1"}, Principal: core.RootPrincipal(account)})
	return site{
		ecr:     ecr.New(ecr.Config{Registry: reg, Tokens: tokens, DefaultAccount: "000000000000", Region: "us-east-1", Log: log}),
		oci:     oci.New(oci.Config{Registry: reg, Tokens: tokens, DefaultRegistry: ownerReg, Log: log}),
		account: account, token: tok,
	}
}

func (s site) describeImages(b *testing.B) {
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(`{"registryId":"`+owner+`","repositoryName":"app","maxResults":100}`))
	req.Header.Set("X-Amz-Target", ecr.TargetPrefix+".DescribeImages")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.account+"/20261201/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=x")
	rec := httptest.NewRecorder()
	s.ecr.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("DescribeImages as %s: %d %s", s.account, rec.Code, rec.Body)
	}
}

func (s site) getManifest(b *testing.B) {
	req := httptest.NewRequest("GET", "http://"+owner+".dkr.ecr.us-east-1.localhost:4566/v2/app/manifests/v7", nil)
	req.Header.Set("Accept", core.MediaTypeOCIManifest)
	req.SetBasicAuth("AWS", s.token)
	rec := httptest.NewRecorder()
	s.oci.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("manifest GET as %s: %d %s", s.account, rec.Code, rec.Body)
	}
}

func BenchmarkPolicyEnforcedVsDefault(b *testing.B) {
	for _, w := range []struct {
		name string
		do   func(site, *testing.B)
	}{
		{"DescribeImages", site.describeImages},
		{"ManifestGET", site.getManifest},
	} {
		b.Run(w.name, func(b *testing.B) {
			byDefault := newSite(b, core.AccountBoundary{}, owner)
			byPolicy := newSite(b, policy.NewAuthorizer(policy.RootsOnly{}, policy.AuthorizerOptions{Log: slog.New(slog.DiscardHandler)}), caller)
			w.do(byPolicy, b) // the policy's first decision compiles it
			var tDefault, tPolicy time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				w.do(byDefault, b)
				t1 := time.Now()
				w.do(byPolicy, b)
				tDefault += t1.Sub(t0)
				tPolicy += time.Since(t1)
			}
			b.ReportMetric(float64(tDefault.Nanoseconds())/float64(b.N), "default-ns/op")
			b.ReportMetric(float64(tPolicy.Nanoseconds())/float64(b.N), "policy-ns/op")
			b.ReportMetric(float64(tDefault)/float64(tPolicy), "throughput-ratio")
		})
	}
}

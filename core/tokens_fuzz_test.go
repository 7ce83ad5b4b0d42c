package core

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// fuzzTokens is a Tokens on a stopped clock, with the tokens it made: the
// seed corpus (testdata/fuzz/FuzzTokenVerify) holds the same ones, of each
// kind, for the fuzzer to mutate.
func fuzzTokens() (tok *Tokens, passwords, grants []string) {
	tok = NewTokens([]byte("fuzz-secret-fuzz-secret-fuzz-sec"), newFakeClock())
	for _, c := range []TokenClaims{
		{Registry: regA},
		{Registry: regB, Principal: "arn:aws:iam::222222222222:role/ci"},
		{Registry: regA2, Principal: "arn:aws:sts::111111111111:assumed-role/deploy/session"},
	} {
		p, _ := tok.Issue(c)
		passwords = append(passwords, p)
	}
	for _, g := range []LayerGrant{
		{Registry: regA, Repository: "app", Digest: digest.FromString("layer")},
		{Registry: regB, Repository: "team/app", Digest: digest.SHA512.FromString("layer")},
	} {
		grants = append(grants, tok.Sign(g, time.Hour))
	}
	return tok, passwords, grants
}

// FuzzTokenVerify presents any string as a registry password and as a
// download grant: no panic, and only the tokens Issue and Sign made are
// accepted, each only as its own kind. Then it changes one of those
// tokens — a byte replaced, inserted or removed, or the token cut short —
// and the result is accepted as neither.
func FuzzTokenVerify(f *testing.F) {
	tok, passwords, grants := fuzzTokens()
	minted := append(slices.Clone(passwords), grants...)
	f.Add("", uint8(0), uint16(0), byte('A'))
	f.Fuzz(func(t *testing.T, token string, which uint8, pos uint16, b byte) {
		if _, err := tok.Verify(token); err == nil && !slices.Contains(passwords, token) {
			t.Fatalf("Verify accepted %q, which Issue did not make", token)
		}
		if _, err := tok.VerifyGrant(token); err == nil && !slices.Contains(grants, token) {
			t.Fatalf("VerifyGrant accepted %q, which Sign did not make", token)
		}
		orig := minted[int(which)%len(minted)]
		i := int(pos) % len(orig)
		for _, changed := range []string{
			orig[:i] + string(b) + orig[i+1:],
			orig[:i] + string(b) + orig[i:],
			orig[:i] + orig[i+1:],
			orig[:i],
		} {
			if changed == orig {
				continue
			}
			if _, err := tok.Verify(changed); err == nil {
				t.Fatalf("Verify accepted %q, changed from %q", changed, orig)
			}
			if _, err := tok.VerifyGrant(changed); err == nil {
				t.Fatalf("VerifyGrant accepted %q, changed from %q", changed, orig)
			}
		}
	})
}

// FuzzTokenClaims issues a password and signs a grant for any claims. A
// password fits HTTP Basic (no ':'), and verifies as exactly the claims it
// was issued for, or not at all — and never as expired, having just been
// issued; a grant verifies as exactly what was signed (for names JSON can
// carry: ECR's are ASCII).
func FuzzTokenClaims(f *testing.F) {
	tok, _, _ := fuzzTokens()
	f.Add("111111111111", "us-east-1", "", "app")
	f.Fuzz(func(t *testing.T, account, region, principal, repository string) {
		claims := TokenClaims{Registry: RegistryID{Account: account, Region: region}, Principal: principal}
		token, _ := tok.Issue(claims)
		if strings.Contains(token, ":") {
			t.Fatalf("Issue(%+v) = %q, which HTTP Basic cannot carry", claims, token)
		}
		if claims.Principal == "" {
			claims.Principal = RootPrincipal(account)
		}
		got, err := tok.Verify(token)
		if err == nil && got != claims {
			t.Fatalf("a token issued for %+v verifies as %+v", claims, got)
		}
		if err != nil && strings.Contains(err.Error(), "expired") {
			t.Fatalf("a token issued for %+v just now has expired: Verify did not read the expiry Issue wrote", claims)
		}
		g := LayerGrant{Registry: claims.Registry, Repository: repository, Digest: digest.FromString(repository)}
		grant := tok.Sign(g, time.Hour)
		gotGrant, err := tok.VerifyGrant(grant)
		if !utf8.ValidString(account) || !utf8.ValidString(region) || !utf8.ValidString(repository) {
			return
		}
		g.Expires = tok.clock.Now().Add(time.Hour).Unix()
		if err != nil || gotGrant != g {
			t.Fatalf("a grant signed for %+v verifies as %+v, %v", g, gotGrant, err)
		}
	})
}

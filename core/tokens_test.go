package core

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	clock := newFakeClock()
	tok := NewTokens([]byte("0123456789abcdef0123456789abcdef"), clock)
	reg := RegistryID{Account: "123456789012", Region: "eu-central-1"}
	claims := TokenClaims{Registry: reg, Principal: "arn:aws:iam::123456789012:role/ci"}
	token, exp := tok.Issue(claims)
	if want := clock.Now().Add(TokenTTL); !exp.Equal(want) {
		t.Fatalf("expiry %v, want %v", exp, want)
	}
	if strings.Contains(token, ":") {
		t.Fatalf("token %q contains ':' and cannot be an HTTP Basic password", token)
	}
	got, err := tok.Verify(token)
	if err != nil || got != claims {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Another registry gets another token; without a principal, the account's root.
	other, _ := tok.Issue(TokenClaims{Registry: regB})
	if other == token {
		t.Fatal("two registries share a token")
	}
	if got, _ := tok.Verify(other); got != (TokenClaims{Registry: regB, Principal: RootPrincipal(regB.Account)}) {
		t.Fatalf("Verify(other) = %+v", got)
	}
	// Another principal of the same account gets another token.
	if alt, _ := tok.Issue(TokenClaims{Registry: reg}); alt == token {
		t.Fatal("two principals share a token")
	}
	// A verifier with the same secret (e.g. after a restart) accepts it.
	again := NewTokens([]byte("0123456789abcdef0123456789abcdef"), clock)
	if got, err := again.Verify(token); err != nil || got != claims {
		t.Fatalf("Verify after restart = %+v, %v", got, err)
	}
}

func TestTokenRejected(t *testing.T) {
	clock := newFakeClock()
	tok := NewTokens([]byte("secret-one-secret-one-secret-one"), clock)
	token, _ := tok.Issue(TokenClaims{Registry: regA})
	payload, sig, _ := strings.Cut(token, ".")

	forged := base64.RawURLEncoding.EncodeToString([]byte(regB.Account + "|" + regB.Region + "|99999999999"))
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// The helper below makes tokens Verify accepts when the statement is right.
	soon := itoa(clock.Now().Add(time.Hour).Unix())
	if got, err := tok.Verify(signed(tok, "333333333333|ap-south-1|"+soon+"|arn:aws:iam::333333333333:user/u")); err != nil ||
		got != (TokenClaims{Registry: RegistryID{Account: "333333333333", Region: "ap-south-1"}, Principal: "arn:aws:iam::333333333333:user/u"}) {
		t.Fatalf("well-formed signed statement: %+v, %v", got, err)
	}
	// A token from before tokens carried a principal stands for the account's root.
	if got, err := tok.Verify(signed(tok, "333333333333|ap-south-1|"+soon)); err != nil || got.Principal != RootPrincipal("333333333333") {
		t.Fatalf("principal-less statement: %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"empty":              "",
		"no signature":       payload,
		"empty signature":    payload + ".",
		"payload tampered":   flip(payload, 3) + "." + sig,
		"signature tampered": payload + "." + flip(sig, len(sig)/2),
		"forged payload":     forged + "." + sig,
		"extra part":         token + ".x",
		"other secret": func() string {
			s, _ := NewTokens([]byte("another-secret-another-secret-!!"), clock).Issue(TokenClaims{Registry: regA})
			return s
		}(),
		// Correctly signed, but not a statement Issue makes.
		"not base64":              "!!!." + tok.sign("!!!"),
		"two fields":              signed(tok, "111111111111|us-east-1"),
		"bad expiry":              signed(tok, "111111111111|us-east-1|soon"),
		"bad expiry, four fields": signed(tok, "111111111111|us-east-1|x|99999999999"),
		"not a principal":         signed(tok, "111111111111|us-east-1|99999999999|nobody"),
	} {
		_, err := tok.Verify(bad)
		wantKind(t, err, KindUnauthorized, name)
	}
}

func TestTokenExpiry(t *testing.T) {
	clock := newFakeClock()
	tok := NewTokens(RandomSecret(), clock)
	token, exp := tok.Issue(TokenClaims{Registry: regA})
	clock.Advance(TokenTTL - time.Second)
	if _, err := tok.Verify(token); err != nil {
		t.Fatalf("token rejected before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if !clock.Now().Equal(exp) {
		t.Fatalf("clock %v, expiry %v", clock.Now(), exp)
	}
	if _, err := tok.Verify(token); err != nil {
		t.Fatalf("token rejected at its expiry instant: %v", err)
	}
	clock.Advance(time.Second)
	_, err := tok.Verify(token)
	wantKind(t, err, KindUnauthorized, "expired token")
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("message %q does not say the token expired", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadOrCreateSecret(dir)
	if err != nil || len(s1) != 32 {
		t.Fatalf("LoadOrCreateSecret = %d bytes, %v", len(s1), err)
	}
	s2, err := LoadOrCreateSecret(dir)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatal("the secret changed between loads")
	}
	fi, err := os.Stat(filepath.Join(dir, "token-secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	if bytes.Equal(RandomSecret(), RandomSecret()) {
		t.Fatal("RandomSecret repeats")
	}
}

// A new secret's directory is synced once it is linked into place: without
// that, a crash could forget the file's name, and the data dir would come
// back with a different secret, rejecting every token issued before. A data
// dir that already has its secret is only read.
func TestCreatingTheSecretSyncsItsDirectory(t *testing.T) {
	var synced []string
	saved := syncSecretDir
	syncSecretDir = func(dir string) error { synced = append(synced, dir); return nil }
	t.Cleanup(func() { syncSecretDir = saved })

	dir := t.TempDir()
	if _, err := LoadOrCreateSecret(dir); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Fatalf("directories synced on creation: %q, want [%q]", synced, dir)
	}
	if _, err := LoadOrCreateSecret(dir); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 {
		t.Fatalf("directories synced when loading an existing secret: %q", synced[1:])
	}

	// A sync that fails is the caller's error: the server does not start on
	// a secret that may not survive a crash.
	syncSecretDir = func(string) error { return errors.New("sync failed") }
	if _, err := LoadOrCreateSecret(t.TempDir()); err == nil {
		t.Fatal("a failed directory sync was not reported")
	}
}

func signed(tok *Tokens, statement string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(statement))
	return p + "." + tok.sign(p)
}

// Callers of LoadOrCreateSecret racing on a fresh data dir (`berth serve` and
// `berth token` started together) all end up with the one secret stored
// there, never a partly written file or a secret of their own, so tokens
// issued by one are accepted by the other.
func TestConcurrentLoadOrCreateSecretAgreesOnOneSecret(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		const n = 8
		secrets := make([][]byte, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				s, err := LoadOrCreateSecret(dir)
				if err != nil {
					t.Error(err)
				}
				secrets[i] = s
			})
		}
		close(start)
		wg.Wait()
		onDisk, err := LoadOrCreateSecret(dir)
		must(t, err, "LoadOrCreateSecret")
		for i, s := range secrets {
			if !bytes.Equal(s, onDisk) {
				t.Fatalf("caller %d uses a secret that is not the one in the data dir", i)
			}
		}
	}
}

// LoadSecret reads an existing secret and never creates one.
func TestLoadSecretCreatesNone(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSecret(dir); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("LoadSecret of an empty dir = %v, want ErrNoSecret", err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("LoadSecret created a secret")
	}
	made, err := LoadOrCreateSecret(dir)
	must(t, err, "LoadOrCreateSecret")
	got, err := LoadSecret(dir)
	if err != nil || !bytes.Equal(got, made) {
		t.Fatalf("LoadSecret = %x, %v; want the secret made", got, err)
	}
}

// A claim holding the field separator cannot shift the fields Verify reads.
// FuzzTokenClaims found it: a region "us-east-1|99999999999" (GetAuthorization
// Token takes the region from the caller's SigV4 scope) made a token that
// never expired and named the principal "<expiry>|arn:aws:iam::…:root".
func TestTokenFieldsCannotShift(t *testing.T) {
	tok := NewTokens(RandomSecret(), newFakeClock())
	for _, c := range []TokenClaims{
		{Registry: RegistryID{Account: "111111111111", Region: "us-east-1|99999999999"}},
		{Registry: RegistryID{Account: "111111111111|us-east-1", Region: "99999999999"}, Principal: "arn:aws:iam::111111111111:root"},
	} {
		token, _ := tok.Issue(c)
		if got, err := tok.Verify(token); err == nil {
			t.Errorf("a token issued for %+v verifies as %+v", c, got)
		}
	}
}

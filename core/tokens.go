package core

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsync"
	"github.com/opencontainers/go-digest"
)

// TokenTTL is how long an authorization token lives, as in ECR.
const TokenTTL = 12 * time.Hour

// Tokens issues and verifies registry passwords: an HMAC-signed statement of
// account, region, expiry and principal. They carry no ':' so they fit HTTP Basic.
type Tokens struct {
	secret []byte
	clock  Clock
}

// NewTokens uses secret as the HMAC key.
func NewTokens(secret []byte, clock Clock) *Tokens {
	if clock == nil {
		clock = SystemClock
	}
	return &Tokens{secret: secret, clock: clock}
}

// secretFile is where a data dir keeps the signing secret.
const secretFile = "token-secret"

// ErrNoSecret is LoadSecret's answer for a data dir that has no secret yet.
var ErrNoSecret = errors.New("no token secret")

// LoadSecret reads the signing secret of an existing data dir; it creates
// none (ErrNoSecret), since only the server's own secret signs tokens it
// accepts.
func LoadSecret(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, secretFile))
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(b) < 32 {
		return nil, ErrNoSecret
	}
	return b, err
}

// LoadOrCreateSecret reads the signing secret from dir, creating it on first
// use so that tokens stay valid across restarts.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	p := filepath.Join(dir, secretFile)
	if b, err := os.ReadFile(p); err == nil && len(b) >= 32 {
		return b, nil
	}
	// The file appears complete, and only if there is none yet, so that two
	// processes starting on a fresh data dir (serve and token) agree on it.
	b := RandomSecret()
	tmp, err := os.CreateTemp(dir, ".token-secret-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	err = os.Link(tmp.Name(), p)
	if err == nil {
		return b, syncSecretDir(dir)
	}
	if errors.Is(err, fs.ErrExist) {
		if cur, rerr := os.ReadFile(p); rerr == nil && len(cur) >= 32 {
			return cur, nil // another process created it first
		}
	}
	// No hard links here, or the file there is unusable: replace it.
	if err := os.Rename(tmp.Name(), p); err != nil {
		return nil, err
	}
	return b, syncSecretDir(dir)
}

// syncSecretDir makes a new secret's name durable: its bytes were synced
// before the link, but without a sync of the directory a crash could
// forget the name, and the data dir would come back with a new secret,
// under which no token issued before the crash verifies. A variable for
// tests.
var syncSecretDir = fsync.Dir

// RandomSecret returns a fresh 32-byte key.
func RandomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// TokenClaims is what a registry password says: whose it is, and which
// registry it addresses when the request's host does not name one.
type TokenClaims struct {
	Registry  RegistryID
	Principal string // ARN of the principal the token was issued to
}

// Issue returns a token for the claims and its expiry.
func (t *Tokens) Issue(c TokenClaims) (string, time.Time) {
	exp := t.clock.Now().Add(TokenTTL).Truncate(time.Second)
	if c.Principal == "" {
		c.Principal = RootPrincipal(c.Registry.Account)
	}
	payload := c.Registry.Account + "|" + c.Registry.Region + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + c.Principal
	return t.seal(purposePassword, []byte(payload)), exp
}

// Every signed token is base64url(payload) "." base64url(HMAC(purpose +
// encoded payload)). The purpose keeps a token of one kind from passing for
// another; registry passwords have the empty purpose.
const (
	purposePassword = ""
	purposeGrant    = "grant:"
)

func (t *Tokens) seal(purpose string, payload []byte) string {
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + t.sign(purpose+p)
}

// unseal returns a token's payload if its signature holds for purpose.
func (t *Tokens) unseal(purpose, token string) ([]byte, bool) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(purpose+p))) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	return b, err == nil
}

func (t *Tokens) sign(s string) string {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errBadToken = errors.New("invalid authorization token")

// Verify checks a token's signature and expiry and returns its claims.
// Tokens issued before they carried a principal (account|region|expiry)
// stand for the account's root.
func (t *Tokens) Verify(token string) (TokenClaims, error) {
	bad := func() (TokenClaims, error) { return TokenClaims{}, Errorf(KindUnauthorized, "%v", errBadToken) }
	raw, ok := t.unseal(purposePassword, token)
	if !ok {
		return bad()
	}
	// Exactly the fields Issue wrote: a '|' inside one (a region taken from
	// a client's SigV4 scope, say) would shift the others, turning the
	// region's tail into the expiry and the real expiry into the principal.
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 && len(parts) != 4 {
		return bad()
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return bad()
	}
	if t.clock.Now().After(time.Unix(exp, 0)) {
		return TokenClaims{}, Errorf(KindUnauthorized, "Your authorization token has expired. Reauthenticate and try again.")
	}
	c := TokenClaims{Registry: RegistryID{Account: parts[0], Region: parts[1]}, Principal: RootPrincipal(parts[0])}
	if len(parts) == 4 {
		if AccountOfPrincipal(parts[3]) == "" {
			return bad()
		}
		c.Principal = parts[3]
	}
	return c, nil
}

// LayerGrant is what a layer download URL allows: reading one blob of one
// repository, without other credentials, until it expires.
type LayerGrant struct {
	Registry   RegistryID    `json:"r"`
	Repository string        `json:"n"`
	Digest     digest.Digest `json:"d"`
	Expires    int64         `json:"e"`
}

// Sign returns a URL-safe token for g, valid for ttl.
func (t *Tokens) Sign(g LayerGrant, ttl time.Duration) string {
	g.Expires = t.clock.Now().Add(ttl).Unix()
	b, _ := json.Marshal(g)
	return t.seal(purposeGrant, b)
}

// VerifyGrant checks a token made by Sign.
func (t *Tokens) VerifyGrant(token string) (LayerGrant, error) {
	var g LayerGrant
	b, ok := t.unseal(purposeGrant, token)
	if !ok {
		return g, Errorf(KindDenied, "invalid signature")
	}
	if json.Unmarshal(b, &g) != nil {
		return g, Errorf(KindDenied, "invalid grant")
	}
	if t.clock.Now().After(time.Unix(g.Expires, 0)) {
		return g, Errorf(KindDenied, "the URL has expired")
	}
	return g, nil
}

package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/core"
)

// Validity of what Keys issues. The CA outlives its leaves; a leaf that is
// no longer valid at signing time is issued again for the same key.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	// backdate absorbs clock skew between berth and a verifier.
	backdate = time.Hour
)

// Profile is a signing profile's key and certificate chain: its leaf
// certificate first, then the berth CA.
type Profile struct {
	ARN   string
	Key   *ecdsa.PrivateKey
	Chain []*x509.Certificate
}

// Keys holds the berth signing CA and one key and code-signing certificate
// per signing profile ARN, each created on first use. With a directory they
// are kept there (keys in files of mode 0600), else in memory only.
type Keys struct {
	dir   string // "" keeps everything in memory
	clock core.Clock

	mu       sync.Mutex
	caKey    *ecdsa.PrivateKey
	ca       *x509.Certificate
	profiles map[string]*Profile
}

// NewKeys returns the keys kept in dir (created when first needed; "" for
// memory only), issuing certificates at clock's time.
func NewKeys(dir string, clock core.Clock) *Keys {
	if clock == nil {
		clock = core.SystemClock
	}
	return &Keys{dir: dir, clock: clock, profiles: map[string]*Profile{}}
}

// CA returns the berth signing CA's certificate, creating the CA on first use.
func (k *Keys) CA() (*x509.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadCA(); err != nil {
		return nil, err
	}
	return k.ca, nil
}

// Profile returns the key and chain of signing profile arn, creating them on
// first use, and issuing the leaf again if it is not valid now.
func (k *Keys) Profile(arn string) (*Profile, error) {
	if !ValidProfileArn(arn) {
		return nil, fmt.Errorf("signing: %q is not a signing profile ARN", arn)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadCA(); err != nil {
		return nil, err
	}
	p, err := k.loadProfile(arn, true)
	if err != nil {
		return nil, err
	}
	now := k.clock.Now()
	if leaf := p.Chain[0]; now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		if p, err = k.issue(arn, p.Key); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Known returns the chain of a profile that has a key already (it signed,
// or a signing configuration named it); found is false for any other.
func (k *Keys) Known(arn string) (p *Profile, found bool, err error) {
	if !ValidProfileArn(arn) {
		return nil, false, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadCA(); err != nil {
		return nil, false, err
	}
	p, err = k.loadProfile(arn, false)
	return p, p != nil, err
}

// loadCA reads the CA from the directory or creates it. k.mu is held.
func (k *Keys) loadCA() error {
	if k.ca != nil {
		return nil
	}
	if k.dir != "" {
		key, certs, err := readPair(filepath.Join(k.dir, "ca.key"), filepath.Join(k.dir, "ca.pem"))
		if err == nil {
			k.caKey, k.ca = key, certs[0]
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("signing CA: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := k.clock.Now()
	name := pkix.Name{Country: []string{"US"}, Organization: []string{"berth"}, CommonName: "berth signing CA"}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: name, Issuer: name,
		NotBefore: now.Add(-backdate), NotAfter: now.Add(caValidity),
		// Notation's CA requirements: basic constraints CA=true, key usage
		// (critical; Go marks it so) with keyCertSign.
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if k.dir != "" {
		if err := writePair(k.dir, "ca", key, der); err != nil {
			return fmt.Errorf("signing CA: %w", err)
		}
	}
	k.caKey, k.ca = key, cert
	return nil
}

// profileFile names a profile's files: ARNs hold ':' and '/'.
func profileFile(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return filepath.Join("profiles", hex.EncodeToString(sum[:16]))
}

// loadProfile returns the profile from memory or the directory; create
// makes a key and certificate for a profile that has none. k.mu is held.
func (k *Keys) loadProfile(arn string, create bool) (*Profile, error) {
	if p := k.profiles[arn]; p != nil {
		return p, nil
	}
	if k.dir != "" {
		base := filepath.Join(k.dir, profileFile(arn))
		key, certs, err := readPair(base+".key", base+".pem")
		if err == nil {
			p := &Profile{ARN: arn, Key: key, Chain: []*x509.Certificate{certs[0], k.ca}}
			k.profiles[arn] = p
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("signing profile %s: %w", arn, err)
		}
	}
	if !create {
		return nil, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return k.issue(arn, key)
}

// issue makes a code-signing certificate for a profile's key, signed by the
// CA, and keeps both. k.mu is held.
func (k *Keys) issue(arn string, key *ecdsa.PrivateKey) (*Profile, error) {
	region, account, name, _ := ProfileOf(arn)
	now := k.clock.Now()
	notAfter := now.Add(leafValidity)
	if notAfter.After(k.ca.NotAfter) {
		notAfter = k.ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		// Notation trust policies name identities by C, ST and O at least:
		// the region and account make each profile's subject its own.
		Subject: pkix.Name{Country: []string{"US"}, Province: []string{region}, Locality: []string{account},
			Organization: []string{"berth"}, OrganizationalUnit: []string{"signing-profiles"}, CommonName: name},
		NotBefore: now.Add(-backdate), NotAfter: notAfter,
		// Notation's leaf requirements: not a CA, key usage (critical) with
		// digitalSignature only, and the codeSigning EKU.
		BasicConstraintsValid: true, IsCA: false,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca, &key.PublicKey, k.caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if k.dir != "" {
		if err := writePair(k.dir, profileFile(arn), key, der); err != nil {
			return nil, fmt.Errorf("signing profile %s: %w", arn, err)
		}
	}
	p := &Profile{ARN: arn, Key: key, Chain: []*x509.Certificate{cert, k.ca}}
	k.profiles[arn] = p
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// readPair reads a PKCS#8 key and a certificate, both PEM.
func readPair(keyPath, certPath string) (*ecdsa.PrivateKey, []*x509.Certificate, error) {
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kp, _ := pem.Decode(kb)
	cp, _ := pem.Decode(cb)
	if kp == nil || cp == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", keyPath, certPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s is not an ECDSA key", keyPath)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return key, []*x509.Certificate{cert}, nil
}

// writePair writes base.key (mode 0600) and base.pem under dir, each through
// a temporary file renamed into place, certificate last: a crash leaves
// either no pair or a whole one (a lone key is replaced on next use).
func writePair(dir, base string, key *ecdsa.PrivateKey, certDER []byte) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, base)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := writeFile(path+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeFile(path+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// PEM encodes certificates, leaf first.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

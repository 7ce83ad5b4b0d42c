package signing

import (
	stdx509 "crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/notaryproject/notation-core-go/x509"
)

func TestProfileChainMeetsNotationsCodeSigningRequirements(t *testing.T) {
	k := NewKeys("", core.NewManualClock(coretest.Start))
	p, err := k.Profile(release)
	if err != nil {
		t.Fatal(err)
	}
	at := coretest.Start
	if err := x509.ValidateCodeSigningCertChain(p.Chain, &at); err != nil {
		t.Fatalf("notation-core-go rejects the chain: %v", err)
	}
	leaf := p.Chain[0]
	if !slices.Contains(leaf.ExtKeyUsage, stdx509.ExtKeyUsageCodeSigning) || leaf.IsCA || leaf.Subject.CommonName != "release" {
		t.Fatalf("leaf %v: want a codeSigning, non-CA certificate named after the profile", leaf.Subject)
	}
	if _, err := k.Profile("arn:aws:ecr:us-east-1:111111111111:repository/app"); err == nil {
		t.Fatal("Profile accepted an ARN that is not a signing profile's")
	}
}

func TestKeysPersistInTheDirectoryWithPrivateKeyFilesOfMode0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "signing")
	clock := core.NewManualClock(coretest.Start)
	k := NewKeys(dir, clock)
	p, err := k.Profile(release)
	if err != nil {
		t.Fatal(err)
	}
	again := NewKeys(dir, clock) // a restart
	ca, err := again.CA()
	if err != nil || !ca.Equal(p.Chain[1]) {
		t.Fatalf("CA after a restart differs (%v)", err)
	}
	q, found, err := again.Known(release)
	if err != nil || !found || !q.Chain[0].Equal(p.Chain[0]) || !q.Key.Equal(p.Key) {
		t.Fatalf("profile after a restart: found %v, %v", found, err)
	}
	var keys int
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if strings.HasSuffix(path, ".key") {
			keys++
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
			}
		}
		return nil
	})
	if keys != 2 {
		t.Fatalf("%d key files, want the CA's and the profile's", keys)
	}
}

func TestMemoryKeysWriteNothing(t *testing.T) {
	cwd, _ := os.Getwd()
	before, _ := os.ReadDir(cwd)
	k := NewKeys("", core.NewManualClock(coretest.Start))
	if _, err := k.Profile(release); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadDir(cwd); len(after) != len(before) {
		t.Fatalf("memory keys wrote into %s", cwd)
	}
	if _, found, _ := NewKeys("", nil).Known(release); found {
		t.Fatal("another memory Keys knows the profile")
	}
}

func TestExpiredLeafIsIssuedAgainForTheSameKey(t *testing.T) {
	clock := core.NewManualClock(coretest.Start)
	k := NewKeys(t.TempDir(), clock)
	p, _ := k.Profile(release)
	clock.Advance(leafValidity + time.Hour)
	q, err := k.Profile(release)
	if err != nil {
		t.Fatal(err)
	}
	if q.Chain[0].Equal(p.Chain[0]) || !q.Key.Equal(p.Key) || clock.Now().After(q.Chain[0].NotAfter) {
		t.Fatal("an expired leaf was not issued again for the same key")
	}
}

func TestCertificateEndpointsServeTheChainAndNotFoundForUnknownProfiles(t *testing.T) {
	k := NewKeys("", core.NewManualClock(coretest.Start))
	p, _ := k.Profile(release)
	srv := httptest.NewServer(CertificateHandler(k))
	defer srv.Close()
	get := func(path string) (int, []*stdx509.Certificate) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		certs, err := x509.ReadCertificateFile(writeTemp(t, b))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, certs
	}
	if code, certs := get(CAPath); code != 200 || len(certs) != 1 || !certs[0].Equal(p.Chain[1]) {
		t.Fatalf("CA: %d, %d certificates", code, len(certs))
	}
	for _, path := range []string{ProfilesPath + url.PathEscape(release) + "/certificate", ProfilesPath + release + "/certificate"} {
		if code, certs := get(path); code != 200 || len(certs) != 2 || !certs[0].Equal(p.Chain[0]) || !certs[1].Equal(p.Chain[1]) {
			t.Fatalf("%s: %d, %d certificates", path, code, len(certs))
		}
	}
	for _, path := range []string{ProfilesPath + url.PathEscape(audit) + "/certificate", ProfilesPath + "nonsense/certificate", ProfilesPath + url.PathEscape(release)} {
		if code, _ := get(path); code != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", path, code)
		}
	}
}

func writeTemp(t *testing.T, b []byte) string {
	path := filepath.Join(t.TempDir(), "certs.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

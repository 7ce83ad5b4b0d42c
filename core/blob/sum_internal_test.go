package blob

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The fast check must take exactly the sha256 digests go-digest's Validate
// takes, and leave every other string to it.
func TestSHA256HexAcceptsWhatValidateAccepts(t *testing.T) {
	good := digest.FromString("x")
	cases := []string{
		string(good),
		strings.ToUpper(string(good)),
		"sha256:" + strings.ToUpper(good.Encoded()),
		string(good)[:70],
		string(good) + "0",
		"sha256:" + strings.Repeat("g", 64),
		"sha256:" + strings.Repeat("0", 64),
		"sha256-" + good.Encoded(),
		"sha512:" + strings.Repeat("a", 128),
		"",
		"sha256:",
	}
	for _, c := range cases {
		var sum [sha256.Size]byte
		fast := sha256Hex(digest.Digest(c), &sum)
		valid := digest.Digest(c).Validate() == nil && digest.Digest(c).Algorithm() == digest.SHA256
		if fast != valid {
			t.Errorf("%q: fast check %v, Validate (sha256) %v", c, fast, valid)
		}
		if err := validDigest(digest.Digest(c)); (err == nil) != (digest.Digest(c).Validate() == nil) {
			t.Errorf("%q: validDigest %v, Validate %v", c, err, digest.Digest(c).Validate())
		}
	}
}

func TestSumIsMatchesOnlyTheHashedBytes(t *testing.T) {
	h := sha256.New()
	h.Write([]byte("hello"))
	var scratch [2][sha256.Size]byte
	if is, ok := sumIs(h, &scratch, digest.FromString("hello")); !is || !ok {
		t.Fatalf("own digest: sha256 %v, match %v", is, ok)
	}
	if is, ok := sumIs(h, &scratch, digest.FromString("hellO")); !is || ok {
		t.Fatalf("another digest: sha256 %v, match %v", is, ok)
	}
	if is, _ := sumIs(h, &scratch, digest.SHA512.FromString("hello")); is {
		t.Fatal("a sha512 digest taken for sha256")
	}
	if got := SHA256Digest(h); got != digest.FromString("hello") {
		t.Fatalf("SHA256Digest = %s", got)
	}
}

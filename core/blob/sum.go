package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/opencontainers/go-digest"
)

// Checking and naming sha256 digests without go-digest's machinery: its
// Validate runs a regexp, and NewDigest formats with fmt.Sprintf twice (six
// allocations), on every blob a push commits.

const sha256Prefix = "sha256:"

// sha256Hex decodes d when it is a sha256 digest as go-digest's Validate
// accepts it ("sha256:" and 64 lower-case hex digits); ok false for any
// other digest, valid or not, which the caller checks the general way.
func sha256Hex(d digest.Digest, into *[sha256.Size]byte) bool {
	s := string(d)
	if len(s) != len(sha256Prefix)+2*sha256.Size || s[:len(sha256Prefix)] != sha256Prefix {
		return false
	}
	for i := len(sha256Prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(into[:], []byte(s[len(sha256Prefix):]))
	return err == nil
}

// sumIs reports whether expected is a sha256 digest as sha256Hex takes it
// (isSHA256) and, if so, whether h, a sha256 hash, sums to it. scratch holds
// the sums: a caller's field, so that neither escapes per call.
func sumIs(h hash.Hash, scratch *[2][sha256.Size]byte, expected digest.Digest) (isSHA256, match bool) {
	if !sha256Hex(expected, &scratch[0]) {
		return false, false
	}
	h.Sum(scratch[1][:0])
	return true, scratch[0] == scratch[1]
}

// SHA256Digest names the sum of h, a sha256 hash, in one allocation.
func SHA256Digest(h hash.Hash) digest.Digest {
	var sum [sha256.Size]byte
	return formatSHA256(h.Sum(sum[:0]))
}

func formatSHA256(sum []byte) digest.Digest {
	var s [len(sha256Prefix) + 2*sha256.Size]byte
	copy(s[:], sha256Prefix)
	hex.Encode(s[len(sha256Prefix):], sum)
	return digest.Digest(s[:])
}

// validDigest is d.Validate, without its regexp for a sha256 digest.
func validDigest(d digest.Digest) error {
	var sum [sha256.Size]byte
	if sha256Hex(d, &sum) {
		return nil
	}
	return d.Validate()
}

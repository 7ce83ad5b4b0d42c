package core

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// Metadata layout in the kv store. Keys are built from NUL-separated parts:
// NUL appears in no account, region, repository name, tag or digest, so a
// prefix selects exactly one registry or one repository.
const (
	bRepos      = "repos"       // reg|name                  → Repository JSON
	bManifests  = "manifests"   // reg|repo|digest           → image record, sep, exact manifest bytes (imageValue)
	bTags       = "tags"        // reg|repo|tag              → digest
	bDigestTags = "digest-tags" // reg|repo|digest|tag       → "" (reverse of tags: an image's tags without a scan)
	bBlobRefs   = "blob-refs"   // digest|reg|repo           → blob size (the blob is reachable from repo); and bInlineBlobs
	bReferrers  = "referrers"   // reg|repo|subject|referrer → ""
	bParents    = "parents"     // reg|repo|child|parent     → "" (index membership)
	bUploads    = "uploads"     // id                        → uploadRecord JSON
	bRegUploads = "reg-uploads" // reg|id                    → "" (a registry's open sessions, counted against MaxUploads)
	bMeta       = "meta"        // name                      → value (the layout's schema version)
	// bImageData (imagedata.go): reg|repo|digest|name → a feature's bytes about one image
	// bRegistryData (registrydata.go): reg|name → a feature's bytes about one registry
)

// Layout 7 keeps in one tree what layout 6 kept in two, so that a commit on
// disk writes fewer scattered pages (each its own disk request): a
// manifest's bytes with its record (one leaf, not two), and a blob's link
// in blob-refs (beside the small blob's bytes, where links took a random
// leaf of a tree of its own). The blob-uses index is gone: a manifest's
// blobs are in its bytes, and the one question it answered — may this
// blob be deleted (DeleteBlob, rare) — is answered by reading the
// repository's manifests (blobUser), where every push of a manifest paid
// a random leaf per blob. Open moves layout 6's (schema.go).
const (
	bBytesV6    = "manifest-bytes" // reg|repo|digest      → exact manifest bytes
	bLinksV6    = "links"          // reg|repo|digest      → blob size
	bBlobUsesV6 = "blob-uses"      // reg|repo|blob|manifest → ""
)

// bInlineBlobs: digest → a small blob's bytes (Options.InlineBlobs,
// blob.Inline), in blob-refs since layout 6: a bare digest, so beside the
// blob's references (digest|reg|repo) and never taken for one. The commit
// that stores a small blob also writes its first reference; in one tree the
// two land in one leaf page, where two trees took two leaves and their
// branch pages (three scattered pages more per commit, each its own disk
// request).
const bInlineBlobs = bBlobRefs

// bInlineBlobsV5 is where layouts 4 and 5 kept small blobs (digest →
// bytes); Open moves them to bInlineBlobs (schema.go).
const bInlineBlobsV5 = "inline-blobs"

const sep = "\x00"

func regPrefix(reg RegistryID) string { return reg.Account + sep + reg.Region + sep }

func repoKey(reg RegistryID, name string) []byte { return appendRepoKey(nil, reg, name) }

// appendRepoKey appends repoKey(reg, name) to b. The keys are built in one
// allocation sized for them: every request builds a few.
func appendRepoKey(b []byte, reg RegistryID, name string) []byte {
	if b == nil {
		b = make([]byte, 0, len(reg.Account)+len(reg.Region)+len(name)+2*len(sep))
	}
	b = append(b, reg.Account...)
	b = append(b, sep...)
	b = append(b, reg.Region...)
	b = append(b, sep...)
	return append(b, name...)
}

// inRepo is the prefix of every item of one repository.
func inRepo(reg RegistryID, repo string) []byte { return itemKey(reg, repo, "") }

// itemKey is reg|repo|part|part…, built in one allocation: keys are built
// on every read.
func itemKey(reg RegistryID, repo string, parts ...string) []byte {
	n := len(reg.Account) + len(reg.Region) + len(repo) + 3*len(sep)
	for _, p := range parts {
		n += len(p)
	}
	if len(parts) > 1 {
		n += (len(parts) - 1) * len(sep)
	}
	b := appendRepoKey(make([]byte, 0, n), reg, repo)
	b = append(b, sep...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, p...)
	}
	return b
}

// blobRefKey is the key of repo's link to blob d: digest|reg|repo.
func blobRefKey(d digest.Digest, reg RegistryID, repo string) []byte {
	return appendBlobRefKey(nil, d, reg, repo)
}

// appendBlobRefKey appends blobRefKey(d, reg, repo) to b.
func appendBlobRefKey(b []byte, d digest.Digest, reg RegistryID, repo string) []byte {
	if b == nil {
		b = make([]byte, 0, len(d)+len(reg.Account)+len(reg.Region)+len(repo)+3*len(sep))
	}
	b = append(b, d...)
	b = append(b, sep...)
	return appendRepoKey(b, reg, repo)
}

// lastPart returns what follows the final separator of key.
func lastPart(key []byte) string {
	s := string(key)
	return s[strings.LastIndex(s, sep)+1:]
}

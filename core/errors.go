package core

import (
	"errors"
	"fmt"
)

// Kind classifies a domain error. Edges map kinds to wire codes once
// (oci: the distribution-spec codes; ecr: AWS exception names).
type Kind string

const (
	KindRepositoryNotFound    Kind = "RepositoryNotFound"
	KindRepositoryExists      Kind = "RepositoryAlreadyExists"
	KindRepositoryNotEmpty    Kind = "RepositoryNotEmpty"
	KindNameInvalid           Kind = "NameInvalid"
	KindTagInvalid            Kind = "TagInvalid"
	KindManifestNotFound      Kind = "ManifestNotFound"
	KindManifestInvalid       Kind = "ManifestInvalid"
	KindManifestTooLarge      Kind = "ManifestTooLarge"
	KindManifestBlobMissing   Kind = "ManifestBlobMissing"   // a config or layer blob is not in the repository
	KindManifestChildMissing  Kind = "ManifestChildMissing"  // an index child manifest is not in the repository
	KindManifestReferenced    Kind = "ManifestReferenced"    // an index in the repository still lists it
	KindManifestNotAcceptable Kind = "ManifestNotAcceptable" // stored media type is not one the client accepts
	KindBlobNotFound          Kind = "BlobNotFound"
	KindUploadNotFound        Kind = "UploadNotFound"
	KindDigestInvalid         Kind = "DigestInvalid" // malformed digest, or content does not match it
	KindRangeInvalid          Kind = "RangeInvalid"  // chunk does not start where the upload ends
	KindSizeInvalid           Kind = "SizeInvalid"
	KindImageTagImmutable     Kind = "ImageTagImmutable"
	KindUnauthorized          Kind = "Unauthorized" // no or bad credentials
	KindDenied                Kind = "Denied"       // credentials fine, action not allowed
	KindUnsupported           Kind = "Unsupported"
	KindInvalidParameter      Kind = "InvalidParameter"
	KindImageAlreadyExists    Kind = "ImageAlreadyExists" // a push that changes nothing, where the caller asked to be told
	KindImageArchived         Kind = "ImageArchived"      // the image is in the archive storage class
	KindNotFound              Kind = "NotFound"           // some other named thing (policy, setting, exclusion) is absent
	KindAlreadyExists         Kind = "AlreadyExists"      // some other named thing already exists
	KindLimitExceeded         Kind = "LimitExceeded"
	KindInvalidTagParameter   Kind = "InvalidTagParameter" // a resource tag breaks AWS's rules
	KindTooManyTags           Kind = "TooManyTags"
	KindLayerPartTooSmall     Kind = "LayerPartTooSmall"   // an upload part other than the last is under 5 MiB
	KindUpstreamUnavailable   Kind = "UpstreamUnavailable" // a pull-through fetch failed upstream
	KindBlobInUse             Kind = "BlobInUse"           // a manifest of the repository still needs the blob
	KindBodyUnreadable        Kind = "BodyUnreadable"      // the request body could not be read (see BodyUnreadable)
	// KindSignatureRequired: a signature verification rule in enforce mode
	// found no valid signature by a trusted key (a before hook's veto).
	KindSignatureRequired Kind = "SignatureRequired"
)

// Kinds lists every Kind, so edges can check that they map each one.
var Kinds = []Kind{
	KindRepositoryNotFound, KindRepositoryExists, KindRepositoryNotEmpty, KindNameInvalid, KindTagInvalid,
	KindManifestNotFound, KindManifestInvalid, KindManifestTooLarge, KindManifestBlobMissing,
	KindManifestChildMissing, KindManifestReferenced, KindManifestNotAcceptable, KindBlobNotFound,
	KindUploadNotFound, KindDigestInvalid, KindRangeInvalid, KindSizeInvalid, KindImageTagImmutable,
	KindUnauthorized, KindDenied, KindUnsupported, KindInvalidParameter, KindImageAlreadyExists,
	KindImageArchived, KindNotFound, KindAlreadyExists, KindLimitExceeded, KindInvalidTagParameter, KindTooManyTags,
	KindLayerPartTooSmall, KindUpstreamUnavailable, KindBlobInUse, KindBodyUnreadable, KindSignatureRequired,
}

// Error is a domain error: a Kind and a message in the wording clients expect.
type Error struct {
	Kind    Kind
	Message string
	Err     error // optional cause
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Kind: k}) match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == ""
}

// Errorf builds an *Error of kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// InvalidParameter words a rejected parameter as ECR does.
func InvalidParameter(param, constraint string) error {
	return Errorf(KindInvalidParameter, "Invalid parameter at '%s' failed to satisfy constraint: '%s'", param, constraint)
}

// BodyUnreadable classifies a failure to read a request body — malformed
// chunked encoding, a client that went away or stopped sending — as the
// client's doing, not the server's. The server wraps every request body's
// read errors with it, so that core passes them on and each edge maps the
// kind once. A domain error (e.g. ChunkOfLength's) is returned as it is.
func BodyUnreadable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: KindBodyUnreadable, Message: "the request body could not be read: " + err.Error(), Err: err}
}

// Denied wraps a before-hook's reason as an access-denied error.
func Denied(format string, args ...any) error { return Errorf(KindDenied, format, args...) }

// KindOf returns the Kind of err, or "" for an unclassified (internal) error.
func KindOf(err error) Kind {
	if err == nil {
		return "" // without errors.As, whose target escapes: every read asks
	}
	if e, ok := err.(*Error); ok {
		return e.Kind // what errors.As finds first, without its escaping target
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// IsKind reports whether err is a domain error of kind k.
func IsKind(err error, k Kind) bool { return KindOf(err) == k }

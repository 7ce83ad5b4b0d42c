// Package core is berth's domain: accounts × regions → registries →
// repositories → manifests, tags, blobs and upload sessions. Every operation
// that the OCI (/v2) or ECR (JSON) edge can perform lives here once; the edges
// only translate wire formats and map core's typed errors (see Kind).
//
// # Stores
//
// Blob bytes live in a blob.Store (content-addressed, shared by every
// repository); everything else lives in a kv.Store. A blob is reachable from a
// repository only through a link written when an upload completes into it, a
// mount, or a pull-through copy, so knowing a digest pushed to repository A
// gives nothing in repository B.
//
// # Event contract
//
// Each state-changing or reading operation describes itself as an Event:
//
//	EventPush           a manifest was stored (Digest, MediaType, Size; Tag if pushed by tag)
//	EventPull           a manifest was served by GET (Digest, MediaType, Tag if pulled by tag)
//	EventTag            a tag was created or moved (Tag, Digest; PreviousDigest if moved)
//	EventDelete         a manifest, tag or repository was removed (Target says which)
//	EventUploadComplete a blob upload was committed into a repository (Digest, Size)
//
// Every event carries Registry (account, region), Repository, Actor (the
// caller's principal ARN) and Time (from the injected clock).
//
// Subscribers come in two kinds. Before hooks run synchronously, in
// registration order, before the store is changed or the manifest is served;
// the first one to return an error vetoes the operation and the caller sees
// that error (wrap it with Denied to get an access-denied answer). After hooks
// run on a single background goroutine, in publish order, after the change is
// committed; they never delay or fail the request. An after hook subscribes to
// the kinds it names (Bus.After(h, EventPush, EventTag)), or to all of them;
// an event no hook wants is not queued. Close drains the after queue. Hooks must not call back into an operation that would wait on the
// hook itself (e.g. a before hook calling PutManifest).
package core

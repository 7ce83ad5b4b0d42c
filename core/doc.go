// Package core is berth's domain: accounts × regions → registries →
// repositories → manifests, tags, blobs and upload sessions. Every operation
// that the OCI (/v2) or ECR (JSON) edge can perform lives here once; the edges
// only translate wire formats and map core's typed errors (see Kind).
//
// # Stores
//
// Blob bytes live in a blob.Store (content-addressed, shared by every
// registry); everything else lives in a kv.Store. A blob is reachable from a
// repository only through a link written when an upload completes into it, a
// mount, or a copy, so knowing a digest pushed to repository A gives nothing
// in repository B. Each image is a compact record (Image) beside its exact
// manifest bytes, with a digest → tags index and an index → children index,
// so that reading one image, or one page of a repository, costs in
// proportion to what is read, not to the repository. Open upgrades a store
// written by an earlier layout (schema.go). With Options.InlineBlobs (berth
// on disk), small blobs live in the kv.Store instead (blob.Inline), written
// by the very commit that links them: one grouped sync, not three.
//
// # Upload sessions
//
// A session (StartUpload … CompleteUpload) holds no open file between
// requests: each request reopens its bytes and closes them again, which
// blob.Store makes cheap. A session of no bytes has no upload in the blob
// store at all; with InlineBlobs its first bytes stay in memory until they
// outgrow the inline size or the request ends (memFirst), so a small blob's
// POST and PUT touch no file. Starting a session writes nothing: its id
// carries when it started and a MAC over it, its registry and repository
// (uploadids.go), so that after a restart the id alone makes it known again;
// its record is written once bytes must outlive a request (small ones with
// it, in the same commit), and a tombstone keeps an ended id unknown. A
// registry has at most Options.MaxUploads open
// (KindLimitExceeded past that). A chunk is taken whole or not at all: one
// whose body fails, or is not the length it declared (ChunkOfLength), leaves
// the session as it was, and a body error is the client's
// (KindBodyUnreadable). A chunk is acknowledged once its bytes, and the
// upload's size, are on disk (closing the upload syncs them), and a crash
// while one arrives leaves none of it: after a restart a session holds
// exactly the chunks it acknowledged. Reset and DeleteRepository end
// sessions without waiting for a request writing into one: its body is
// interrupted (Interrupter) and the request fails.
//
// # Seams
//
// Options carries small interfaces, each with a working default:
//
//	Authorizer   may the caller perform an action on resources? (AccountBoundary)
//	Templates    settings of repositories the registry creates (CreateOnPushTemplates)
//	Upstream     fetch-on-miss for a pull-through cache (none)
//	Clock        time, timers and periodic work (SystemClock; ManualClock in tests)
//
// Both edges call Registry.Authorize once per request, after parsing it and
// before reading anything, so a denied caller learns nothing about what
// exists. Core itself authorizes only what a request reaches indirectly: the
// source of a blob mount.
//
// # Trusted writes
//
// Features that act for the registry — replication, the pull-through cache,
// lifecycle — call core directly, not through an edge: CopyImage (an image,
// index children and referrers, into any registry, blobs linked by digest),
// ImportManifest and ImportBlob (content from outside, digests verified while
// streaming), and DeleteImages (many images, one transaction). They mark their
// context with WithCause, and every event their writes publish carries that
// Cause, so that replication never replicates a replica and signing never
// signs a signature. Repositories the registry creates itself (a push to a
// missing repository, a replica's destination, a first pull through the
// cache) are created in the same transaction as the write that needs them,
// with the settings of the template that applies.
//
// # Per-image data
//
// Features record what they know about an image (a scan's findings, a
// replication's status per destination) with UpdateImageData under a name of
// their own, and read it with ImageData. It is removed in the transaction
// that removes the image or its repository, and never written for an image
// that is not there, so no feature has to sweep up after deletions.
// What a feature configures for a whole registry (creation templates, a
// replication configuration) it keeps the same way, with UpdateRegistryData
// and RegistryData; Reset removes it.
//
// # Event contract
//
// Each operation describes itself as an Event:
//
//	EventPush              a manifest was stored (Digest, MediaType, ArtifactType, Subject, Size; Tag and Tags it set; Repo from PutManifest)
//	EventPull              a manifest was served by GET (Digest, MediaType, Tag if pulled by tag)
//	EventTag               a tag was created or moved (Tag, Digest; PreviousDigest if moved)
//	EventDelete            a manifest, tag or repository was removed (Target says which; Tags a manifest had)
//	EventUploadComplete    a blob became reachable from a repository (Digest, Size)
//	EventRepositoryCreated a repository was created, by a user or by the registry
//	EventImageArchived     an image moved to the archive storage class
//	EventImageRestored     an archived image was restored (also by pushing it again)
//	EventPolicyChanged     a repository's policy, its lifecycle policy or the registry's policy changed (Target says which)
//
// Every event carries Cause, Registry (account, region), Repository (empty
// for the registry's own), Actor (the caller's principal ARN; empty for the
// registry's own work) and Time (from the injected clock).
//
// Before hooks (Bus.Before) run synchronously, in registration order, before
// a push, pull, deletion or blob commit changes or serves anything; the first
// error vetoes the operation and the caller sees it (wrap it with Denied to
// get an access-denied answer). They must not call back into an operation
// that would wait on the hook itself.
//
// Subscribers (Bus.Subscribe) hear events after the change is committed,
// each on its own queue with its own workers, so a slow subscriber delays no
// other. With one worker a subscriber sees events in publish order. A handler
// gets a context and returns an error; a failure (or a panic) is logged with
// the event and retried with backoff on the bus's clock, a bounded number of
// times. A request that publishes waits only while a subscriber's queue is
// full (QueueSize events behind); a handler's own writes, made with the
// context it was handed, never wait, so subscribers that write through core
// cannot deadlock on their own queue or each other's. Bus.Wait returns once
// every event published so far has been handled, including those handlers
// published in turn. Close stops requests from publishing, lets handlers
// finish what is queued for at most its drain timeout, and reports what it
// had to abandon. A pull wakes no goroutine unless a subscriber asked for
// pull events: core records pull times itself, batched on its clock.
package core

// Package replication is ECR's private image replication: a registry's
// replication configuration (PutReplicationConfiguration, DescribeRegistry)
// and the copying it asks for, across regions and accounts, with each
// image's status per destination (DescribeImageReplicationStatus).
//
// The configuration is validated as the model and the user guide give it —
// at most 10 rules (the model), at most 25 unique destinations across them
// (the user guide's replication considerations), PREFIX_MATCH filters (at
// most 100 per rule: the model, and the "Filters per rule in a replication
// configuration" quota), and no destination equal to the source registry and
// region — and kept as core per-registry data.
//
// Replication is a core subscriber on pushes made by users (cause user: a
// replica's own push, cause replication, is never replicated again, nor is
// what the pull-through cache or lifecycle writes). For each destination of
// each rule whose filters match the repository, the image — an index with
// its children — is copied with core's trusted CopyImage into the repository
// of the same name in the destination registry, created there (reason
// REPLICATION) from the destination's creation templates or with defaults.
// Blobs are linked by digest: no byte is copied. The tags the push set
// follow, unless they have moved on in the source since. Deletions are not
// replicated, as in AWS by default.
//
// Another account's registry must allow it: the source account's root must
// be allowed ecr:ReplicateImage on the destination repository, and
// ecr:CreateRepository when it does not exist yet, by the destination's
// registry policy — asked of core's Authorizer, as AWS asks the destination
// ("For cross-account replication to occur, the destination account must
// configure a registry permissions policy to allow replication to occur").
//
// Each destination's status is per-image data on the source image:
// IN_PROGRESS while the copy runs, then COMPLETE, or FAILED with a failure
// code (FailureCodes; AWS documents none, these are berth's). It goes with
// the image.
//
// The package knows core only through the few methods it calls (Core), so
// it can be tested alone.
package replication

// Package scanning is berth's image scanning: ECR's StartImageScan and
// DescribeImageScanFindings, the registry's scanning configuration, and scan
// on push, with findings from scanner plugins (plugins/ABI.md).
//
// A scan reads the image's manifest and config through core, applies its
// layers bottom first into a temporary directory keeping only the paths its
// scanners declare (scanning/rootfs), mounts that directory read-only at
// /rootfs and the advisory database at /db, calls each scanner once, and
// merges what they found (deduplicated by finding name and package). What a
// scan found is per-image data (core.UpdateImageData), so it is removed with
// the image and never outlives it. A plugin that crashes, loops, runs out of
// memory or prints garbage fails its own scan with the reason in the status
// description; nothing else.
//
// Scans run on a bounded pool: scan on push is a core.Subscriber with as many
// workers as the pool has slots, and StartImageScan answers IN_PROGRESS at
// once and waits for a slot in the background, so neither a push nor the API
// waits for a scan. With Config.Quiet a scan also waits for pushes and
// uploads to pause, so that a burst of pushes keeps the CPU.
//
// A scan's record is an epoch-stamped summary (status, times, severity
// counts) beside its findings, each scan's under a name of its own that the
// summary points at: DescribeImages reads only summaries, a rescan replaces
// the findings only once it completes, and a scan left IN_PROGRESS by a
// process that stopped reads as interrupted.
//
// The package knows core only through the few methods it calls (Core), so it
// can be tested alone.
package scanning

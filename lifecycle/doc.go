// Package lifecycle evaluates and enforces ECR lifecycle policies.
//
// Parse is the one validator of policy text (the ECR operations and, later,
// repository creation templates use it). Policy.Evaluate is the one
// evaluator: previews and enforcement both call it, so a preview shows
// exactly what enforcement would do. Enforcement is a subscriber of core's
// events (a push into a repository, a changed lifecycle policy) plus a
// periodic sweep on the injected clock; it deletes through core's trusted
// batch delete, marked with core.CauseLifecycle, and archives through the
// storage-class path UpdateImageStorageClass uses.
//
// The package knows core only through the few methods it calls (Core), so
// it can be tested alone.
package lifecycle

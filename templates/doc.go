// Package templates holds ECR's repository creation templates: the settings
// of the repositories a registry creates itself — when replication writes
// into a repository that does not exist yet (REPLICATION), when a
// pull-through cache's first pull creates one (PULL_THROUGH_CACHE), and when
// a push names a repository that does not exist (CREATE_ON_PUSH).
//
// A Service stores each registry's templates as core per-registry data, so
// any number of Services over one registry see the same templates, and
// implements core.TemplateSource: core asks it, while creating a repository
// in the transaction that needs it, which template applies. Of the templates
// whose appliedFor holds the reason, the one with the longest matching
// prefix wins; a prefix p matches the names that begin with "p/" (AWS: "There
// is always an assumed / applied to the end of the prefix"), and ROOT
// matches every name. Its mutability (and exclusion filters), encryption,
// resource tags, repository policy and lifecycle policy land on the new
// repository, in that same transaction.
//
// berth's --create-on-push is an implicit ROOT template applied for
// CREATE_ON_PUSH with default settings, consulted only when no stored
// template applies: a stored template always wins over it, and without the
// flag a push to a missing repository outside every CREATE_ON_PUSH template
// fails with NAME_UNKNOWN, as before.
//
// Validation follows the API model (prefix pattern, lengths and enums are
// checked by the ECR edge) and the user guide: appliedFor is a non-empty
// subset of REPLICATION, PULL_THROUGH_CACHE and CREATE_ON_PUSH; the
// repository policy is validated as a repository policy (policy.Parse), the
// lifecycle policy by lifecycle.Parse, tags, mutability and encryption by the
// validators CreateRepository uses; customRoleArn must name a role of the
// registry's own account ("This role must be in the same account as the
// registry that you are configuring", CreateRepositoryCreationTemplate).
//
// The package knows core only through the few methods it calls (Core), so
// it can be tested alone.
package templates

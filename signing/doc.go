// Package signing is ECR managed signing: a registry's signing configuration
// (Put/Get/DeleteSigningConfiguration), the signatures it asks for, and each
// image's status per signing profile (DescribeImageSigningStatus).
//
// The configuration is validated as the model gives it — at most 10 rules,
// each a signing profile ARN (arn:aws:signer:<region>:<account>:/signing-profiles/<name>)
// and optionally 1 to 100 WILDCARD_MATCH repository filters, where * matches
// any sequence of characters — and kept as core per-registry data. A rule
// without filters signs every repository ("If no filters are specified, all
// images pushed to the registry are signed": the model's SigningRule).
//
// Signing is a core subscriber on pushes made by users (cause user): for
// each profile of a rule matching the repository, the image is signed and
// the signature pushed into the same repository as an OCI 1.1 referrer of
// the image, with cause signing — so a signature, a replica or a cached
// image is never signed, and neither is a referrer a user pushed (a
// signature, SBOM or attestation about another image). Each profile signs
// an image once.
//
// AWS managed signing uses AWS Signer, which makes Notary Project
// (Notation) signatures; berth's are Notation signatures too, made with
// notation-core-go: a JWS envelope (application/jose+json, signing scheme
// notary.x509, the chain in x5c) stored in the manifest shape the Notation
// signature specification gives (artifact type
// application/vnd.cncf.notary.signature). Each profile has its own ECDSA
// P-256 key and code-signing certificate, issued by a berth CA created on
// first use (Keys); notation-go's verifier accepts them with a trust policy
// whose trust store holds that CA, served by CertificateHandler.
//
// The pusher must be allowed signer:SignPayload on the profile, as AWS
// requires; core's Authorizer decides, and a denial is a FAILED status with
// failure code ACCESS_DENIED and the denial as its reason. Statuses
// (IN_PROGRESS, then COMPLETE or FAILED) are per-image data and go with the
// image.
//
// The package knows core only through the few methods it calls (Core), so
// it can be tested alone.
package signing

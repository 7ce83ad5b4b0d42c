// Package ecr serves the Amazon ECR JSON API (AmazonEC2ContainerRegistry_V20150921,
// JSON 1.1 over POST / with X-Amz-Target). Request and response types and the
// constraint table are generated from the AWS model (model/ecr.json) by
// internal/gen, and so is the authorization table that gives each operation's
// IAM action and where its input names the resources. The dispatcher decides
// every request once, before a handler sees it: an operation of the model, an
// input valid against the constraints, then one question to core's Authorizer
// (before anything is read, so a denied caller learns nothing). Handlers are
// thin: decode, call core on the registry the dispatcher authorized, encode;
// core's errors are mapped to AWS exceptions once, in errors.go.
package ecr

//go:generate go run ./internal/gen -model model/ecr.json -out zz_generated.go

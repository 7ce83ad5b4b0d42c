// Package ecr serves the Amazon ECR JSON API (AmazonEC2ContainerRegistry_V20150921,
// JSON 1.1 over POST / with X-Amz-Target). Request and response types and the
// constraint table are generated from the AWS model (model/ecr.json) by
// internal/gen; every request is validated against that table before a
// handler sees it. Handlers are thin: decode, identify the caller, call core,
// encode; core's errors are mapped to AWS exceptions once, in errors.go.
package ecr

//go:generate go run ./internal/gen -model model/ecr.json -out zz_generated.go

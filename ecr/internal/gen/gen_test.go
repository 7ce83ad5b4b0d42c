package main

import (
	"bytes"
	"os"
	"testing"
)

// The committed generated code must be what the committed model produces:
// run `go generate ./ecr` after changing either.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	m, err := Load("../../model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ecr/zz_generated.go is stale: run go generate ./ecr")
	}
	if len(m.Operations) != 58 {
		t.Errorf("model has %d operations, want the 58 of ECR's API", len(m.Operations))
	}
}

// The stripped model keeps every constraint of AWS's full model.
func TestStrippedModelMatchesShared(t *testing.T) {
	const full = "../../../../shared/aws-models/ecr/service-2.json"
	if _, err := os.Stat(full); err != nil {
		t.Skip("shared model not beside the repository")
	}
	a, err := Load(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../../model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := Generate(a)
	gb, _ := Generate(b)
	if !bytes.Equal(ga, gb) {
		t.Fatal("model/ecr.json differs from the shared AWS model: refresh it with -strip")
	}
}

// The authorization rule read off the model agrees with the Service
// Authorization Reference for ECR
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html):
// the actions listed there with the repository resource type are exactly the
// operations whose input names repositories, and the request context keys
// are those the reference lists per action. A model refresh that breaks the
// agreement fails here, to be looked at rather than generated through.
func TestAuthorizationFollowsTheServiceAuthorizationReference(t *testing.T) {
	m, err := Load("../../model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	// The reference's actions on the repository resource type that are API
	// operations, and ListImageReferrers, newer than the copy checked.
	repositoryActions := map[string]bool{
		"BatchCheckLayerAvailability": true, "BatchDeleteImage": true, "BatchGetImage": true,
		"BatchGetRepositoryScanningConfiguration": true, "CompleteLayerUpload": true, "CreateRepository": true,
		"DeleteLifecyclePolicy": true, "DeleteRepository": true, "DeleteRepositoryPolicy": true,
		"DescribeImageReplicationStatus": true, "DescribeImageScanFindings": true, "DescribeImageSigningStatus": true,
		"DescribeImages": true, "DescribeRepositories": true, "GetDownloadUrlForLayer": true,
		"GetLifecyclePolicy": true, "GetLifecyclePolicyPreview": true, "GetRepositoryPolicy": true,
		"InitiateLayerUpload": true, "ListImageReferrers": true, "ListImages": true, "ListTagsForResource": true,
		"PutImage": true, "PutImageScanningConfiguration": true, "PutImageTagMutability": true,
		"PutLifecyclePolicy": true, "SetRepositoryPolicy": true, "StartImageScan": true,
		"StartLifecyclePolicyPreview": true, "TagResource": true, "UntagResource": true,
		"UpdateImageStorageClass": true, "UploadLayerPart": true,
	}
	requestTags := map[string]bool{"CreateRepository": true, "TagResource": true}
	tagKeys := map[string]bool{"UntagResource": true}
	accountSetting := map[string]bool{"GetAccountSetting": true, "PutAccountSetting": true}

	for _, op := range sortedKeys(m.Operations) {
		a, err := deriveAuthorization(m, op)
		if err != nil {
			t.Errorf("%s: %v", op, err)
			continue
		}
		if a.Action != "ecr:"+op {
			t.Errorf("%s: action %s", op, a.Action)
		}
		if got := a.Resources != "anyResource"; got != repositoryActions[op] {
			t.Errorf("%s: resources %s; the reference says repository resource type: %v", op, a.Resources, repositoryActions[op])
		}
		if a.RequestTags != requestTags[op] || a.TagKeys != tagKeys[op] {
			t.Errorf("%s: RequestTags %v TagKeys %v", op, a.RequestTags, a.TagKeys)
		}
		if got := a.Context["ecr:AccountSetting"] == "name" && len(a.Context) == 1; got != accountSetting[op] || (!got && len(a.Context) > 0) {
			t.Errorf("%s: context %v", op, a.Context)
		}
	}
	for _, want := range []struct{ op, resources string }{
		{"DescribeRepositories", "namedRepositories"},
		{"BatchGetRepositoryScanningConfiguration", "namedRepositories"},
		{"TagResource", "repositoryByARN"},
		{"UntagResource", "repositoryByARN"},
		{"ListTagsForResource", "repositoryByARN"},
		{"GetAuthorizationToken", "anyResource"},
	} {
		if a, _ := deriveAuthorization(m, want.op); a.Resources != want.resources {
			t.Errorf("%s: resources %s, want %s", want.op, a.Resources, want.resources)
		}
	}
}

// An input the rule does not cover stops the generator instead of being
// authorized on a guess.
func TestAuthorizationRuleRejectsInputsItDoesNotCover(t *testing.T) {
	base := func() model {
		return model{
			Operations: map[string]operation{"Op": {Name: "Op", Input: &ref{Shape: "OpRequest"}}},
			Shapes: map[string]shape{
				"RepositoryName":     {Type: "string"},
				"RepositoryNameList": {Type: "list", Member: &ref{Shape: "RepositoryName"}},
				"RegistryId":         {Type: "string"},
				"Arn":                {Type: "string"},
				"Other":              {Type: "string"},
				"OtherList":          {Type: "list", Member: &ref{Shape: "Other"}},
			},
		}
	}
	for what, members := range map[string]map[string]ref{
		"two ways of naming repositories":  {"repositoryName": {"RepositoryName"}, "resourceArn": {"Arn"}},
		"repositoryName of another shape":  {"repositoryName": {"Other"}},
		"repositoryNames of another shape": {"repositoryNames": {"OtherList"}},
		"registryId beside resourceArn":    {"registryId": {"RegistryId"}, "resourceArn": {"Arn"}},
		"tags that are not Key/Value":      {"tags": {"OtherList"}},
	} {
		m := base()
		m.Shapes["OpRequest"] = shape{Type: "structure", Members: members}
		if a, err := deriveAuthorization(m, "Op"); err == nil {
			t.Errorf("%s: derived %+v", what, a)
		}
	}
	m := base()
	m.Shapes["OpRequest"] = shape{Type: "structure", Members: map[string]ref{"repositoryNames": {"RepositoryNameList"}, "registryId": {"RegistryId"}}}
	if a, err := deriveAuthorization(m, "Op"); err != nil || a.Resources != "namedRepositories" || !a.RegistryID {
		t.Errorf("repositoryNames and registryId: %+v %v", a, err)
	}
}

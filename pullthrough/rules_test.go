package pullthrough

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
)

// The mapping table of the ECR user guide (Customizing repository prefixes
// for ECR to ECR pull through cache), and longest-prefix matching with ROOT
// for what no other rule claims.
func TestRuleMatchingAndUpstreamNames(t *testing.T) {
	rules := []Rule{
		{Prefix: "ecr-public"},
		{Prefix: "ROOT"},
		{Prefix: "team-a", UpstreamPrefix: "team-a"},
		{Prefix: "my-app", UpstreamPrefix: "upstream-app"},
		{Prefix: "my-app/deep/"}, // a trailing / is the one ECR assumes
	}
	for _, c := range []struct{ repo, prefix, upstream string }{
		{"ecr-public/my-app/image1", "ecr-public", "my-app/image1"},
		{"ecr-public/my-app/image2", "ecr-public", "my-app/image2"},
		{"my-app/image1", "my-app", "upstream-app/image1"},
		{"team-a/myapp/image1", "team-a", "team-a/myapp/image1"},
		{"other/image1", "ROOT", "other/image1"},
		{"image1", "ROOT", "image1"},
		{"my-app/deep/x", "my-app/deep/", "x"},
		{"ecr-publicity/x", "ROOT", "ecr-publicity/x"}, // a prefix is a namespace, not a string prefix
	} {
		rule, rest, ok := match(rules, c.repo)
		if !ok || rule.Prefix != c.prefix || upstreamName(rule, rest) != c.upstream {
			t.Errorf("%s: rule %q → %q (%v), want %q → %q", c.repo, rule.Prefix, upstreamName(rule, rest), ok, c.prefix, c.upstream)
		}
	}
	if _, _, ok := match(rules[:1], "ecr-public"); ok {
		t.Error("a repository named exactly as a prefix matched")
	}
	if _, _, ok := match(rules[:1], "elsewhere/x"); ok {
		t.Error("a repository under no rule matched")
	}
}

// Validation as the model and the user guide give it, beyond the model's
// own constraints (which the ECR edge applies first).
func TestRuleValidation(t *testing.T) {
	const acct = "111111111111"
	ecrURL := acct + ".dkr.ecr.us-west-2.amazonaws.com"
	otherECR := "222222222222.dkr.ecr.us-east-1.amazonaws.com"
	role := "arn:aws:iam::" + acct + ":role/ptc"
	for _, c := range []struct {
		name string
		in   Input
		want string // "" valid, else a word of the error, or the sentinel's
	}{
		{"ecr-public needs nothing", Input{Prefix: "ecr-public", UpstreamURL: "public.ecr.aws"}, ""},
		{"a kind inferred from the URL must agree", Input{Prefix: "q", UpstreamURL: "quay.io", UpstreamRegistry: K8s}, "does not belong"},
		{"an unknown bare host", Input{Prefix: "x", UpstreamURL: "registry.example.com"}, "unsupported"},
		{"docker hub needs a secret", Input{Prefix: "hub", UpstreamURL: "registry-1.docker.io"}, "requires authentication"},
		{"azure names any registry", Input{Prefix: "az", UpstreamURL: "myreg.azurecr.io", CredentialARN: secret}, ""},
		{"a secret in another region", Input{Prefix: "hub", UpstreamURL: "registry-1.docker.io",
			CredentialARN: strings.Replace(secret, "us-east-1", "eu-west-1", 1)}, "account and Region"},
		{"ROOT is for ecr upstreams", Input{Prefix: "ROOT", UpstreamURL: "public.ecr.aws"}, "ROOT can only"},
		{"ROOT with ecr", Input{Prefix: "ROOT", UpstreamURL: ecrURL}, ""},
		{"an upstream prefix with ROOT", Input{Prefix: "ROOT", UpstreamURL: ecrURL, UpstreamPrefix: "team"}, "not ROOT"},
		{"an upstream prefix is for ecr", Input{Prefix: "q", UpstreamURL: "quay.io", UpstreamPrefix: "team"}, "only be used with an ecr"},
		{"ecr takes no secret", Input{Prefix: "e", UpstreamURL: ecrURL, CredentialARN: secret}, "IAM role"},
		{"a role is for ecr", Input{Prefix: "q", UpstreamURL: "quay.io", CustomRoleARN: role}, "only be used with an ecr"},
		{"another account's ecr needs a role", Input{Prefix: "e", UpstreamURL: otherECR}, "requires a customRoleArn"},
		{"another account's ecr with a role", Input{Prefix: "e", UpstreamURL: otherECR, CustomRoleARN: role}, ""},
		{"a role of another account", Input{Prefix: "e", UpstreamURL: otherECR, CustomRoleARN: "arn:aws:iam::222222222222:role/ptc"}, "registry's account"},
		{"a role that is not a role", Input{Prefix: "e", UpstreamURL: otherECR, CustomRoleARN: "arn:aws:iam::" + acct + ":user/ptc"}, "IAM role ARN"},
		{"berth's http:// upstream", Input{Prefix: "local", UpstreamURL: "http://127.0.0.1:5000"}, ""},
		{"berth's upstream with a path", Input{Prefix: "local", UpstreamURL: "http://127.0.0.1:5000/v2/"}, "without a path"},
		{"berth's upstream is not ecr", Input{Prefix: "local", UpstreamURL: "https://r.example.com", UpstreamRegistry: ECR}, "dkr.ecr"},
		{"berth's upstream claiming docker-hub needs its secret", Input{Prefix: "local", UpstreamURL: "https://r.example.com", UpstreamRegistry: DockerHub}, "requires authentication"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := checkInput(reg, c.in)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "unsupported":
				if !errors.Is(err, ErrUnsupportedUpstream) {
					t.Fatalf("got %v, want ErrUnsupportedUpstream", err)
				}
			case c.want != "" && (err == nil || !core.IsKind(err, core.KindInvalidParameter) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an invalid parameter saying %q", err, c.want)
			}
		})
	}
}

// Create, Describe, Update and Delete keep each registry's rules, with
// ECR's errors; nothing is stored by a refused change.
func TestRuleLifecycle(t *testing.T) {
	c := newCache(t, secret+":\n  username: u\n  accessToken: t\n", nil)
	s := c.svc
	created := c.rule(t, Input{Prefix: "ecr-public", UpstreamURL: "public.ecr.aws"})
	if created.UpstreamRegistry != ECRPublic || !created.CreatedAt.Equal(c.f.Clock.Now()) {
		t.Fatalf("created %+v", created)
	}
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "registry-1.docker.io", CredentialARN: secret})
	if _, err := s.Create(bg(), reg, Input{Prefix: "hub/", UpstreamURL: "quay.io"}); !errors.Is(err, ErrRuleExists) {
		t.Fatalf("a second rule for hub/: %v", err)
	}
	all, err := s.Describe(bg(), reg, nil)
	if err != nil || len(all) != 2 || all[0].Prefix != "ecr-public" || all[1].Prefix != "hub" {
		t.Fatalf("Describe: %+v %v", all, err)
	}
	if _, err := s.Describe(bg(), reg, []string{"hub", "nope"}); !errors.Is(err, ErrRuleNotFound) {
		t.Fatalf("Describe of a missing prefix: %v", err)
	}
	if other, _ := s.Describe(bg(), coretestRegB, nil); len(other) != 0 {
		t.Fatalf("another registry sees %+v", other)
	}

	c.f.Clock.Advance(time.Minute)
	if _, err := s.Update(bg(), reg, "ecr-public", secret, ""); err != nil {
		t.Fatalf("a secret for ecr-public (optional there): %v", err)
	}
	if _, err := s.Update(bg(), reg, "hub", "", "arn:aws:iam::111111111111:role/x"); !core.IsKind(err, core.KindInvalidParameter) {
		t.Fatalf("a role on a docker-hub rule: %v", err)
	}
	if _, err := s.Update(bg(), reg, "nope", secret, ""); !errors.Is(err, ErrRuleNotFound) {
		t.Fatalf("Update of a missing rule: %v", err)
	}
	if _, err := s.Update(bg(), reg, "hub", secret+"-gone", ""); !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("Update to a missing secret: %v", err)
	}
	hub, _ := s.Describe(bg(), reg, []string{"hub"})
	if hub[0].CustomRoleARN != "" || !hub[0].UpdatedAt.Equal(created.CreatedAt) {
		t.Fatalf("a refused update changed %+v", hub[0])
	}

	deleted, err := s.Delete(bg(), reg, "hub/")
	if err != nil || deleted.Prefix != "hub" || deleted.CredentialARN != secret {
		t.Fatalf("Delete: %+v %v", deleted, err)
	}
	if _, err := s.Delete(bg(), reg, "hub"); !errors.Is(err, ErrRuleNotFound) {
		t.Fatalf("a second Delete: %v", err)
	}
	for i := range MaxRules - 1 {
		c.rule(t, Input{Prefix: fmt.Sprintf("p%02d", i), UpstreamURL: "quay.io"})
	}
	if _, err := s.Create(bg(), reg, Input{Prefix: "one-more", UpstreamURL: "quay.io"}); !core.IsKind(err, core.KindLimitExceeded) {
		t.Fatalf("rule %d: %v", MaxRules+1, err)
	}
}

var coretestRegB = core.RegistryID{Account: "222222222222", Region: "us-east-1"}

// The credentials file: YAML or JSON, each entry a Secrets Manager ARN with
// a username and an accessToken (or password); anything else is refused.
func TestCredentialsFile(t *testing.T) {
	good, err := parseCredentials([]byte(`{"` + secret + `": {"username": "u", "password": "p"}}`))
	if err != nil || good[secret].token() != "p" {
		t.Fatalf("JSON with a password: %v %+v", err, good)
	}
	for name, content := range map[string]string{
		"not an ARN":     "hub:\n  username: u\n  accessToken: t\n",
		"no token":       secret + ":\n  username: u\n",
		"an unknown key": secret + ":\n  username: u\n  accessToken: t\n  region: x\n",
		"not a mapping":  "- a\n- b\n",
	} {
		if _, err := parseCredentials([]byte(content)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Options{Credentials: "/nonexistent/credentials.yaml"}); err == nil {
		t.Error("a missing credentials file was accepted")
	}
	var none *Credentials
	if _, err := none.Lookup(secret); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("no file: %v", err)
	}
}

// Covers answers what match answers over the registry's current rules: no
// rules cover nothing, and a rule created, changed or deleted is seen on the
// next call (the decoded rules are remembered only while their bytes stay).
func TestCoversFollowsTheRules(t *testing.T) {
	c := newCache(t, "", nil)
	ctx := bg()
	if c.svc.Covers(ctx, reg, "hub/app") {
		t.Fatal("a registry without rules covers hub/app")
	}
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "public.ecr.aws"})
	if !c.svc.Covers(ctx, reg, "hub/app") || c.svc.Covers(ctx, reg, "other/app") || c.svc.Covers(ctx, reg, "hub") {
		t.Fatal("with a hub rule: want hub/app covered, other/app and hub not")
	}
	c.rule(t, Input{Prefix: "other", UpstreamURL: "quay.io"})
	if !c.svc.Covers(ctx, reg, "other/app") {
		t.Fatal("an added rule does not cover other/app")
	}
	if _, err := c.svc.Delete(ctx, reg, "other"); err != nil {
		t.Fatal(err)
	}
	if c.svc.Covers(ctx, reg, "other/app") {
		t.Fatal("a deleted rule still covers other/app")
	}
	// Describe's answer is the caller's: changing it changes no rule.
	rules, err := c.svc.Describe(ctx, reg, nil)
	if err != nil || len(rules) != 1 {
		t.Fatalf("Describe: %v %v", rules, err)
	}
	rules[0].Prefix = "changed"
	if !c.svc.Covers(ctx, reg, "hub/app") {
		t.Fatal("changing Describe's answer changed the rules")
	}
}

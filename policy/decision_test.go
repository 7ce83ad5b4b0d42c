package policy

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// Documents the cases below rely on:
//
//	[eval]   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
//	[single] https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
//	[cross]  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
//	[princ]  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
//	[notp]   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
//	[cond]   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
//	[multi]  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
//	[vars]   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
//	[reg]    https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html
//	[keys]   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
//	[denied] https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html

const (
	acctC   = "333333333333"
	orgID   = "o-a1b2c3d4e5"
	allowB  = `{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:*"}]}`
	pullAll = `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}`
)

var (
	bobB   = user(acctB, "bob", pullAll)
	aliceA = user(acctA, "alice")
	role   = Principal{ARN: "arn:aws:sts::" + acctB + ":assumed-role/ci/build-1", Account: acctB, Type: "AssumedRole",
		RoleARN: "arn:aws:iam::" + acctB + ":role/ci", UserID: "AROACI:build-1", Policies: []string{pullAll}}
)

func stmt(body string) string { return `{"Version":"2012-10-17","Statement":[` + body + `]}` }

type decisionCase struct {
	name      string
	principal Principal
	action    string // default ecr:BatchGetImage
	resource  string // default repoARN; "*" for no resource type
	repo      string // repository policy
	registry  string // registry policy
	scope     string
	tags      map[string]string
	context   map[string][]string
	want      Effect
	sids      []string
	reason    string // checked when not ""
}

func runDecisionCases(t *testing.T, cases []decisionCase) {
	t.Helper()
	e := NewEngine()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Request{Principal: c.principal, Action: c.action, Resource: c.resource, ResourceAccount: acctA,
				ResourceRegion: "us-east-1", ResourceTags: c.tags, ResourcePolicy: c.repo, RegistryPolicy: c.registry,
				RegistryPolicyScope: c.scope, Context: c.context}
			if r.Action == "" {
				r.Action = "ecr:BatchGetImage"
			}
			if r.Resource == "" {
				r.Resource = repoARN
			}
			d, err := e.Decide(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Effect != c.want {
				t.Fatalf("effect %s (%+v), want %s", d.Effect, d, c.want)
			}
			if c.sids != nil && !reflect.DeepEqual(d.Sids, c.sids) {
				t.Fatalf("sids %q, want %q", d.Sids, c.sids)
			}
			if c.reason != "" && d.Reason != c.reason {
				t.Fatalf("reason %q, want %q", d.Reason, c.reason)
			}
			if c.want == Allow && d.Reason != "" {
				t.Fatalf("an allow has reason %q", d.Reason)
			}
		})
	}
}

func TestDecisionAccountsAndPrincipals(t *testing.T) {
	runDecisionCases(t, []decisionCase{
		// [eval] the root user has full access in its own account.
		{name: "root in own account", principal: rootA, want: Allow},
		// [single] within an account an identity policy alone allows...
		{name: "same account identity allow", principal: user(acctA, "alice", pullAll), want: Allow, sids: []string{"Pull"}},
		// ...and so does a resource policy naming the principal itself.
		{name: "same account resource allow naming the user", principal: aliceA,
			repo: stmt(`{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"ecr:BatchGetImage"}`), want: Allow, sids: []string{"Alice"}},
		// [princ] an account principal delegates to the account's identity
		// policies: a user without one is not allowed, even in that account.
		{name: "same account resource allow naming the account delegates", principal: aliceA,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"ecr:BatchGetImage"}`), want: ImplicitDeny,
			reason: "because no identity-based policy allows the ecr:BatchGetImage action"},
		{name: "same account no policy", principal: aliceA, want: ImplicitDeny, reason: "because no identity-based policy allows the ecr:BatchGetImage action"},
		// [cross] across accounts both sides must allow.
		{name: "cross account both allow", principal: bobB, repo: allowB, want: Allow, sids: []string{"B", "Pull"}},
		{name: "cross account no resource policy", principal: bobB, want: ImplicitDeny, reason: "because no resource-based policy allows the ecr:BatchGetImage action"},
		{name: "cross account no identity allow", principal: user(acctB, "eve"), repo: allowB, want: ImplicitDeny, reason: "because no identity-based policy allows the ecr:BatchGetImage action"},
		{name: "cross account root of the granted account", principal: rootB, repo: allowB, want: Allow},
		{name: "cross account root arn form", principal: rootB,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "cross account other account", principal: Principal{ARN: "arn:aws:iam::" + acctC + ":root", Account: acctC, Type: "Account"}, repo: allowB, want: ImplicitDeny},
		{name: "cross account user named directly", principal: bobB,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:user/bob"},"Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "cross account another user named", principal: bobB,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:user/mallory"},"Action":"ecr:BatchGetImage"}`), want: ImplicitDeny},
		// [princ] a role ARN in Principal matches the role's sessions.
		{name: "assumed role session by role arn", principal: role,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/ci"},"Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "assumed role session by session arn", principal: role,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::222222222222:assumed-role/ci/build-1"},"Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "principal star", principal: bobB, repo: stmt(`{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "principal AWS star", principal: bobB, repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "same account principal star allows without identity policy", principal: aliceA,
			repo: stmt(`{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}`), want: Allow},
		{name: "service principal never matches a caller", principal: bobB,
			repo: stmt(`{"Effect":"Allow","Principal":{"Service":"ecr.amazonaws.com"},"Action":"ecr:BatchGetImage"}`), want: ImplicitDeny},
	})
}

func TestDecisionExplicitDenyWinsEverywhere(t *testing.T) {
	denyRepo := stmt(`{"Sid":"NoB","Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}`)
	runDecisionCases(t, []decisionCase{
		// [eval] an explicit deny in any policy overrides any allow.
		{name: "repository deny over root in own account", principal: rootA,
			repo: stmt(`{"Sid":"Nobody","Effect":"Deny","Principal":"*","Action":"ecr:*"}`), want: ExplicitDeny, sids: []string{"Nobody"},
			reason: "with an explicit deny in a resource-based policy"},
		{name: "repository deny over both allows", principal: bobB,
			repo: stmt(`{"Sid":"B","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:*"},{"Sid":"NoB","Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}`),
			want: ExplicitDeny, sids: []string{"NoB"}},
		{name: "registry deny over repository allow", principal: bobB, repo: allowB,
			registry: stmt(`{"Sid":"RegNo","Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*"}`), want: ExplicitDeny, sids: []string{"RegNo"},
			reason: "with an explicit deny in a resource-based policy"},
		{name: "identity deny over resource allow", principal: user(acctB, "bob", pullAll, stmt(`{"Sid":"Mine","Effect":"Deny","Action":"ecr:*","Resource":"*"}`)),
			repo: allowB, want: ExplicitDeny, sids: []string{"Mine"}, reason: "with an explicit deny in an identity-based policy"},
		{name: "deny by principal account condition", principal: bobB, repo: allowB + "",
			registry: stmt(`{"Sid":"NotB","Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}}`),
			want:     ExplicitDeny},
		{name: "deny for another action does not apply", principal: bobB, repo: allowB, registry: strings.Replace(denyRepo, `"ecr:BatchGetImage"`, `"ecr:PutImage"`, 1), want: Allow},
	})
}

func TestDecisionNotPrincipalNotActionNotResource(t *testing.T) {
	runDecisionCases(t, []decisionCase{
		// [notp] NotPrincipal with Deny denies everyone but the listed
		// principals; excluding a user takes its ARN and its account's.
		{name: "not principal excludes user and account", principal: bobB, repo: allowB + "",
			registry: stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::222222222222:user/bob","222222222222"]},"Action":"ecr:*","Resource":"*"}`), want: Allow},
		{name: "not principal listing only the user still denies it", principal: bobB, repo: allowB,
			registry: stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::222222222222:user/bob"},"Action":"ecr:*","Resource":"*"}`), want: ExplicitDeny},
		{name: "not principal denies others", principal: user(acctB, "eve", pullAll), repo: allowB,
			registry: stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::222222222222:user/bob","222222222222"]},"Action":"ecr:*","Resource":"*"}`), want: ExplicitDeny},
		{name: "not principal role session needs role and account", principal: role, repo: allowB,
			registry: stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::222222222222:role/ci","arn:aws:sts::222222222222:assumed-role/ci/build-1","arn:aws:iam::222222222222:root"]},"Action":"ecr:*","Resource":"*"}`), want: Allow},
		// NotAction matches every action but the listed ones.
		{name: "not action allows other actions", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","NotAction":"ecr:Put*","Resource":"*"}`)), want: Allow},
		{name: "not action excludes listed", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","NotAction":"ecr:put*","Resource":"*"}`)), action: "ecr:PutImage", want: ImplicitDeny},
		{name: "not action of another service matches ecr", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}`)), want: Allow},
		// NotResource matches every resource but the listed ones.
		{name: "not resource excludes listed", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/app"}`)), want: ImplicitDeny},
		{name: "not resource allows others", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/secret*"}`)), want: Allow},
		{name: "not resource star applies to nothing", principal: user(acctA, "alice", stmt(`{"Effect":"Allow","Action":"ecr:*","NotResource":"*"}`)), want: ImplicitDeny},
	})
}

func TestDecisionActionsAndResources(t *testing.T) {
	identity := func(action, resource string) Principal {
		return user(acctA, "alice", stmt(`{"Effect":"Allow","Action":`+action+`,"Resource":`+resource+`}`))
	}
	runDecisionCases(t, []decisionCase{
		{name: "action case-insensitive", principal: identity(`"ECR:batchgetIMAGE"`, `"*"`), want: Allow},
		{name: "action star", principal: identity(`"*"`, `"*"`), want: Allow},
		{name: "action ecr star", principal: identity(`"ecr:*"`, `"*"`), want: Allow},
		{name: "action prefix glob", principal: identity(`"ecr:BatchGet*"`, `"*"`), want: Allow},
		{name: "action question mark", principal: identity(`"ecr:BatchGetImag?"`, `"*"`), want: Allow},
		{name: "action other service", principal: identity(`"s3:*"`, `"*"`), want: ImplicitDeny},
		{name: "permission-only action", principal: identity(`"ecr:ReplicateImage"`, `"*"`), action: "ecr:ReplicateImage", want: Allow},
		{name: "resource exact", principal: identity(`"ecr:*"`, `"`+repoARN+`"`), want: Allow},
		{name: "resource other repository", principal: identity(`"ecr:*"`, `"arn:aws:ecr:us-east-1:111111111111:repository/other"`), want: ImplicitDeny},
		{name: "resource glob per component", principal: identity(`"ecr:*"`, `"arn:aws:ecr:*:111111111111:repository/a*"`), want: Allow},
		{name: "resource glob does not cross components", principal: identity(`"ecr:*"`, `"arn:aws:ecr:*:repository/app"`), want: ImplicitDeny},
		{name: "resource list", principal: identity(`"ecr:*"`, `["arn:aws:ecr:us-east-1:111111111111:repository/x","`+repoARN+`"]`), want: Allow},
		{name: "repository resource does not cover star", principal: identity(`"ecr:*"`, `"arn:aws:ecr:*:*:repository/*"`), action: "ecr:GetAuthorizationToken", resource: "*", want: ImplicitDeny},
		{name: "star covers star", principal: identity(`"ecr:*"`, `"*"`), action: "ecr:GetAuthorizationToken", resource: "*", want: Allow},
	})
}

func TestDecisionRegistryPolicyScope(t *testing.T) {
	registry := stmt(`{"Sid":"Reg","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:ReplicateImage","ecr:CreateRepository","ecr:BatchGetImage"],"Resource":"arn:aws:ecr:us-east-1:111111111111:repository/*"}`)
	runDecisionCases(t, []decisionCase{
		// [reg] V2: the registry policy is evaluated with repository policies for every ECR action.
		{name: "v2 pull allowed by registry policy", principal: bobB, registry: registry, scope: "V2", want: Allow, sids: []string{"Pull", "Reg"}},
		{name: "unset scope is v2", principal: bobB, registry: registry, want: Allow},
		// [reg] V1: only ReplicateImage, BatchImportUpstreamImage and CreateRepository.
		{name: "v1 pull not covered", principal: bobB, registry: registry, scope: "V1", want: ImplicitDeny},
		{name: "v1 replicate covered", principal: rootB, registry: registry, scope: "V1", action: "ecr:ReplicateImage", want: Allow},
		{name: "v1 create repository covered", principal: rootB, registry: registry, scope: "V1", action: "ecr:CreateRepository", want: Allow},
		{name: "registry resource outside", principal: bobB, registry: strings.Replace(registry, "repository/*", "repository/other*", 1), want: ImplicitDeny},
	})
}

func TestDecisionConditionsThroughCompiledPolicies(t *testing.T) {
	org := bobB
	org.OrgID, org.OrgPaths = orgID, []string{orgID + "/r-ab12/ou-ab12-11111111/"}
	org.Tags = map[string]string{"Team": "blue"}
	grant := func(condition string) string {
		return stmt(`{"Sid":"G","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":` + condition + `}`)
	}
	ctx := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	runDecisionCases(t, []decisionCase{
		// [cond] organisation-wide grant.
		{name: "org id", principal: org, repo: grant(`{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"}}`), want: Allow},
		{name: "org id other", principal: org, repo: grant(`{"StringEquals":{"aws:PrincipalOrgID":"o-other"}}`), want: ImplicitDeny},
		{name: "org id missing", principal: bobB, repo: grant(`{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"}}`), want: ImplicitDeny},
		{name: "condition key names case-insensitive", principal: org, repo: grant(`{"StringEquals":{"AWS:principalorgid":"` + orgID + `"}}`), want: Allow},
		{name: "org paths for any value like", principal: org, repo: grant(`{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"` + orgID + `/r-ab12/*"}}`), want: Allow},
		{name: "principal tag", principal: org, repo: grant(`{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`), want: Allow},
		{name: "principal tag missing negated", principal: bobB, repo: grant(`{"StringNotEquals":{"aws:PrincipalTag/team":"blue"}}`), want: Allow},
		{name: "principal account", principal: bobB, repo: grant(`{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}`), want: Allow},
		// aws:PrincipalArn of a role session is the role's ARN [keys].
		{name: "principal arn of a role session is the role", principal: role, repo: grant(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::222222222222:role/c*"}}`), want: Allow},
		{name: "principal arn of a role session is not the session", principal: role, repo: grant(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:sts::222222222222:assumed-role/ci/*"}}`), want: ImplicitDeny},
		{name: "principal arn of a user", principal: bobB, repo: grant(`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::222222222222:user/bob"}}`), want: Allow},
		{name: "principal type", principal: bobB, repo: grant(`{"StringEquals":{"aws:PrincipalType":"User"}}`), want: Allow},
		{name: "userid", principal: role, repo: grant(`{"StringLike":{"aws:userid":"AROACI:*"}}`), want: Allow},
		{name: "username only for users", principal: role, repo: grant(`{"StringLike":{"aws:username":"*"}}`), want: ImplicitDeny},
		{name: "resource tag", principal: bobB, tags: map[string]string{"env": "prod"}, repo: grant(`{"StringEquals":{"ecr:ResourceTag/env":"prod"}}`), want: Allow},
		{name: "aws resource tag", principal: bobB, tags: map[string]string{"env": "prod"}, repo: grant(`{"StringEquals":{"aws:ResourceTag/env":"dev"}}`), want: ImplicitDeny},
		{name: "source ip", principal: bobB, context: ctx("aws:sourceip", "10.0.0.7"), repo: grant(`{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/24"]}}`), want: Allow},
		{name: "not ip address missing", principal: bobB, repo: grant(`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), want: Allow},
		{name: "numeric", principal: bobB, context: ctx("ecr:count", "5"), repo: grant(`{"NumericLessThan":{"ecr:count":"10"}}`), want: Allow},
		{name: "date", principal: bobB, context: ctx("aws:currenttime", "2026-12-01T17:00:00Z"), repo: grant(`{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`), want: ImplicitDeny},
		{name: "bool if exists missing", principal: bobB, repo: grant(`{"BoolIfExists":{"aws:SecureTransport":"true"}}`), want: Allow},
		{name: "bool present false", principal: bobB, context: ctx("aws:securetransport", "false"), repo: grant(`{"BoolIfExists":{"aws:SecureTransport":"true"}}`), want: ImplicitDeny},
		{name: "null true on missing", principal: bobB, repo: grant(`{"Null":{"aws:RequestTag/team":"true"}}`), want: Allow},
		{name: "null false on missing", principal: bobB, repo: grant(`{"Null":{"aws:RequestTag/team":"false"}}`), want: ImplicitDeny},
		{name: "for all values tag keys missing", principal: bobB, repo: grant(`{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}`), want: Allow},
		{name: "for any value tag keys missing", principal: bobB, repo: grant(`{"ForAnyValue:StringEquals":{"aws:TagKeys":["team"]}}`), want: ImplicitDeny},
		{name: "keys and operators are anded", principal: org, repo: grant(`{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `","aws:PrincipalAccount":"999999999999"}}`), want: ImplicitDeny},
		{name: "operators anded", principal: org, repo: grant(`{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"},"StringLike":{"aws:PrincipalArn":"*:user/*"}}`), want: Allow},
		{name: "binary equals", principal: bobB, context: ctx("ecr:blob", "hello"), repo: grant(`{"BinaryEquals":{"ecr:blob":"aGVsbG8="}}`), want: Allow},
		{name: "string equals ignore case", principal: bobB, context: ctx("ecr:accountsetting", "basic_scan_type_version"), repo: grant(`{"StringEqualsIgnoreCase":{"ecr:AccountSetting":"BASIC_SCAN_TYPE_VERSION"}}`), want: Allow},
	})
}

func TestDecisionPolicyVariables(t *testing.T) {
	alice := user(acctA, "alice")
	alice.Tags = map[string]string{"team": "blue"}
	own := func(resource string) Principal {
		p := alice
		p.Policies = []string{stmt(`{"Effect":"Allow","Action":"ecr:*","Resource":"` + resource + `"}`)}
		return p
	}
	repoOf := func(name string) string { return "arn:aws:ecr:us-east-1:111111111111:repository/" + name }
	sessionWith := func(policy string) Principal { // a role session in A
		p := role
		p.ARN, p.Account, p.RoleARN = "arn:aws:sts::"+acctA+":assumed-role/ci/build-1", acctA, "arn:aws:iam::"+acctA+":role/ci"
		p.Policies = []string{policy}
		return p
	}
	runDecisionCases(t, []decisionCase{
		// [vars] ${aws:username} in Resource.
		{name: "username in resource", principal: own("arn:aws:ecr:*:*:repository/${aws:username}/*"), resource: repoOf("alice/app"), want: Allow},
		{name: "username in resource other", principal: own("arn:aws:ecr:*:*:repository/${aws:username}/*"), resource: repoOf("bob/app"), want: ImplicitDeny},
		// IAM user guide, "Where you can use policy variables": only in the
		// resource part of the ARN, after the fifth colon; before it the
		// text is not a variable (and matches no ARN).
		// "If AWS cannot resolve a variable this might cause the entire
		// statement to be invalid": a NotResource with an unresolvable
		// variable applies to nothing (a role session has no aws:username).
		{name: "unresolvable variable in NotResource", principal: sessionWith(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:*","NotResource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}]}`), resource: repoOf("alice/app"), want: Allow},
		// ... unless the resource is outside the pattern whatever the value:
		// its account differs from the pattern's.
		{name: "unresolvable variable in NotResource of another account", principal: sessionWith(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","NotResource":"arn:aws:ecr:*:999999999999:repository/${aws:username}/*"}]}`), resource: repoOf("alice/app"), want: Allow},
		{name: "variable before the fifth colon is text", principal: own("arn:aws:ecr:*:${aws:PrincipalAccount}:repository/*"), resource: repoOf("alice/app"), want: ImplicitDeny},
		{name: "principal tag in resource", principal: own("arn:aws:ecr:*:*:repository/${aws:PrincipalTag/team}-*"), resource: repoOf("blue-app"), want: Allow},
		// [vars] a key the request lacks makes the value match nothing...
		{name: "missing variable matches nothing", principal: own("arn:aws:ecr:*:*:repository/${aws:PrincipalTag/cost}*"), resource: repoOf("app"), want: ImplicitDeny},
		// ...unless it has a default.
		{name: "default value", principal: own("arn:aws:ecr:*:*:repository/${aws:PrincipalTag/cost, 'shared'}/*"), resource: repoOf("shared/app"), want: Allow},
		{name: "default value with a quote", principal: own("arn:aws:ecr:*:*:repository/${aws:PrincipalTag/cost, 'o''brien'}"), resource: repoOf("o'brien"), want: Allow},
		{name: "default value with a lone quote is text", principal: own("arn:aws:ecr:*:*:repository/${aws:PrincipalTag/cost, 'a'b'}"), resource: repoOf("${aws:PrincipalTag/cost, 'a'b'}"), want: Allow},
		// [vars] ${*} ${?} ${$} are the literal characters.
		{name: "literal star", principal: own("arn:aws:ecr:*:*:repository/a${*}b"), resource: repoOf("a*b"), want: Allow},
		{name: "literal star is not a wildcard", principal: own("arn:aws:ecr:*:*:repository/a${*}b"), resource: repoOf("axxb"), want: ImplicitDeny},
		{name: "literal question mark and dollar", principal: own("arn:aws:ecr:*:*:repository/${?}${$}"), resource: repoOf("?$"), want: Allow},
		{name: "variable in condition value", principal: alice,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"ecr:*","Condition":{"StringEquals":{"ecr:ResourceTag/owner":"${aws:username}"}}}`),
			tags: map[string]string{"owner": "alice"}, want: Allow},
		{name: "variable in condition value other", principal: alice,
			repo: stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"ecr:*","Condition":{"StringEquals":{"ecr:ResourceTag/owner":"${aws:username}"}}}`),
			tags: map[string]string{"owner": "bob"}, want: ImplicitDeny},
	})
	// Before the 2012-10-17 language, ${...} is plain text [vars].
	old := alice
	old.Policies = []string{`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}"}]}`}
	runDecisionCases(t, []decisionCase{
		{name: "2008 version keeps text", principal: old, resource: repoOf("${aws:username}"), want: Allow},
		{name: "2008 version does not substitute", principal: old, resource: repoOf("alice"), want: ImplicitDeny},
	})
}

func TestDecisionSidlessStatementsAreNumbered(t *testing.T) {
	runDecisionCases(t, []decisionCase{
		{name: "second statement", principal: rootA,
			repo: stmt(`{"Sid":"first","Effect":"Allow","Principal":"*","Action":"ecr:PutImage"},{"Effect":"Deny","Principal":"*","Action":"ecr:BatchGetImage"}`),
			want: ExplicitDeny, sids: []string{"statement 2"}},
	})
}

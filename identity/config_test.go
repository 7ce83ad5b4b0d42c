package identity

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy"
)

const pullOnly = `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}`

// writeConfig writes the config and the policy files it names into a new
// directory and returns the config's path.
func writeConfig(t *testing.T, config string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "iam.yaml")
	if err := os.WriteFile(p, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `# two accounts of one organization
accounts:
  - id: "111111111111"
    organization_id: o-a1b2c3d4e5
    ou_path: o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/
    root_access_keys: [AKIAROOT1]
    users:
      - name: alice
        path: /dev/
        access_keys: [AKIAALICE, AKIAALICE2]
        tags: {team: payments, cost-center: 42}
        policies:
          - file:policies/pull.json
          - file: policies/pull.json
          - |
            {"Version": "2012-10-17",
             "Statement": {"Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"}}
      - name: bob
    roles:
      - name: ci
        path: /automation/
        session: build-7
        access_keys: [ASIACI]
        tags:
          env: prod
        policies:
          - '` + pullOnly + `'
      - name: deployer
  - id: 000000000000
    organization_id: o-a1b2c3d4e5
    ou_path: o-a1b2c3d4e5/r-ab12/
`

func TestLoadReadsAccountsUsersRolesAndPolicyFiles(t *testing.T) {
	path := writeConfig(t, goodConfig, map[string]string{"policies/pull.json": pullOnly})
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	deny := `{"Version": "2012-10-17",
 "Statement": {"Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"}}
`
	alice, ok := d.Principal("arn:aws:iam::111111111111:user/dev/alice")
	if !ok {
		t.Fatal("alice is not found by her ARN (with her path)")
	}
	want := policy.Principal{
		ARN: "arn:aws:iam::111111111111:user/dev/alice", Account: "111111111111", Type: "User",
		UserID: alice.UserID, Username: "alice", Tags: map[string]string{"team": "payments", "cost-center": "42"},
		OrgID: "o-a1b2c3d4e5", OrgPaths: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
		Policies: []string{pullOnly, pullOnly, deny},
	}
	if !reflect.DeepEqual(alice, want) {
		t.Errorf("alice:\n got %#v\nwant %#v", alice, want)
	}
	ci, ok := d.Principal("arn:aws:sts::111111111111:assumed-role/ci/build-7")
	if !ok {
		t.Fatal("the ci role's session is not found by its assumed-role ARN")
	}
	if ci.Type != "AssumedRole" || ci.RoleARN != "arn:aws:iam::111111111111:role/automation/ci" || ci.Username != "" ||
		!reflect.DeepEqual(ci.Tags, map[string]string{"env": "prod"}) || !reflect.DeepEqual(ci.Policies, []string{pullOnly}) {
		t.Errorf("ci session: %#v", ci)
	}
	if _, ok := d.Principal("arn:aws:sts::111111111111:assumed-role/deployer/berth"); !ok {
		t.Error("a role without a session name is not assumed as session berth")
	}
	bob, ok := d.Principal("arn:aws:iam::111111111111:user/bob")
	if !ok || bob.Policies != nil || bob.Tags != nil {
		t.Errorf("bob (no path, keys, tags or policies): %#v, %v", bob, ok)
	}
	root, ok := d.Principal("arn:aws:iam::000000000000:root")
	if !ok || root.Type != "Account" || root.UserID != "000000000000" || root.OrgID != "o-a1b2c3d4e5" ||
		!reflect.DeepEqual(root.OrgPaths, []string{"o-a1b2c3d4e5/r-ab12/"}) {
		t.Errorf("root of 000000000000 (written unquoted): %#v, %v", root, ok)
	}
}

func TestAnchorsShareValuesBetweenEntries(t *testing.T) {
	config := `accounts:
  - id: !!str 000000000001
    users:
      - name: alice
        tags: &tags {team: payments}
        policies: &pull
          - '` + pullOnly + `'
    roles:
      - name: ci
        tags: *tags
        policies: *pull
  - id: '222222222222'
    users:
      - name: bob
        policies:
          - *pullText
          - &pullText '` + pullOnly + `'
`
	_, err := Parse("iam.yaml", []byte(config))
	if err == nil || !strings.Contains(err.Error(), "iam.yaml:16:") {
		t.Errorf("an alias before its anchor: %v, want an error at line 16", err)
	}
	d, err := Parse("iam.yaml", []byte(strings.Replace(config, "          - *pullText\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{
		"arn:aws:iam::000000000001:user/alice",
		"arn:aws:sts::000000000001:assumed-role/ci/berth",
		"arn:aws:iam::222222222222:user/bob",
	} {
		p, ok := d.Principal(arn)
		if !ok || !reflect.DeepEqual(p.Policies, []string{pullOnly}) {
			t.Errorf("%s: %#v, %v; want the shared policy", arn, p, ok)
		}
		if p.Username != "bob" && p.Tags["team"] != "payments" {
			t.Errorf("%s: tags %v, want the shared team tag", arn, p.Tags)
		}
	}
}

func TestEveryAccountHasARootButOnlyDeclaredUsersExist(t *testing.T) {
	d, err := Parse("iam.yaml", []byte("accounts:\n  - id: '111111111111'\n    users: [{name: alice}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	root, ok := d.Principal("arn:aws:iam::999999999999:root")
	if !ok || !root.Root() || root.Account != "999999999999" || root.OrgID != "" {
		t.Errorf("root of an account the config does not name: %#v, %v", root, ok)
	}
	for _, arn := range []string{
		"arn:aws:iam::111111111111:user/bob",
		"arn:aws:iam::222222222222:user/alice",
		"arn:aws:iam::111111111111:user/ALICE",
		"arn:aws:iam::11111111111:root",
		"arn:aws:sts::111111111111:assumed-role/alice/berth",
		"",
	} {
		if p, ok := d.Principal(arn); ok {
			t.Errorf("Principal(%q) = %#v, want none", arn, p)
		}
	}
}

func TestAnEmptyConfigHasOnlyRoots(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n", "accounts: []\n", "accounts:\n"} {
		d, err := Parse("iam.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if _, ok := d.Principal("arn:aws:iam::123456789012:root"); !ok {
			t.Errorf("%q: no root", text)
		}
		if _, ok := d.PrincipalForAccessKey("AKIA"); ok {
			t.Errorf("%q: a key is known", text)
		}
	}
}

func TestAccessKeysSelectTheirPrincipal(t *testing.T) {
	path := writeConfig(t, goodConfig, map[string]string{"policies/pull.json": pullOnly})
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"AKIAROOT1":  "arn:aws:iam::111111111111:root",
		"AKIAALICE":  "arn:aws:iam::111111111111:user/dev/alice",
		"AKIAALICE2": "arn:aws:iam::111111111111:user/dev/alice",
		"ASIACI":     "arn:aws:sts::111111111111:assumed-role/ci/build-7",
	} {
		if got, ok := d.PrincipalForAccessKey(key); !ok || got != want {
			t.Errorf("key %s: %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"akiaalice", "AKIA", "111111111111", ""} {
		if got, ok := d.PrincipalForAccessKey(key); ok {
			t.Errorf("unknown key %q selects %q", key, got)
		}
	}
}

func TestUserIDsAreAWSShapedAndStableAcrossLoads(t *testing.T) {
	path := writeConfig(t, goodConfig, map[string]string{"policies/pull.json": pullOnly})
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := first.Principal("arn:aws:iam::111111111111:user/dev/alice")
	bob, _ := first.Principal("arn:aws:iam::111111111111:user/bob")
	ci, _ := first.Principal("arn:aws:sts::111111111111:assumed-role/ci/build-7")
	alice2, _ := second.Principal("arn:aws:iam::111111111111:user/dev/alice")
	if alice.UserID != alice2.UserID {
		t.Errorf("alice's userid changed between loads: %s, %s", alice.UserID, alice2.UserID)
	}
	if alice.UserID == bob.UserID {
		t.Errorf("alice and bob share userid %s", alice.UserID)
	}
	shape := func(id, prefix string) bool {
		rest, ok := strings.CutPrefix(id, prefix)
		return ok && len(rest) == 17 && strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
	}
	if !shape(alice.UserID, "AIDA") {
		t.Errorf("user id %q is not AIDA and 17 base-32 characters", alice.UserID)
	}
	roleID, session, _ := strings.Cut(ci.UserID, ":")
	if !shape(roleID, "AROA") || session != "build-7" {
		t.Errorf("role session id %q is not AROA...:build-7", ci.UserID)
	}
}

func TestPrincipalsReturnedCannotChangeTheDirectory(t *testing.T) {
	path := writeConfig(t, goodConfig, map[string]string{"policies/pull.json": pullOnly})
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:iam::111111111111:user/dev/alice"
	p, _ := d.Principal(arn)
	p.Tags["team"] = "other"
	p.Policies[0] = "{}"
	p.OrgPaths[0] = "x"
	again, _ := d.Principal(arn)
	if again.Tags["team"] != "payments" || again.Policies[0] != pullOnly || again.OrgPaths[0] != "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/" {
		t.Errorf("a caller's change reached the directory: %#v", again)
	}
}

func TestMalformedConfigIsRefusedAtItsLine(t *testing.T) {
	files := map[string]string{
		"policies/pull.json":   pullOnly,
		"policies/broken.json": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*"}]}`,
	}
	for _, tc := range []struct {
		name   string
		config string
		line   int
		reason string
	}{
		{"yaml syntax", "accounts:\n  - id: \"111111111111\n", 2, "double-quoted"},
		{"unknown top-level field", "accounts: []\nusers: []\n", 2, `unknown field "users"`},
		{"unknown account field", "accounts:\n  - id: '111111111111'\n    organisation_id: o-a1b2c3d4e5\n", 3, `unknown field "organisation_id"`},
		{"unknown user field", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        acess_keys: [K]\n", 5, `unknown field "acess_keys"`},
		{"accounts not a list", "accounts:\n  id: '111111111111'\n", 2, "sequence"},
		{"account id missing", "accounts:\n  - users: []\n", 2, "id is required"},
		{"account id short", "accounts:\n  - id: '11111111111'\n", 2, `account id "11111111111" is not 12 digits`},
		{"account id letters", "accounts:\n  - id: 11111111111a\n", 2, "is not 12 digits"},
		{"account id a list", "accounts:\n  - id: [1]\n", 2, "expected a string, found a list"},
		{"account twice", "accounts:\n  - id: '111111111111'\n  - id: '222222222222'\n  - id: '111111111111'\n", 4, "declared twice (first at line 2)"},
		{"organization id", "accounts:\n  - id: '111111111111'\n    organization_id: org-1\n", 3, "not an organization id"},
		{"ou path without organization", "accounts:\n  - id: '111111111111'\n    ou_path: o-a1b2c3d4e5/r-ab12/\n", 3, "needs the account's organization_id"},
		{"ou path shape", "accounts:\n  - id: '111111111111'\n    organization_id: o-a1b2c3d4e5\n    ou_path: o-a1b2c3d4e5/r-ab12\n", 4, "is not an OU path"},
		{"ou path other organization", "accounts:\n  - id: '111111111111'\n    organization_id: o-a1b2c3d4e5\n    ou_path: o-zzzzzzzzzz/r-ab12/\n", 4, "not in the account's organization"},
		{"organization with two roots", "accounts:\n  - id: '111111111111'\n    organization_id: o-a1b2c3d4e5\n    ou_path: o-a1b2c3d4e5/r-ab12/\n" +
			"  - id: '222222222222'\n    organization_id: o-a1b2c3d4e5\n    ou_path: o-a1b2c3d4e5/r-cd34/\n", 7, "root is r-ab12"},
		{"user without name", "accounts:\n  - id: '111111111111'\n    users:\n      - path: /x/\n", 4, "a user needs a name"},
		{"user name characters", "accounts:\n  - id: '111111111111'\n    users:\n      - name: al ice\n", 4, `user name "al ice"`},
		{"user twice, other case", "accounts:\n  - id: '111111111111'\n    users:\n      - name: alice\n      - name: Alice\n", 5, `user "Alice" is declared twice (first at line 4`},
		{"role twice", "accounts:\n  - id: '111111111111'\n    roles:\n      - name: ci\n      - name: ci\n", 5, `role "ci" is declared twice`},
		{"user path", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        path: dev/\n", 5, `path "dev/"`},
		{"user with session", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        session: s\n", 5, "session is for roles"},
		{"role session characters", "accounts:\n  - id: '111111111111'\n    roles:\n      - name: ci\n        session: a/b\n", 5, `session "a/b"`},
		{"access key characters", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        access_keys: [AKIA/1]\n", 5, `access key id "AKIA/1"`},
		{"access key twice across accounts", "accounts:\n  - id: '111111111111'\n    root_access_keys: [K1]\n  - id: '222222222222'\n" +
			"    roles:\n      - name: r\n        access_keys:\n          - K2\n          - K1\n", 9, "access key id K1 is already given at line 3"},
		{"tags not a mapping", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        tags: [x]\n", 5, "tags must be a mapping"},
		{"tag key reserved", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        tags:\n          aws:team: x\n", 6, "reserved"},
		{"tag keys differing in case", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        tags:\n          team: x\n          Team: y\n", 7, "given twice (first at line 6"},
		{"tag value a list", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        tags:\n          team: [x]\n", 6, "expected a string, found a list"},
		{"inline policy invalid", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        policies:\n" +
			"          - file: policies/pull.json\n          - '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Resource\":\"*\"}]}'\n",
			7, "account 111111111111 user a: policy 2: Statement 1"},
		{"policy file invalid", "accounts:\n  - id: '111111111111'\n    roles:\n      - name: r\n        policies:\n          - file:policies/broken.json\n", 6,
			"account 111111111111 role r: policy 1 (policies/broken.json): Statement 1"},
		{"policy file missing", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        policies:\n          - file: policies/none.json\n", 6,
			"cannot read"},
		{"policy not JSON", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        policies:\n          - allow everything\n", 6, "policy 1: policy is not a JSON object"},
		{"policy written as YAML", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        policies:\n          - Version: '2012-10-17'\n            Statement: []\n", 6, "a policy written as YAML is not read"},
		{"policy file without a path", "accounts:\n  - id: '111111111111'\n    users:\n      - name: a\n        policies:\n          - 'file:'\n", 6, "needs the path"},
		{"two documents", "accounts: []\n---\naccounts: []\n", 3, "second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.config, files)
			d, err := Load(path)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, %v; want a *ConfigError", d, err)
			}
			if ce.File != path || ce.Line != tc.line || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("got %s:%d: %s\nwant %s:%d: ...%s...", ce.File, ce.Line, ce.Reason, path, tc.line, tc.reason)
			}
			if want := path + ":"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
		})
	}
}

func TestLoadOfAMissingFileSaysSo(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want not-exist", err)
	}
}

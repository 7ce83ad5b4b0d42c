package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/policy"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The --iam-config file:
//
//	accounts:
//	  - id: "111111111111"
//	    organization_id: o-a1b2c3d4e5
//	    ou_path: o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/
//	    root_access_keys: [AKIAROOT1111EXAMPLE]
//	    users:
//	      - name: alice
//	        path: /dev/
//	        access_keys: [AKIAALICEEXAMPLE]
//	        tags: {team: payments}
//	        policies:
//	          - file: policies/pull-only.json
//	    roles:
//	      - name: ci
//	        session: build
//	        access_keys: [ASIACIEXAMPLE]
//	        policies:
//	          - |
//	            {"Version": "2012-10-17", "Statement": [...]}
type configFile struct {
	Accounts []accountEntry `yaml:"accounts"`
}

type accountEntry struct {
	ID             scalar        `yaml:"id"`
	OrganizationID scalar        `yaml:"organization_id"`
	OUPath         scalar        `yaml:"ou_path"`
	RootAccessKeys []scalar      `yaml:"root_access_keys"`
	Users          []memberEntry `yaml:"users"`
	Roles          []memberEntry `yaml:"roles"`
}

// memberEntry is a user or a role; only roles have a session.
type memberEntry struct {
	Name       scalar         `yaml:"name"`
	Path       scalar         `yaml:"path"`
	Session    scalar         `yaml:"session"`
	AccessKeys []scalar       `yaml:"access_keys"`
	Tags       tags           `yaml:"tags"`
	Policies   []policySource `yaml:"policies"`
}

// ConfigError is an --iam-config file berth cannot use: where, and why.
type ConfigError struct {
	File   string
	Line   int // 0: the file as a whole
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Reason
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Load reads an --iam-config file. Policy files it names are read relative
// to its directory.
func Load(file string) (*Directory, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Parse reads the config in data; file names it in errors and is where
// policy files are found from.
func Parse(file string, data []byte) (*Directory, error) {
	d, err := parse(filepath.Dir(file), data)
	if err != nil {
		le := asLineError(err).(*lineError)
		return nil, &ConfigError{File: file, Line: le.line, Reason: le.reason}
	}
	return d, nil
}

func parse(dir string, data []byte) (*Directory, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) > 1 {
		return nil, &lineError{line: lineOf(f.Docs[1]), reason: "the config is one YAML document; this is a second"}
	}
	var cfg configFile
	// One decoder for the whole document, so that an alias may name an
	// anchor anywhere before it (a policy shared by several users).
	if len(f.Docs) == 1 && f.Docs[0].Body != nil {
		if err := decode(f.Docs[0].Body, &cfg); err != nil {
			return nil, err
		}
	}
	b := builder{dir: dir, file: f, d: newDirectory(), accountAt: map[string]int{}, keyAt: map[string]int{}, orgRoot: map[string]string{}}
	for i, a := range cfg.Accounts {
		if err := b.account(fmt.Sprintf("$.accounts[%d]", i), a); err != nil {
			return nil, err
		}
	}
	return b.d, nil
}

// builder checks the config's entries and adds them to a Directory.
type builder struct {
	dir       string
	file      *ast.File // the parsed config, for the lines of whole entries
	d         *Directory
	accountAt map[string]int    // account id → line it was declared on
	keyAt     map[string]int    // access key id → line it was given on
	orgRoot   map[string]string // organization id → its root (r-...), from the first OU path seen
}

var (
	organizationID = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// An OU path runs from the organization through its root to the
	// account's parent OU: o-.../r-.../ou-.../.../ (AWS Organizations'
	// id formats).
	ouPath = regexp.MustCompile(`^(o-[a-z0-9]{10,32})/(r-[0-9a-z]{4,32})/(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*$`)
	// IAM's user and role name pattern and role session name pattern.
	memberName  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	// IAM's path: "/" or "/" + printable ASCII + "/".
	iamPath = regexp.MustCompile(`^(/|/[\x21-\x7e]*/)$`)
	// An access key id goes into SigV4's Credential=<key id>/<date>/...:
	// word characters only (IAM's own pattern, without its minimum length, so
	// that short keys such as "alice" are usable locally).
	accessKeyID = regexp.MustCompile(`^\w{1,128}$`)
	// IAM's tag key and value characters.
	tagText = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// defaultSession names the session of a role that does not name one.
const defaultSession = "berth"

// lineAt is the line of the entry at a YAML path ($.accounts[0].users[2]).
func (b *builder) lineAt(path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(b.file)
	if err != nil || n == nil {
		return 0
	}
	return lineOf(n)
}

func (b *builder) account(at string, a accountEntry) error {
	id := a.ID.text
	switch {
	case id == "":
		return &lineError{line: b.lineAt(at), reason: "account: id is required (12 digits, quoted)"}
	case !core.ValidAccountID(id):
		return &lineError{line: a.ID.line, reason: fmt.Sprintf("account id %q is not 12 digits", id)}
	}
	if first, dup := b.accountAt[id]; dup {
		return &lineError{line: a.ID.line, reason: fmt.Sprintf("account %s is declared twice (first at line %d)", id, first)}
	}
	b.accountAt[id] = a.ID.line
	org := organization{id: a.OrganizationID.text}
	if org.id != "" && !organizationID.MatchString(org.id) {
		return &lineError{line: a.OrganizationID.line, reason: fmt.Sprintf("account %s: organization_id %q is not an organization id (o- and 10 to 32 lower-case letters or digits)", id, org.id)}
	}
	if p := a.OUPath.text; p != "" {
		m := ouPath.FindStringSubmatch(p)
		switch {
		case org.id == "":
			return &lineError{line: a.OUPath.line, reason: fmt.Sprintf("account %s: ou_path needs the account's organization_id", id)}
		case m == nil:
			return &lineError{line: a.OUPath.line, reason: fmt.Sprintf("account %s: ou_path %q is not an OU path (o-.../r-.../ou-.../, ending with /)", id, p)}
		case m[1] != org.id:
			return &lineError{line: a.OUPath.line, reason: fmt.Sprintf("account %s: ou_path %q is not in the account's organization %s", id, p, org.id)}
		}
		if root, seen := b.orgRoot[org.id]; seen && root != m[2] {
			return &lineError{line: a.OUPath.line, reason: fmt.Sprintf("account %s: ou_path %q has root %s, but organization %s's root is %s in an earlier account", id, p, m[2], org.id, root)}
		}
		b.orgRoot[org.id] = m[2]
		org.paths = []string{p}
	}
	b.d.organizations[id] = org
	root := core.RootPrincipal(id)
	for _, k := range a.RootAccessKeys {
		if err := b.accessKey(k, root, "account "+id+" root", at); err != nil {
			return err
		}
	}
	usersAt := map[string]int{}
	for j, u := range a.Users {
		if err := b.member(fmt.Sprintf("%s.users[%d]", at, j), id, org, u, "user", usersAt); err != nil {
			return err
		}
	}
	rolesAt := map[string]int{}
	for j, r := range a.Roles {
		if err := b.member(fmt.Sprintf("%s.roles[%d]", at, j), id, org, r, "role", rolesAt); err != nil {
			return err
		}
	}
	return nil
}

// member adds a user or (kind "role") a role's session.
func (b *builder) member(at, account string, org organization, m memberEntry, kind string, namesAt map[string]int) error {
	name := m.Name.text
	switch {
	case name == "":
		return &lineError{line: b.lineAt(at), reason: fmt.Sprintf("account %s: a %s needs a name", account, kind)}
	case !memberName.MatchString(name):
		return &lineError{line: m.Name.line, reason: fmt.Sprintf("account %s: %s name %q must be 1 to 64 letters, digits or +=,.@_-", account, kind, name)}
	}
	// IAM names are unique in an account whatever their case.
	if first, dup := namesAt[strings.ToLower(name)]; dup {
		return &lineError{line: m.Name.line, reason: fmt.Sprintf("account %s: %s %q is declared twice (first at line %d; names differing only in case are the same)", account, kind, name, first)}
	}
	namesAt[strings.ToLower(name)] = m.Name.line
	who := fmt.Sprintf("account %s %s %s", account, kind, name)
	path := m.Path.text
	if path == "" {
		path = "/"
	} else if !iamPath.MatchString(path) || len(path) > 512 {
		return &lineError{line: m.Path.line, reason: fmt.Sprintf("%s: path %q must be / or start and end with / (printable ASCII, at most 512 characters)", who, path)}
	}
	p := policy.Principal{Account: account, OrgID: org.id, OrgPaths: org.paths}
	switch kind {
	case "user":
		if m.Session.text != "" || m.Session.line != 0 {
			return &lineError{line: m.Session.line, reason: who + ": session is for roles; a user has none"}
		}
		p.ARN = "arn:aws:iam::" + account + ":user" + path + name
		p.Type, p.Username = "User", name
		p.UserID = uniqueID("AIDA", p.ARN)
	case "role":
		session := m.Session.text
		if session == "" {
			session = defaultSession
		} else if !sessionName.MatchString(session) {
			return &lineError{line: m.Session.line, reason: fmt.Sprintf("%s: session %q must be 2 to 64 letters, digits or +=,.@_-", who, session)}
		}
		p.RoleARN = "arn:aws:iam::" + account + ":role" + path + name
		// An assumed-role ARN names the role without its path.
		p.ARN = "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + session
		p.Type = "AssumedRole"
		p.UserID = uniqueID("AROA", p.RoleARN) + ":" + session
	}
	var err error
	if p.Tags, err = principalTags(who, m.Tags); err != nil {
		return err
	}
	for i, src := range m.Policies {
		text, err := b.policyText(who, i+1, src)
		if err != nil {
			return err
		}
		p.Policies = append(p.Policies, text)
	}
	for _, k := range m.AccessKeys {
		if err := b.accessKey(k, p.ARN, who, at); err != nil {
			return err
		}
	}
	b.d.principals[p.ARN] = p
	return nil
}

// accessKey gives key id k to arn; the line of the entry at stands for a
// key YAML gave no line (an empty list item).
func (b *builder) accessKey(k scalar, arn, who, at string) error {
	if k.line == 0 {
		k.line = b.lineAt(at)
	}
	if !accessKeyID.MatchString(k.text) {
		return &lineError{line: k.line, reason: fmt.Sprintf("%s: access key id %q must be 1 to 128 letters, digits or _", who, k.text)}
	}
	if first, dup := b.keyAt[k.text]; dup {
		return &lineError{line: k.line, reason: fmt.Sprintf("%s: access key id %s is already given at line %d", who, k.text, first)}
	}
	b.keyAt[k.text] = k.line
	b.d.keys[k.text] = arn
	return nil
}

// principalTags checks tags as IAM does for users and roles: at most 50,
// keys of 1 to 128 characters not starting with aws:, values of at most
// 256, unique keys whatever their case.
func principalTags(who string, ts tags) (map[string]string, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	if len(ts) > 50 {
		return nil, &lineError{line: ts[50].line, reason: who + ": more than 50 tags"}
	}
	out := map[string]string{}
	keyAt := map[string]int{}
	for _, t := range ts {
		n := utf8.RuneCountInString(t.key)
		switch {
		case n == 0 || n > 128 || !tagText.MatchString(t.key):
			return nil, &lineError{line: t.line, reason: fmt.Sprintf("%s: tag key %q must be 1 to 128 letters, digits, spaces or _.:/=+-@", who, t.key)}
		case strings.HasPrefix(strings.ToLower(t.key), "aws:"):
			return nil, &lineError{line: t.line, reason: fmt.Sprintf("%s: tag key %q: the aws: prefix is reserved", who, t.key)}
		case utf8.RuneCountInString(t.value) > 256 || !tagText.MatchString(t.value):
			return nil, &lineError{line: t.line, reason: fmt.Sprintf("%s: tag %q: the value must be at most 256 letters, digits, spaces or _.:/=+-@", who, t.key)}
		}
		if first, dup := keyAt[strings.ToLower(t.key)]; dup {
			return nil, &lineError{line: t.line, reason: fmt.Sprintf("%s: tag key %q is given twice (first at line %d; keys differing only in case are the same)", who, t.key, first)}
		}
		keyAt[strings.ToLower(t.key)] = t.line
		out[t.key] = t.value
	}
	return out, nil
}

// policyText reads one identity policy and checks it against IAM's grammar.
func (b *builder) policyText(who string, n int, src policySource) (string, error) {
	what := fmt.Sprintf("%s: policy %d", who, n)
	text := src.text
	if src.file != "" {
		what += " (" + src.file + ")"
		path := src.file
		if !filepath.IsAbs(path) {
			path = filepath.Join(b.dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", &lineError{line: src.line, reason: fmt.Sprintf("%s: cannot read %s: %v", what, path, err)}
		}
		text = string(data)
	}
	if _, err := policy.Parse(text, policy.Identity); err != nil {
		return "", &lineError{line: src.line, reason: fmt.Sprintf("%s: %v", what, err)}
	}
	return text, nil
}

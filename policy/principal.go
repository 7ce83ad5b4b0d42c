package policy

import "strings"

// Principal is who is asking. Root: the account's root user (full access in its own account).
type Principal struct {
	ARN      string            // arn:aws:iam::111122223333:root | :user/alice | arn:aws:sts::111122223333:assumed-role/Role/session
	Account  string            // the 12-digit account the principal belongs to
	Type     string            // aws:PrincipalType: "Account" (root), "User", "AssumedRole", "FederatedUser"
	RoleARN  string            // assumed-role sessions: arn:aws:iam::111122223333:role/Role (matches a role ARN in a Principal element)
	UserID   string            // aws:userid
	Username string            // aws:username (users only)
	Tags     map[string]string // aws:PrincipalTag/*
	OrgID    string            // aws:PrincipalOrgID ("" = no organisation)
	OrgPaths []string          // aws:PrincipalOrgPaths, e.g. "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
	Policies []string          // identity policy documents (JSON text), already valid
}

// Root reports whether p is an account's root user.
func (p Principal) Root() bool { return p.Type == "Account" }

// Principals resolves a principal ARN (as carried by callers and tokens) to its identity.
type Principals interface {
	Principal(arn string) (Principal, bool)
}

// RootsOnly: every account's root, no users — the default when there is no --iam-config.
type RootsOnly struct{}

// Principal resolves arn:aws:iam::<12 digits>:root; any other ARN is unknown.
func (RootsOnly) Principal(arn string) (Principal, bool) {
	account, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return Principal{}, false
	}
	account, ok = strings.CutSuffix(account, ":root")
	if !ok || len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return Principal{}, false
	}
	// aws:userid of a root user is its account id.
	return Principal{ARN: arn, Account: account, Type: "Account", UserID: account}, true
}

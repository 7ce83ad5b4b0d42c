package pullthrough

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/core"
)

// Root is the ecrRepositoryPrefix (and upstreamRepositoryPrefix) that
// matches every repository: "To apply a template to all repositories in
// your registry that don't have an associated pull through cache rule, use
// ROOT as the prefix" (ECR user guide, Customizing repository prefixes for
// ECR to ECR pull through cache).
const Root = "ROOT"

// MaxRules is how many rules a registry may have (ECR's quota, "Pull
// through cache rules per registry": 50).
const MaxRules = 50

// The upstream registries ECR supports (the UpstreamRegistry enum), by the
// host each names in upstreamRegistryUrl (API reference,
// CreatePullThroughCacheRule: upstreamRegistryUrl).
const (
	ECR        = "ecr"
	ECRPublic  = "ecr-public"
	Quay       = "quay"
	K8s        = "k8s"
	DockerHub  = "docker-hub"
	GitHub     = "github-container-registry"
	Azure      = "azure-container-registry"
	GitLab     = "gitlab-container-registry"
	Chainguard = "chainguard"
)

var knownHosts = map[string]string{
	"public.ecr.aws":       ECRPublic,
	"quay.io":              Quay,
	"registry.k8s.io":      K8s,
	"registry-1.docker.io": DockerHub,
	"ghcr.io":              GitHub,
	"registry.gitlab.com":  GitLab,
	"cgr.dev":              Chainguard,
}

// needsSecret lists the upstreams that "require authentication with an AWS
// Secrets Manager secret" (ECR user guide, Sync an upstream registry with an
// Amazon ECR private registry); ecr authenticates with an IAM role instead,
// and ecr-public, quay and k8s need nothing.
var needsSecret = map[string]bool{DockerHub: true, GitHub: true, Azure: true, GitLab: true, Chainguard: true}

var (
	ecrHost     = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$`)
	roleARN     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)
	secretARN   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:secretsmanager:([a-z0-9-]+):([0-9]{12}):secret:ecr-pullthroughcache/`)
	azureSuffix = ".azurecr.io"
)

// Input is what CreatePullThroughCacheRule asks for.
type Input struct {
	Prefix           string // ecrRepositoryPrefix
	UpstreamRegistry string
	UpstreamURL      string
	UpstreamPrefix   string
	CredentialARN    string
	CustomRoleARN    string
}

// Upstream is where a rule's upstreamRegistryUrl points.
type Upstream struct {
	Kind string // the UpstreamRegistry it names; "" for berth's own http(s):// upstreams
	// ECR is the registry an ecr upstream names; berth holds it itself.
	ECR core.RegistryID
	// Host is a remote upstream's host[:port]; Insecure says it speaks
	// plain http (berth's extension, for local registries).
	Host     string
	Insecure bool
}

// ParseUpstream classifies an upstreamRegistryUrl. A bare host must be one
// ECR supports; berth also takes an explicit http:// or https:// URL of any
// registry (its own extension, for local and private registries), whose
// kind is whatever upstreamRegistry says.
func ParseUpstream(raw string) (Upstream, error) {
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return Upstream{}, core.InvalidParameter("upstreamRegistryUrl", "An http:// or https:// upstream registry URL must be a scheme and a host[:port], without a path")
		}
		return Upstream{Host: u.Host, Insecure: u.Scheme == "http"}, nil
	}
	host := strings.ToLower(raw)
	if m := ecrHost.FindStringSubmatch(host); m != nil {
		return Upstream{Kind: ECR, ECR: core.RegistryID{Account: m[1], Region: m[2]}, Host: host}, nil
	}
	if kind, ok := knownHosts[host]; ok {
		return Upstream{Kind: kind, Host: host}, nil
	}
	if strings.HasSuffix(host, azureSuffix) && len(host) > len(azureSuffix) && !strings.ContainsAny(host, "/:") {
		return Upstream{Kind: Azure, Host: host}, nil
	}
	return Upstream{}, ErrUnsupportedUpstream
}

// normalPrefix drops the "/" ECR assumes at the end of a prefix ("If you
// specify ecr-public as the prefix, Amazon ECR treats that as ecr-public/").
func normalPrefix(p string) string { return strings.TrimSuffix(p, "/") }

// checkInput validates a new rule for registry reg and returns where its
// upstream is.
func checkInput(reg core.RegistryID, in Input) (Upstream, error) {
	up, err := ParseUpstream(in.UpstreamURL)
	if err != nil {
		return Upstream{}, err
	}
	switch {
	case up.Kind == "" && in.UpstreamRegistry == ECR:
		return Upstream{}, core.InvalidParameter("upstreamRegistryUrl", "An ecr upstream registry URL is <account>.dkr.ecr.<region>.amazonaws.com")
	case up.Kind == "":
		up.Kind = in.UpstreamRegistry // berth's own upstream, authenticated as the kind it claims
	case in.UpstreamRegistry != "" && in.UpstreamRegistry != up.Kind:
		return Upstream{}, core.InvalidParameter("upstreamRegistryUrl", "The upstream registry URL '"+in.UpstreamURL+"' does not belong to the upstream registry '"+in.UpstreamRegistry+"'")
	}
	isECR := up.Kind == ECR
	prefix := normalPrefix(in.Prefix)
	switch {
	case prefix == Root && !isECR:
		return Upstream{}, core.InvalidParameter("ecrRepositoryPrefix", "ROOT can only be used with an ecr upstream registry")
	case in.UpstreamPrefix != "" && !isECR:
		return Upstream{}, core.InvalidParameter("upstreamRepositoryPrefix", "An upstream repository prefix can only be used with an ecr upstream registry")
	case in.UpstreamPrefix != "" && normalPrefix(in.UpstreamPrefix) != Root && prefix == Root:
		return Upstream{}, core.InvalidParameter("upstreamRepositoryPrefix", "An upstream repository prefix can only be set when ecrRepositoryPrefix is not ROOT")
	case isECR && in.CredentialARN != "":
		return Upstream{}, core.InvalidParameter("credentialArn", "An ecr upstream registry is reached with an IAM role (customRoleArn), not a secret")
	case needsSecret[up.Kind] && in.CredentialARN == "":
		return Upstream{}, core.InvalidParameter("credentialArn", "The upstream registry '"+up.Kind+"' requires authentication: a credentialArn is required")
	case in.CustomRoleARN != "" && !isECR:
		return Upstream{}, core.InvalidParameter("customRoleArn", "A custom role can only be used with an ecr upstream registry")
	case isECR && up.ECR.Account != reg.Account && in.CustomRoleARN == "":
		// "For Amazon ECR, you must create an IAM role if the upstream and
		// downstream Amazon ECR registries belong to different AWS
		// accounts" (user guide, Sync an upstream registry).
		return Upstream{}, core.InvalidParameter("customRoleArn", "An ecr upstream registry in another account ("+up.ECR.Account+") requires a customRoleArn")
	}
	if err := checkCredentialARN(reg, in.CredentialARN); err != nil {
		return Upstream{}, err
	}
	if err := checkRoleARN(reg, in.CustomRoleARN); err != nil {
		return Upstream{}, err
	}
	return up, nil
}

// checkCredentialARN applies what the model's pattern does not: "The account
// and Region that the secret is in must match the account and Region that
// the pull through cache rule is in" (user guide, Creating a pull through
// cache rule).
func checkCredentialARN(reg core.RegistryID, arn string) error {
	if arn == "" {
		return nil
	}
	m := secretARN.FindStringSubmatch(arn)
	if m == nil {
		return core.InvalidParameter("credentialArn", "The credential must be a Secrets Manager secret whose name starts with ecr-pullthroughcache/")
	}
	if m[2] != reg.Region || m[3] != reg.Account {
		return core.InvalidParameter("credentialArn", "The secret must be in the account and Region of the pull through cache rule ("+reg.Account+", "+reg.Region+")")
	}
	return nil
}

// checkRoleARN: "This role must be in the same account as the registry that
// you are configuring" (API reference, customRoleArn).
func checkRoleARN(reg core.RegistryID, arn string) error {
	if arn == "" {
		return nil
	}
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return core.InvalidParameter("customRoleArn", "The custom role must be an IAM role ARN, arn:aws:iam::<account>:role/<name>")
	}
	if m[2] != reg.Account {
		return core.InvalidParameter("customRoleArn", "The custom role must be in the registry's account ("+reg.Account+")")
	}
	return nil
}

// RoleSession is the session name of the role berth assumes for a rule's
// customRoleArn: the one --iam-config gives a role that names none, so that
// the role's identity policies apply.
const RoleSession = "berth"

// roleSession is the principal berth acts as when it pulls with a rule's
// custom role: a session of that role.
func roleSession(arn string) string {
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return ""
	}
	return "arn:aws:sts::" + m[2] + ":assumed-role/" + m[3] + "/" + RoleSession
}

// match finds the rule for a cache repository: the longest prefix it is
// under, ROOT for any repository no other rule claims. rest is the name
// below the prefix; a repository named exactly as a prefix matches nothing.
func match(rules []Rule, repo string) (rule Rule, rest string, ok bool) {
	best := -1
	for _, r := range rules {
		p := normalPrefix(r.Prefix)
		switch {
		case p == Root:
			if best < 0 {
				rule, rest, ok, best = r, repo, true, 0
			}
		case strings.HasPrefix(repo, p+"/") && len(p) > best:
			rule, rest, ok, best = r, repo[len(p)+1:], true, len(p)
		}
	}
	return rule, rest, ok && rest != ""
}

// upstreamName maps a cache repository's name below its rule's prefix to
// the upstream repository: "my-app/image1 → upstream-app/image1" for an
// upstream prefix upstream-app, unchanged for ROOT (user guide, Customizing
// repository prefixes).
func upstreamName(rule Rule, rest string) string {
	p := normalPrefix(rule.UpstreamPrefix)
	if p == "" || p == Root {
		return rest
	}
	return p + "/" + rest
}

// UpstreamPrefixOut is the upstreamRepositoryPrefix ECR reports for a rule:
// ROOT by default for an ecr upstream ("When this field isn't specified,
// Amazon ECR will use the ROOT"), none for others.
func UpstreamPrefixOut(r Rule) string {
	if r.UpstreamPrefix == "" && r.UpstreamRegistry == ECR {
		return Root
	}
	return r.UpstreamPrefix
}

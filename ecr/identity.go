package ecr

import (
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/core"
)

// callerFrom identifies the caller from the SigV4 credential scope:
//
//	Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/ecr/aws4_request, ...
//
// An access key id the configured AccessKeys know is their principal (a
// user, a role session, an account's root), in the principal's account.
// Another 12-digit access key id is that account's root; any other key is
// the default account's. The region comes from the scope and must be a
// region's name: it becomes the registry's, in ARNs, repository URIs and
// /v2 tokens.
// Signatures are not verified: berth is an emulator and accepts any secret
// key. The transport gives the policy conditions aws:SourceIp and
// aws:SecureTransport.
func (h *Handler) callerFrom(r *http.Request) (core.Caller, error) {
	account, region := h.defaultAccount, h.region
	principal := ""
	auth := r.Header.Get("Authorization")
	if i := strings.Index(auth, "Credential="); i >= 0 {
		cred := auth[i+len("Credential="):]
		if j := strings.IndexAny(cred, ", "); j >= 0 {
			cred = cred[:j]
		}
		// <key id>/<date>/<region>/..., cut without a slice of the parts.
		key, rest, ok1 := strings.Cut(cred, "/")
		_, rest, ok2 := strings.Cut(rest, "/")
		reg, _, _ := strings.Cut(rest, "/")
		if ok1 && ok2 {
			if arn, ok := h.principalForKey(key); ok {
				account, principal = core.AccountOfPrincipal(arn), arn
			} else if core.ValidAccountID(key) {
				account = key
			}
			if !validRegion(reg) {
				return core.Caller{}, invalidRegion(reg)
			}
			region = reg
		}
	}
	if principal == "" && account == h.defaultAccount {
		principal = h.defaultRoot // most callers are the default account's root
	} else if principal == "" {
		principal = core.RootPrincipal(account)
	}
	return core.Caller{
		Registry:        core.RegistryID{Account: account, Region: region},
		Principal:       principal,
		SourceIP:        remoteIP(r.RemoteAddr),
		SecureTransport: r.TLS != nil,
	}, nil
}

// principalForKey is the principal of a configured access key id. An ARN
// without an account (which identity never gives) is not used: the caller
// must belong to an account.
func (h *Handler) principalForKey(id string) (string, bool) {
	if h.keys == nil {
		return "", false
	}
	arn, ok := h.keys.PrincipalForAccessKey(id)
	return arn, ok && core.AccountOfPrincipal(arn) != ""
}

// regionName is the shape of a region's name: a partition's prefix, words,
// a number (us-east-1, ap-southeast-5, us-gov-west-1, cn-northwest-1,
// us-iso-east-1, us-isob-east-1, eu-isoe-west-1, us-isof-south-1,
// eusc-de-east-1). It is the union of the partitions' regionRegex in AWS's
// endpoint rules (partitions.json, shipped in aws-sdk-go-v2 as
// internal/endpoints/awsrulesfn/partitions.json): ^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$,
// ^cn-\w+-\d+$, ^us-gov-\w+-\d+$, ^us-iso-\w+-\d+$, ^us-isob-\w+-\d+$,
// ^eu-isoe-\w+-\d+$, ^us-isof-\w+-\d+$, ^eusc-(de)-\w+-\d+$ — with any two to
// four letters as the prefix, so that a partition added later is not
// refused, and lower-case letters for \w, as in every region code AWS lists
// (e.g. https://docs.aws.amazon.com/solutions/latest/automated-security-response-on-aws/plan-your-deployment.html).
// Pseudo-regions such as aws-global are not signing regions: AWS refuses
// them too ("Credential should be scoped to a valid region, not
// 'aws-global'", aws/aws-sdk-java-v2#988).
var regionName = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)

// validRegion is regionName.MatchString without the regexp engine, which
// was a noticeable part of a small call: '-' separates the groups, so the
// match is unique — a prefix of two to four letters, words, a number.
func validRegion(s string) bool {
	only := func(g string, lo, hi byte) bool {
		for i := range len(g) {
			if g[i] < lo || g[i] > hi {
				return false
			}
		}
		return g != ""
	}
	prefix, rest, ok := strings.Cut(s, "-")
	if !ok || len(prefix) < 2 || len(prefix) > 4 || !only(prefix, 'a', 'z') {
		return false
	}
	for words := 0; ; words++ {
		g, r, more := strings.Cut(rest, "-")
		if !more {
			return words > 0 && only(g, '0', '9')
		}
		if !only(g, 'a', 'z') {
			return false
		}
		rest = r
	}
}

// invalidRegion is AWS's answer to a credential scoped to a region that is
// not one. JSON 1.1 services answer it with status 400, __type
// InvalidSignatureException, and this message, trailing space included
// ("Credential should be scoped to a valid region, not 'us-east-1'. ":
// aws/aws-sdk-ruby#508, fsouza/s3-upload-proxy#241; the JSON 1.1 shape and
// status: aws/aws-sdk-ruby#431). Not confirmed for ECR itself, which could
// also word an unparseable region differently from a wrong one.
func invalidRegion(region string) *awsError {
	return newError("InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'. ", region)
}

// remoteIP is the host part of a RemoteAddr ("ip:port", "[ipv6]:port").
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

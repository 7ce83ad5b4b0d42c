package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/identity"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/bundle"
)

// exitCode is a command's outcome that is not a failure but must reach the
// shell: `berth policy eval` exits 2 for an implicit deny, 3 for an
// explicit one.
type exitCode int

func (c exitCode) Error() string { return "exit code " + strconv.Itoa(int(c)) }

// Exit codes of `berth policy eval`.
const (
	exitImplicitDeny exitCode = 2
	exitExplicitDeny exitCode = 3
)

func policyUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  berth policy compile [--kind repository|registry|identity] FILE
        print the Rego module berth compiles the policy in FILE ("-": stdin) to
  berth policy eval --principal ARN --action ecr:X --resource ARN [flags]
        decide one request as berth would; prints Allow, ExplicitDeny or ImplicitDeny
        with the deciding Sids and exits 0, 3 or 2 (berth policy eval -h lists the flags)
  berth policy export --out DIR (--data-dir DIR [--iam-config FILE] | --from URL)
        write every stored policy and configured identity as a Rego bundle for opa test
`)
}

func policyCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		policyUsage(stderr)
		return errors.New("missing policy command")
	}
	switch args[0] {
	case "compile":
		return policyCompile(args[1:], stdout, stderr)
	case "eval":
		return policyEval(args[1:], stdout, stderr)
	case "export":
		return policyExport(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		policyUsage(stdout)
		return nil
	}
	policyUsage(stderr)
	return fmt.Errorf("unknown policy command %q", args[0])
}

func parseKind(s string) (policy.Kind, error) {
	switch s {
	case "repository":
		return policy.Repository, nil
	case "registry":
		return policy.Registry, nil
	case "identity":
		return policy.Identity, nil
	}
	return 0, fmt.Errorf("--kind %q: want repository, registry or identity", s)
}

func readPolicyFile(name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func policyCompile(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy compile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kindName := fs.String("kind", "repository", "where the policy is attached: repository, registry or identity")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("policy compile takes one FILE")
	}
	kind, err := parseKind(*kindName)
	if err != nil {
		return err
	}
	text, err := readPolicyFile(fs.Arg(0))
	if err != nil {
		return err
	}
	_, module, err := policy.Compile(text, kind)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	_, err = io.WriteString(stdout, module)
	return err
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func keyValues(list []string, what string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", what, kv)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func single(m map[string][]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = v[len(v)-1]
	}
	return out
}

func policyEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	principalARN := fs.String("principal", "", "the caller's ARN, e.g. arn:aws:iam::222222222222:root or arn:aws:iam::111111111111:user/alice (required)")
	action := fs.String("action", "", "the IAM action, e.g. ecr:BatchGetImage (required)")
	resource := fs.String("resource", "", `the resource: a repository ARN, or "*" (required)`)
	repoPolicy := fs.String("policy", "", "the repository's policy (a file)")
	registryPolicy := fs.String("registry-policy", "", "the registry's policy (a file)")
	scope := fs.String("scope", "V2", "the registry's REGISTRY_POLICY_SCOPE: V1 or V2")
	iamConfig := fs.String("iam-config", env("IAM_CONFIG", ""), "take the principal (tags, organization, identity policies) from this --iam-config file (BERTH_IAM_CONFIG)")
	var identityPolicies, principalTags, resourceTags, contextKeys listFlag
	fs.Var(&identityPolicies, "identity-policy", "an identity policy of the principal (a file; repeatable)")
	fs.Var(&principalTags, "principal-tag", "a principal tag, key=value (repeatable)")
	fs.Var(&resourceTags, "resource-tag", "a tag of the repository, key=value (repeatable)")
	fs.Var(&contextKeys, "context", "a request condition key, e.g. aws:SourceIp=10.0.0.1 (repeatable; repeated keys make a list)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *principalARN == "" || *action == "" || *resource == "" || fs.NArg() > 0 {
		return errors.New("policy eval needs --principal, --action and --resource, and no other arguments")
	}
	if *scope != "V1" && *scope != "V2" {
		return fmt.Errorf("--scope %q: want V1 or V2", *scope)
	}

	var principals policy.Principals = policy.RootsOnly{}
	if *iamConfig != "" {
		dir, err := identity.Load(*iamConfig)
		if err != nil {
			return fmt.Errorf("--iam-config: %w", err)
		}
		principals = dir
	}
	p, ok := principals.Principal(*principalARN)
	if !ok {
		// Not configured: a principal of its ARN's account with only the
		// identity policies and tags given here.
		p = policy.PrincipalOf(*principalARN)
		if p.Account == "" {
			return fmt.Errorf("--principal %q is not an IAM or STS principal ARN", *principalARN)
		}
	}
	for _, f := range identityPolicies {
		text, err := readPolicyFile(f)
		if err != nil {
			return err
		}
		if _, err := policy.Parse(text, policy.Identity); err != nil {
			return fmt.Errorf("--identity-policy %s: %w", f, err)
		}
		p.Policies = append(p.Policies, text)
	}
	tags, err := keyValues(principalTags, "--principal-tag")
	if err != nil {
		return err
	}
	for k, v := range single(tags) {
		if p.Tags == nil {
			p.Tags = map[string]string{}
		}
		p.Tags[k] = v
	}

	req := policy.Request{Principal: p, Action: *action, Resource: *resource, RegistryPolicyScope: *scope}
	if *resource == "*" {
		req.ResourceAccount = p.Account
	} else {
		parts := strings.SplitN(*resource, ":", 6)
		if len(parts) != 6 || !core.ValidAccountID(parts[4]) {
			return fmt.Errorf("--resource %q is not a repository ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME) or *", *resource)
		}
		req.ResourceRegion, req.ResourceAccount = parts[3], parts[4]
	}
	for flagName, into := range map[string]*string{"policy": &req.ResourcePolicy, "registry-policy": &req.RegistryPolicy} {
		name := map[string]string{"policy": *repoPolicy, "registry-policy": *registryPolicy}[flagName]
		if name == "" {
			continue
		}
		text, err := readPolicyFile(name)
		if err != nil {
			return err
		}
		kind := policy.Repository
		if flagName == "registry-policy" {
			kind = policy.Registry
		}
		if _, err := policy.Parse(text, kind); err != nil {
			return fmt.Errorf("--%s %s: %w", flagName, name, err)
		}
		*into = text
	}
	rtags, err := keyValues(resourceTags, "--resource-tag")
	if err != nil {
		return err
	}
	req.ResourceTags = single(rtags)
	ctxKeys, err := keyValues(contextKeys, "--context")
	if err != nil {
		return err
	}
	req.Context = map[string][]string{}
	for k, v := range ctxKeys {
		req.Context[strings.ToLower(k)] = v
	}
	// As berth's own requests carry them: the time of the decision.
	now := time.Now().UTC()
	if _, ok := req.Context["aws:currenttime"]; !ok {
		req.Context["aws:currenttime"] = []string{now.Format(time.RFC3339)}
	}
	if _, ok := req.Context["aws:epochtime"]; !ok {
		req.Context["aws:epochtime"] = []string{strconv.FormatInt(now.Unix(), 10)}
	}

	d, err := policy.NewEngine().Decide(context.Background(), req)
	if err != nil {
		return err
	}
	line := string(d.Effect)
	if len(d.Sids) > 0 {
		line += " (" + strings.Join(d.Sids, ", ") + ")"
	}
	fmt.Fprintln(stdout, line)
	switch d.Effect {
	case policy.Allow:
		return nil
	case policy.ExplicitDeny:
		fmt.Fprintf(stdout, "User: %s is not authorized to perform: %s on resource: %s %s\n", p.ARN, *action, *resource, d.Reason)
		return exitExplicitDeny
	default:
		fmt.Fprintf(stdout, "User: %s is not authorized to perform: %s on resource: %s %s\n", p.ARN, *action, *resource, d.Reason)
		return exitImplicitDeny
	}
}

func policyExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the bundle's directory (berth/ in it is replaced; your own files are kept) (required)")
	dataDir := fs.String("data-dir", "", "read a stopped berth's data dir")
	iamConfig := fs.String("iam-config", env("IAM_CONFIG", ""), "with --data-dir: the identities to include (BERTH_IAM_CONFIG)")
	from := fs.String("from", "", "read a running berth instead, e.g. http://localhost:4566 (its admin endpoint /_berth/policies)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*dataDir == "") == (*from == "") || fs.NArg() > 0 {
		return errors.New("policy export needs --out and one of --data-dir or --from")
	}
	var inv bundle.Inventory
	var err error
	if *from != "" {
		inv, err = inventoryFrom(*from)
	} else {
		inv, err = inventoryOf(*dataDir, *iamConfig)
	}
	if err != nil {
		return err
	}
	if err := bundle.Write(*out, inv); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d principals, %d repositories and %d registries to %s (test it with: opa test %s)\n",
		len(inv.Principals), len(inv.Repositories), len(inv.Registries), *out, *out)
	return nil
}

// inventoryOf reads a data dir berth is not running on. It only reads: the
// store is opened as serve opens it, but not upgraded.
func inventoryOf(dataDir, iamConfig string) (bundle.Inventory, error) {
	var principals []policy.Principal
	if iamConfig != "" {
		dir, err := identity.Load(iamConfig)
		if err != nil {
			return bundle.Inventory{}, fmt.Errorf("--iam-config: %w", err)
		}
		principals = dir.Principals()
	}
	path := filepath.Join(dataDir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		return bundle.Inventory{}, fmt.Errorf("--data-dir %s holds no berth metadata store (meta.db): %w", dataDir, err)
	}
	meta, err := kv.OpenBolt(path)
	if err != nil {
		return bundle.Inventory{}, fmt.Errorf("opening %s: %w (is berth running on it? then use --from http://HOST:PORT)", path, err)
	}
	defer meta.Close()
	reg := core.New(core.Options{KV: meta})
	return bundle.Gather(context.Background(), reg, principals)
}

func inventoryFrom(base string) (bundle.Inventory, error) {
	var inv bundle.Inventory
	resp, err := http.Get(strings.TrimSuffix(base, "/") + "/_berth/policies")
	if err != nil {
		return inv, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return inv, fmt.Errorf("%s/_berth/policies: %s: %s", base, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil {
		return inv, fmt.Errorf("%s/_berth/policies: %w", base, err)
	}
	return inv, nil
}

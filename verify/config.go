package verify

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
)

// Mode says what a rule does with an image that has no valid signature.
type Mode string

const (
	// Enforce refuses the tag move or pull before anything changes.
	Enforce Mode = "enforce"
	// Audit logs and records the decision and lets the request through.
	Audit Mode = "audit"
)

// Config is berth's verification policy: the --verify-config file, or the body of
// PUT /_berth/verification (YAML or JSON, the same schema):
//
//	rules:                       # the first rule whose pattern matches a repository applies
//	  - name: prod               # names the rule in errors, logs and decisions
//	    repositories: ["prod/*"] # patterns; '*' matches any characters, '/' included
//	    mode: enforce            # enforce | audit
//	    pull: true               # also verify pulls (tag moves are always verified)
//	    keys:                    # trusted public keys and CA certificates, PEM
//	      - name: ci
//	        pem: |
//	          -----BEGIN PUBLIC KEY-----
//	          ...
//	      - name: release-ca
//	        file: ca.pem         # --verify-config only; relative to the file
//	verifier: cosignverify       # the verifier plugin (default: the built-in one)
//	pluginsDir: verifiers        # --verify-config only: verifier plugins (NAME.wasm, NAME.json)
type Config struct {
	Rules    []Rule `yaml:"rules" json:"rules"`
	Verifier string `yaml:"verifier,omitempty" json:"verifier,omitempty"`
	// PluginsDir holds the user's verifier plugins, loaded at start; one named like the
	// built-in replaces it. Absolute once parsed.
	PluginsDir string `yaml:"pluginsDir,omitempty" json:"pluginsDir,omitempty"`
}

// Rule is one pattern's policy.
type Rule struct {
	Name         string   `yaml:"name" json:"name"`
	Repositories []string `yaml:"repositories" json:"repositories"`
	Mode         Mode     `yaml:"mode" json:"mode"`
	Pull         bool     `yaml:"pull,omitempty" json:"pull,omitempty"`
	Keys         []Key    `yaml:"keys" json:"keys"`
}

// Key is a trusted public key or certificate, inline or from a file.
type Key struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	PEM  string `yaml:"pem,omitempty" json:"pem,omitempty"`
	File string `yaml:"file,omitempty" json:"file,omitempty"`
}

// DefaultVerifier is the built-in verifier plugin's name.
const DefaultVerifier = "cosignverify"

// policy is a validated Config, ready to match.
type policy struct {
	config   Config
	rules    []rule
	verifier string
}

type rule struct {
	Rule
	patterns []*regexp.Regexp
	keys     []trustedKey
	// fingerprint identifies the rule's key set, for the decision cache.
	fingerprint string
}

type trustedKey struct {
	name        string
	pem         string
	fingerprint string // sha256 of the DER, hex
}

// ParseConfig reads a policy (YAML or JSON). dir resolves relative key files; "" refuses key
// files (a policy sent over HTTP names no files on berth's machine).
func ParseConfig(data []byte, dir string) (Config, error) {
	var c Config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
		return Config{}, fmt.Errorf("verification config: %s", yaml.FormatError(err, false, false))
	}
	if c.PluginsDir != "" {
		if dir == "" {
			return Config{}, fmt.Errorf("pluginsDir names a directory on berth's machine; only --verify-config may")
		}
		if !filepath.IsAbs(c.PluginsDir) {
			c.PluginsDir = filepath.Join(dir, c.PluginsDir)
		}
	}
	for i := range c.Rules {
		for j := range c.Rules[i].Keys {
			k := &c.Rules[i].Keys[j]
			if k.File == "" {
				continue
			}
			if dir == "" {
				return Config{}, fmt.Errorf("rule %q: key %q names a file; send its PEM inline", c.Rules[i].Name, k.Name)
			}
			if k.PEM != "" {
				return Config{}, fmt.Errorf("rule %q: key %q has both pem and file", c.Rules[i].Name, k.Name)
			}
			path := k.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return Config{}, fmt.Errorf("rule %q: key %q: %w", c.Rules[i].Name, k.Name, err)
			}
			k.PEM, k.File = string(b), ""
		}
	}
	if _, err := compile(c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadConfig reads the --verify-config file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(b, filepath.Dir(path))
}

// compile validates c: every rule named, with patterns, a mode, and keys that are PEM public
// keys or certificates.
func compile(c Config) (*policy, error) {
	p := &policy{config: c, verifier: c.Verifier}
	if p.verifier == "" {
		p.verifier = DefaultVerifier
	}
	names := map[string]bool{}
	for i, r := range c.Rules {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("rule %d has no name", i+1)
		case names[r.Name]:
			return nil, fmt.Errorf("rule %q is named twice", r.Name)
		case len(r.Repositories) == 0:
			return nil, fmt.Errorf("rule %q has no repository patterns", r.Name)
		case r.Mode != Enforce && r.Mode != Audit:
			return nil, fmt.Errorf("rule %q: mode %q is neither %q nor %q", r.Name, r.Mode, Enforce, Audit)
		case len(r.Keys) == 0:
			return nil, fmt.Errorf("rule %q has no keys: nothing could ever verify", r.Name)
		}
		names[r.Name] = true
		cr := rule{Rule: r}
		for _, pat := range r.Repositories {
			if pat == "" {
				return nil, fmt.Errorf("rule %q has an empty repository pattern", r.Name)
			}
			cr.patterns = append(cr.patterns, wildcard(pat))
		}
		var fps []string
		for j, k := range r.Keys {
			fp, err := fingerprint(k.PEM)
			if err != nil {
				return nil, fmt.Errorf("rule %q: key %d (%s): %w", r.Name, j+1, k.Name, err)
			}
			name := k.Name
			if name == "" {
				name = "sha256:" + fp[:16]
			}
			cr.keys = append(cr.keys, trustedKey{name: name, pem: k.PEM, fingerprint: fp})
			fps = append(fps, fp)
		}
		sort.Strings(fps)
		sum := sha256.Sum256([]byte(strings.Join(fps, ",")))
		cr.fingerprint = hex.EncodeToString(sum[:])
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

// wildcard compiles an ECR-style WILDCARD_MATCH pattern: '*' matches any run of characters.
func wildcard(pat string) *regexp.Regexp {
	parts := strings.Split(pat, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// fingerprint is the sha256 of a PEM key's or certificate's DER, after checking it parses.
func fingerprint(pemText string) (string, error) {
	block, rest := pem.Decode([]byte(pemText))
	if block == nil {
		return "", fmt.Errorf("not PEM")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return "", fmt.Errorf("more than one PEM block; give each key or certificate its own entry")
	}
	switch block.Type {
	case "CERTIFICATE":
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "", fmt.Errorf("certificate: %w", err)
		}
	case "PUBLIC KEY":
		if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			return "", fmt.Errorf("public key: %w", err)
		}
	default:
		return "", fmt.Errorf("PEM block %q is neither a PUBLIC KEY nor a CERTIFICATE", block.Type)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// match returns the first rule whose pattern matches repo.
func (p *policy) match(repo string) *rule {
	if p == nil {
		return nil
	}
	for i := range p.rules {
		for _, re := range p.rules[i].patterns {
			if re.MatchString(repo) {
				return &p.rules[i]
			}
		}
	}
	return nil
}

package pullthrough

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
)

// The --ptc-credentials file stands in for AWS Secrets Manager: it maps each
// credentialArn a rule may name to the upstream's user name and access
// token, the two keys of the secret ECR reads ("username" and
// "accessToken"; "password" is taken as the token too). YAML or JSON:
//
//	arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/docker-hub:
//	  username: alice
//	  accessToken: dckr_pat_...
//
// The file is read at start (an unusable one stops berth) and again when it
// changes, so a secret can be rotated without a restart.

// Credential is one secret's content.
type Credential struct {
	Username    string `yaml:"username" json:"username"`
	AccessToken string `yaml:"accessToken" json:"accessToken"`
	Password    string `yaml:"password" json:"password"`
}

// token is what the upstream is sent as the password.
func (c Credential) token() string {
	if c.AccessToken != "" {
		return c.AccessToken
	}
	return c.Password
}

// Credentials reads the --ptc-credentials file.
type Credentials struct {
	file string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	secrets map[string]Credential
	err     error // the last reading's, when the file went bad after start
}

// LoadCredentials reads file; "" is no file (every credentialArn is
// missing).
func LoadCredentials(file string) (*Credentials, error) {
	c := &Credentials{file: file}
	if file == "" {
		return c, nil
	}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Lookup returns the secret named arn.
func (c *Credentials) Lookup(arn string) (Credential, error) {
	if c == nil || c.file == "" {
		return Credential{}, fmt.Errorf("%w: berth has no --ptc-credentials file to find '%s' in", ErrSecretNotFound, arn)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fi, err := os.Stat(c.file); err != nil || !fi.ModTime().Equal(c.modTime) || fi.Size() != c.size {
		c.err = c.reloadLocked()
	}
	if c.err != nil {
		return Credential{}, fmt.Errorf("%w: the --ptc-credentials file cannot be read: %v", ErrSecretNotFound, c.err)
	}
	cred, ok := c.secrets[arn]
	if !ok {
		return Credential{}, fmt.Errorf("%w: the secret '%s' is not in the --ptc-credentials file", ErrSecretNotFound, arn)
	}
	return cred, nil
}

func (c *Credentials) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloadLocked()
}

func (c *Credentials) reloadLocked() error {
	fi, err := os.Stat(c.file)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(c.file)
	if err != nil {
		return err
	}
	secrets, err := parseCredentials(data)
	if err != nil {
		return fmt.Errorf("%s: %w", c.file, err)
	}
	c.secrets, c.modTime, c.size = secrets, fi.ModTime(), fi.Size()
	return nil
}

// parseCredentials reads the file's content (JSON is YAML too).
func parseCredentials(data []byte) (map[string]Credential, error) {
	secrets := map[string]Credential{}
	if len(bytes.TrimSpace(data)) == 0 {
		return secrets, nil
	}
	if err := yaml.UnmarshalWithOptions(data, &secrets, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("not a mapping of credentialArn to username and accessToken: %w", err)
	}
	arns := make([]string, 0, len(secrets))
	for arn := range secrets {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	for _, arn := range arns {
		cred := secrets[arn]
		switch {
		case !secretARN.MatchString(arn):
			return nil, fmt.Errorf("'%s' is not the ARN of a Secrets Manager secret whose name starts with ecr-pullthroughcache/", arn)
		case cred.Username == "" || cred.token() == "":
			return nil, fmt.Errorf("the secret '%s' needs a username and an accessToken", arn)
		}
	}
	return secrets, nil
}

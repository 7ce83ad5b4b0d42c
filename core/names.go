package core

import (
	"regexp"
	"strings"
)

// The distribution-spec grammar for repository names and tags.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidRepositoryName reports whether name is a valid repository name (ECR
// allows 2 to 256 characters).
func ValidRepositoryName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && matchName(name)
}

// matchName is nameRE.MatchString without the regexp machinery (every /v2
// request checks a name): components of [a-z0-9]+ joined by '/', each
// component's runs of [a-z0-9] separated by '.', '_', '__' or any number
// of '-'. FuzzNameMatchesRegexp holds it to nameRE.
func matchName(name string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	i := 0
	for {
		// A component: alphanumerics, then any number of separator + alphanumerics.
		if i == len(name) || !alnum(name[i]) {
			return false
		}
		for i < len(name) && alnum(name[i]) {
			i++
		}
		for i < len(name) && name[i] != '/' {
			switch {
			case name[i] == '.':
				i++
			case name[i] == '_':
				i++
				if i < len(name) && name[i] == '_' {
					i++
				}
			case name[i] == '-':
				for i < len(name) && name[i] == '-' {
					i++
				}
			default:
				return false
			}
			if i == len(name) || !alnum(name[i]) {
				return false
			}
			for i < len(name) && alnum(name[i]) {
				i++
			}
		}
		if i == len(name) {
			return true
		}
		i++ // the '/'
	}
}

// ValidAccountID reports whether s is an AWS account id: 12 digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ValidTag reports whether tag is a valid tag.
func ValidTag(tag string) bool {
	// tagRE, by hand (every pull by tag checks one); FuzzTagMatchesRegexp
	// holds it to tagRE.
	if len(tag) == 0 || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// sha256Hex reports whether s is "sha256:" and 64 lower-case hex digits.
func sha256Hex(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

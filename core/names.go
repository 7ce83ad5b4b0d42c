package core

import (
	"regexp"
)

// The distribution-spec grammar for repository names and tags.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidRepositoryName reports whether name is a valid repository name (ECR
// allows 2 to 256 characters).
func ValidRepositoryName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && nameRE.MatchString(name)
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
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

package core

import (
	"regexp"
	"testing"
)

// NewUUID gives random (version 4, RFC 4122 variant) UUIDs in their
// canonical form, a different one each call.
func TestNewUUIDIsAVersion4UUID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewUUID()
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("NewUUID() = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

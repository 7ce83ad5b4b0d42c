package ecr

import (
	"testing"

	"github.com/berth-dev/berth/core"
)

// Every domain error kind maps to an ECR exception: a kind without one would
// reach clients as a ServerException.
func TestEveryKindIsMapped(t *testing.T) {
	for _, k := range core.Kinds {
		if _, ok := kindToException[k]; !ok {
			t.Errorf("kind %s has no ECR exception", k)
		}
	}
}

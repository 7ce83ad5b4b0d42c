package scanners

import (
	"testing"

	"github.com/berth-dev/berth/plugins/internal/wasmbuild"
)

// The committed module must be what its sources build to, so that nobody runs a scanner whose
// code is not in the repository.
func TestEmbeddedModuleIsWhatItsSourcesBuildTo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: rebuilding the module takes a while")
	}
	wasmbuild.Check(t, "github.com/berth-dev/berth/plugins/scanners/ospkg", ospkgWasm, "./plugins/scanners")
}

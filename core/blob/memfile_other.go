//go:build !linux

package blob

import (
	"errors"
	"os"
)

var errNoMemFile = errors.New("blob: no memory files on this system")

// newMemFile fails where memfd_create does not exist: uploads keep to pieces.
func newMemFile() (*os.File, int, error) { return nil, 0, errNoMemFile }

func (m *memFile) open() (Reader, error) { return nil, errNoMemFile }

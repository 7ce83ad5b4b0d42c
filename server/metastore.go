package server

import (
	"errors"
	"fmt"

	"github.com/berth-dev/berth/core/kv"
	berrors "go.etcd.io/bbolt/errors"
)

// openMeta opens the metadata store at path, telling the two failures a
// user can act on apart: another process holding the file (bbolt gives up
// waiting for its lock) and a file that is not a database.
func openMeta(path string) (kv.Store, error) {
	meta, err := kv.OpenBolt(path)
	switch {
	case err == nil:
		return meta, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("metadata store %s is locked by another process: is another berth using this data dir? "+
			"Stop it, or give this one its own --data-dir", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("metadata store %s is not a valid database (%w): it is damaged or not berth's; "+
			"move it away to start with an empty registry, or give berth another --data-dir", path, err)
	}
	return nil, fmt.Errorf("metadata store %s: %w", path, err)
}

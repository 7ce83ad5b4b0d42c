// Package fsync holds the durability step both of berth's on-disk stores
// need beside a file's own sync: the sync of the directory that names it.
package fsync

import "os"

// Dir syncs the directory dir, so that a file created, renamed or removed in
// it is as durable as the file's bytes: without it, a crash may forget the
// name (ext4, XFS) though the data was synced.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

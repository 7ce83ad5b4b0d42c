// Package rootfs applies an image's layers to extract the few files a
// scanner needs (etc/os-release, var/lib/dpkg/status, lib/apk/db/installed,
// ...) into a directory, without ever holding a layer, or the image's tree,
// in memory.
//
// Layers are read once each, as streams (tar, or tar compressed with gzip or
// zstd, the compression sniffed from magic bytes because some images label it
// wrongly). Only regular files whose path matches a pattern are kept, staged
// on disk; of the rest of the image the extraction remembers only symlinks
// (needed to resolve paths) and nothing else. Each layer is applied as the
// OCI image spec says (layer.md, "Applying Changesets" and "Whiteouts"): a
// layer's ".wh.NAME" and ".wh..wh..opq" entries hide what lower layers hold,
// never what the same layer holds, whatever their order in the tar; then the
// layer's own entries replace what they name.
//
// Once every layer is applied, each pattern is matched against the image's
// final tree as a program inside the image would see it: symlinks are
// followed in every path element, inside the image root (an absolute target
// starts at the image root, ".." never leaves it), so that
// etc/os-release -> ../usr/lib/os-release gives a regular file at
// etc/os-release with usr/lib/os-release's bytes, provided that target was
// itself extracted. Nothing is ever written through a name taken from a tar
// entry: staged files have numbered names, and the output paths are built
// from cleaned path elements, so no entry can write outside the directory.
package rootfs

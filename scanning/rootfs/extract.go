package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Layer is one layer blob of an image, bottom first.
type Layer struct {
	MediaType string                        // OCI/Docker layer media type (tar, tar+gzip, tar+zstd, docker rootfs.diff.tar.gzip, ...)
	Open      func() (io.ReadCloser, error) // streams the blob; called once
}

// Stats describes an extraction: the layers applied, and the regular files
// written into the directory with their total size.
type Stats struct {
	Layers int
	Files  int
	Bytes  int64
}

var (
	// ErrUnsupportedLayer is a blob that is not an image layer Extract can
	// read: an unknown media type (a Helm chart, an encrypted layer, ...) or
	// a compression other than gzip and zstd.
	ErrUnsupportedLayer = errors.New("unsupported layer")
	// ErrLimit is an extraction that would pass one of its Limits.
	ErrLimit = errors.New("extraction limit exceeded")
)

// Limits bound what one extraction may cost.
type Limits struct {
	FileBytes  int64 // the largest file extracted
	TotalBytes int64 // all bytes staged across the layers, including files an upper layer replaces
	Entries    int   // extracted files and symlinks remembered at once (symlinks are kept to resolve paths)
}

// DefaultLimits are generous for OS package databases: dpkg's status file
// of a large image is a few MiB.
var DefaultLimits = Limits{FileBytes: 64 << 20, TotalBytes: 512 << 20, Entries: 1 << 18}

// Extract applies layers in order into dir with DefaultLimits; see
// Limits.Extract.
func Extract(ctx context.Context, layers []Layer, patterns []string, dir string) (Stats, error) {
	return DefaultLimits.Extract(ctx, layers, patterns, dir)
}

// Extract applies layers in order into dir (which must exist and be empty),
// writing only regular files whose path matches one of patterns (after
// whiteouts: ".wh.NAME" removes NAME from lower layers, ".wh..wh..opq" makes
// a directory opaque), resolving symlinks/hardlinks whose final target
// (inside the image) is itself extracted, so that e.g. etc/os-release ->
// ../usr/lib/os-release yields a regular file at etc/os-release.
//
// Patterns are relative to the image root, without a leading slash, and are
// matched per path element with path.Match syntax. Files are staged in a
// hidden directory beside dir (the system's temporary directory when dir's
// parent is not writable), which is removed before Extract returns. On an
// error, dir is left empty.
func (l Limits) Extract(ctx context.Context, layers []Layer, patterns []string, dir string) (st Stats, err error) {
	split, err := compilePatterns(patterns)
	if err != nil {
		return Stats{}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("rootfs: %w", err)
	}
	if len(entries) > 0 {
		return Stats{}, fmt.Errorf("rootfs: %s is not empty", dir)
	}
	staging, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".rootfs-staging-")
	if err != nil {
		if staging, err = os.MkdirTemp("", "berth-rootfs-staging-"); err != nil {
			return Stats{}, fmt.Errorf("rootfs: %w", err)
		}
	}
	defer os.RemoveAll(staging)
	defer func() {
		if err != nil {
			emptyDir(dir)
		}
	}()

	x := &extraction{limits: l, patterns: patterns, staging: staging}
	x.tree = newTree(func(staged string) { os.Remove(staged) })
	for i, layer := range layers {
		if err := x.apply(ctx, layer); err != nil {
			return Stats{}, fmt.Errorf("rootfs: layer %d (%s): %w", i, layer.MediaType, err)
		}
		st.Layers++
	}

	out := map[string]*node{}
	for _, p := range split {
		x.tree.match(p, "", "", out)
	}
	for _, p := range slices.Sorted(maps.Keys(out)) {
		n := out[p]
		if !filepath.IsLocal(p) { // cannot happen: p is made of cleaned elements; kept as the last guard
			return Stats{}, fmt.Errorf("rootfs: refusing to write %q outside %s", p, dir)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return Stats{}, fmt.Errorf("rootfs: %w", err)
		}
		if err := linkOrCopy(n.staged, dst); err != nil {
			return Stats{}, fmt.Errorf("rootfs: %w", err)
		}
		st.Files++
		st.Bytes += n.size
	}
	return st, nil
}

// compilePatterns checks each pattern (relative, clean, valid path.Match
// syntax in every element) and splits it into its elements.
func compilePatterns(patterns []string) ([][]string, error) {
	split := make([][]string, 0, len(patterns))
	for _, p := range patterns {
		if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p {
			return nil, fmt.Errorf("rootfs: pattern %q must be a clean path relative to the image root", p)
		}
		es := strings.Split(p, "/")
		for _, e := range es {
			if e == ".." || e == "." {
				return nil, fmt.Errorf("rootfs: pattern %q must not contain %q", p, e)
			}
			if _, err := path.Match(e, ""); err != nil {
				return nil, fmt.Errorf("rootfs: pattern %q: %w", p, err)
			}
		}
		split = append(split, es)
	}
	return split, nil
}

// extraction is the state of one Extract call.
type extraction struct {
	limits   Limits
	patterns []string
	staging  string
	seq      int
	total    int64
	tree     *tree
}

func (x *extraction) matches(name string) bool {
	for _, p := range x.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

type opKind uint8

const (
	opPut     opKind = iota // a file or symlink (node)
	opDir                   // a directory: replaces a non-directory
	opReplace               // an entry not kept: replaces whatever was there
)

// op is one entry of the layer being read, applied to the tree once the
// layer's whiteouts have been.
type op struct {
	kind opKind
	path string
	node *node
	dead bool // superseded by a later entry of the same path
}

// changes is what one layer does, gathered while its tar is read.
type changes struct {
	ops       []*op
	latest    map[string]*op
	whiteouts []string
	opaques   []string
}

// clean makes a tar name a path relative to the image root, resolving ".."
// as a chroot would: "../../etc/x" and "/etc/x" both name etc/x.
func clean(name string) string {
	return path.Clean("/" + name)[1:]
}

func (x *extraction) apply(ctx context.Context, layer Layer) error {
	if !layerTypes[layer.MediaType] {
		return fmt.Errorf("%w: media type %q is not an image layer", ErrUnsupportedLayer, layer.MediaType)
	}
	if layer.Open == nil {
		return errors.New("layer has no content")
	}
	blob, err := layer.Open()
	if err != nil {
		return err
	}
	defer blob.Close()
	r, done, err := tarStream(blob)
	if err != nil {
		return err
	}
	defer done()

	ch := &changes{latest: map[string]*op{}}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the layer's tar: %w", err)
		}
		if err := x.entry(tr, hdr, ch); err != nil {
			return err
		}
	}
	x.commit(ch)
	return nil
}

func (x *extraction) entry(tr *tar.Reader, hdr *tar.Header, ch *changes) error {
	name := clean(hdr.Name)
	if name == "" {
		return nil // the root itself
	}
	parent, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		parent, base = name[:i], name[i+1:]
	}
	if strings.HasPrefix(base, ".wh.") {
		switch {
		case base == ".wh..wh..opq":
			ch.opaques = append(ch.opaques, parent)
		case strings.HasPrefix(base, ".wh..wh."):
			// aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs), not part of the image
		default:
			// ".wh.", ".wh.." and ".wh..." name no sibling: joined, they
			// would name the directory itself or its parent.
			if n := base[len(".wh."):]; n != "" && n != "." && n != ".." {
				ch.whiteouts = append(ch.whiteouts, path.Join(parent, n))
			}
		}
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		if !x.matches(name) {
			return x.record(ch, &op{kind: opReplace, path: name})
		}
		staged, err := x.stage(tr, name, hdr.Size)
		if err != nil {
			return err
		}
		return x.record(ch, &op{kind: opPut, path: name, node: &node{kind: kindFile, staged: staged, size: hdr.Size}})
	case tar.TypeSymlink:
		return x.record(ch, &op{kind: opPut, path: name, node: &node{kind: kindSymlink, target: hdr.Linkname}})
	case tar.TypeLink:
		return x.hardlink(ch, name, clean(hdr.Linkname))
	case tar.TypeDir:
		return x.record(ch, &op{kind: opDir, path: name})
	case tar.TypeXGlobalHeader:
		return nil // metadata for the archive, not an entry
	}
	// A device, a fifo or an unknown type: not kept, but it replaces
	// whatever lower layers had at its path.
	return x.record(ch, &op{kind: opReplace, path: name})
}

// record adds an entry to the layer's changes: it supersedes an earlier
// entry of the same path in the layer (a tar's later entry wins), and is
// kept only if it changes something, so a layer of many files the
// extraction does not keep costs no memory.
func (x *extraction) record(ch *changes, o *op) error {
	if old := ch.latest[o.path]; old != nil {
		old.dead = true
		if old.node != nil && old.node.kind == kindFile {
			os.Remove(old.node.staged)
		}
		delete(ch.latest, o.path)
	}
	switch o.kind {
	case opDir:
		if !x.tree.affects(o.path, true) {
			return nil
		}
	case opReplace:
		if !x.tree.affects(o.path, false) {
			return nil
		}
	}
	if x.tree.entries+len(ch.ops) >= x.limits.Entries {
		if o.node != nil && o.node.kind == kindFile {
			os.Remove(o.node.staged)
		}
		return fmt.Errorf("more than %d files and symlinks to keep track of: %w", x.limits.Entries, ErrLimit)
	}
	ch.ops = append(ch.ops, o)
	ch.latest[o.path] = o
	return nil
}

// hardlink records a hardlink entry: a link to an extracted file is a
// file of its own with the same bytes, a link to a symlink is that symlink.
// The target is an earlier entry of the same layer or an entry of a lower
// one (image-spec layer.md, "Hardlinks"); a link to a file that was not
// extracted cannot be, since its bytes have gone by.
func (x *extraction) hardlink(ch *changes, name, target string) error {
	var src *node
	if o := ch.latest[target]; o != nil {
		src = o.node
	} else {
		src = x.tree.lookup(target)
	}
	switch {
	case src != nil && src.kind == kindFile && x.matches(name):
		staged, err := x.link(src)
		if err != nil {
			return err
		}
		return x.record(ch, &op{kind: opPut, path: name, node: &node{kind: kindFile, staged: staged, size: src.size}})
	case src != nil && src.kind == kindSymlink:
		return x.record(ch, &op{kind: opPut, path: name, node: &node{kind: kindSymlink, target: src.target}})
	}
	return x.record(ch, &op{kind: opReplace, path: name})
}

// commit applies a layer: its whiteouts to the lower layers' state, then
// its entries in tar order.
func (x *extraction) commit(ch *changes) {
	for _, w := range ch.whiteouts {
		x.tree.remove(w)
	}
	for _, d := range ch.opaques {
		x.tree.clearChildren(d)
	}
	for _, o := range ch.ops {
		if o.dead {
			continue
		}
		switch o.kind {
		case opPut:
			x.tree.put(o.path, o.node)
		case opDir:
			x.tree.mkdir(o.path)
		case opReplace:
			x.tree.replace(o.path)
		}
	}
}

func (x *extraction) nextStaged() string {
	x.seq++
	return filepath.Join(x.staging, strconv.Itoa(x.seq))
}

// charge counts size bytes against the limits before they are staged.
func (x *extraction) charge(name string, size int64) error {
	if size > x.limits.FileBytes {
		return fmt.Errorf("%s is %d bytes, over the %d-byte limit per file: %w", name, size, x.limits.FileBytes, ErrLimit)
	}
	if x.total+size > x.limits.TotalBytes {
		return fmt.Errorf("%s would bring the extracted bytes past the %d-byte limit: %w", name, x.limits.TotalBytes, ErrLimit)
	}
	x.total += size
	return nil
}

// stage copies the current entry's bytes to a new staged file.
func (x *extraction) stage(r io.Reader, name string, size int64) (string, error) {
	if err := x.charge(name, size); err != nil {
		return "", err
	}
	staged := x.nextStaged()
	f, err := os.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r) // the tar reader yields exactly the header's size, or an error
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(staged)
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return staged, nil
}

// link stages a second name for src's bytes.
func (x *extraction) link(src *node) (string, error) {
	staged := x.nextStaged()
	if err := os.Link(src.staged, staged); err == nil {
		return staged, nil
	}
	if err := x.charge(src.staged, src.size); err != nil {
		return "", err
	}
	return staged, copyFile(src.staged, staged)
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// emptyDir removes what a failed extraction wrote into dir.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

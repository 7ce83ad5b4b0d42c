package rootfs

import (
	"path"
	"strings"
)

// maxHops bounds the symlinks followed while resolving one path, as Linux's
// ELOOP limit does (40), so a loop ends the resolution instead of the scan.
const maxHops = 40

type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

// node is one tracked entry of the image: a directory on the way to a
// tracked entry, an extracted regular file (its bytes staged on disk) or a
// symlink. Untracked files (those no pattern matches) are not in the tree at
// all.
type node struct {
	kind     kind
	target   string // symlink: the target as the tar recorded it
	staged   string // file: where its bytes are staged
	size     int64  // file: its size
	children map[string]*node
}

// tree is the image's state after the layers applied so far, reduced to
// what extraction needs.
type tree struct {
	root    *node
	entries int                 // files and symlinks held, for Limits.Entries
	release func(staged string) // called for each staged file that leaves the tree
}

func newTree(release func(string)) *tree {
	return &tree{root: &node{kind: kindDir, children: map[string]*node{}}, release: release}
}

// elems splits a cleaned relative path ("" is the root) into its elements.
func elems(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// drop forgets n and everything under it.
func (t *tree) drop(n *node) {
	switch n.kind {
	case kindFile:
		t.entries--
		t.release(n.staged)
	case kindSymlink:
		t.entries--
	case kindDir:
		for _, c := range n.children {
			t.drop(c)
		}
	}
}

// parentOf walks to the directory that holds p's last element, literally
// (tar names are real paths, never followed through symlinks). It returns
// nil when a directory on the way is missing. A non-directory on the way is
// an entry the layer being applied replaces with a directory, so when
// replace is set it is dropped and nil is returned.
func (t *tree) parentOf(p string, replace bool) (*node, string) {
	es := elems(p)
	if len(es) == 0 {
		return nil, ""
	}
	dir := t.root
	for _, e := range es[:len(es)-1] {
		c := dir.children[e]
		if c == nil {
			return nil, ""
		}
		if c.kind != kindDir {
			if replace {
				t.drop(c)
				delete(dir.children, e)
			}
			return nil, ""
		}
		dir = c
	}
	return dir, es[len(es)-1]
}

// affects reports whether an entry at p in an upper layer changes this
// tree: a non-directory is on the way to p or at p, or, for an entry that
// is not a directory, anything is at p.
func (t *tree) affects(p string, isDir bool) bool {
	dir := t.root
	for _, e := range elems(p) {
		c := dir.children[e]
		if c == nil {
			return false
		}
		if c.kind != kindDir {
			return true
		}
		dir = c
	}
	return !isDir
}

// lookup returns the entry at p, literally, or nil.
func (t *tree) lookup(p string) *node {
	dir, name := t.parentOf(p, false)
	if dir == nil {
		if p == "" {
			return t.root
		}
		return nil
	}
	return dir.children[name]
}

// remove applies a whiteout: p and all under it go.
func (t *tree) remove(p string) {
	if dir, name := t.parentOf(p, false); dir != nil {
		if c := dir.children[name]; c != nil {
			t.drop(c)
			delete(dir.children, name)
		}
	}
}

// clearChildren applies an opaque whiteout: p stays, its children go.
func (t *tree) clearChildren(p string) {
	if n := t.lookup(p); n != nil && n.kind == kindDir {
		for name, c := range n.children {
			t.drop(c)
			delete(n.children, name)
		}
	}
}

// replace applies an entry this tree does not keep (an unmatched regular
// file, a device, a fifo): whatever was at p goes, and a non-directory on
// the way to p goes too.
func (t *tree) replace(p string) {
	if dir, name := t.parentOf(p, true); dir != nil {
		if c := dir.children[name]; c != nil {
			t.drop(c)
			delete(dir.children, name)
		}
	}
}

// mkdir applies a directory entry: a directory merges with a directory
// already at p, and replaces anything else.
func (t *tree) mkdir(p string) {
	if dir, name := t.parentOf(p, true); dir != nil {
		if c := dir.children[name]; c != nil && c.kind != kindDir {
			t.drop(c)
			delete(dir.children, name)
		}
	}
}

// put applies a file or symlink entry at p, creating the directories on the
// way and replacing whatever they or p held.
func (t *tree) put(p string, n *node) {
	es := elems(p)
	if len(es) == 0 {
		t.release(n.staged) // the root is a directory; nothing can replace it
		return
	}
	dir := t.root
	for _, e := range es[:len(es)-1] {
		c := dir.children[e]
		if c != nil && c.kind != kindDir {
			t.drop(c)
			c = nil
		}
		if c == nil {
			c = &node{kind: kindDir, children: map[string]*node{}}
			dir.children[e] = c
		}
		dir = c
	}
	name := es[len(es)-1]
	if old := dir.children[name]; old != nil {
		t.drop(old)
	}
	dir.children[name] = n
	t.entries++
}

// resolve follows p from the image root as the kernel would inside the
// image: symlinks in every element are followed (at most maxHops of them),
// an absolute target restarts at the root, and ".." stops at the root. It
// returns the entry p finally names and its real path, or nil when p names
// nothing the tree holds.
func (t *tree) resolve(p string) (*node, string) {
	todo := elems(p)
	var real []string
	dirs := []*node{t.root}
	hops := 0
	for len(todo) > 0 {
		e := todo[0]
		todo = todo[1:]
		switch e {
		case "", ".":
			continue
		case "..":
			if len(real) > 0 {
				real = real[:len(real)-1]
				dirs = dirs[:len(dirs)-1]
			}
			continue
		}
		c := dirs[len(dirs)-1].children[e]
		switch {
		case c == nil:
			return nil, ""
		case c.kind == kindSymlink:
			hops++
			if hops > maxHops || c.target == "" {
				return nil, ""
			}
			if strings.HasPrefix(c.target, "/") {
				real, dirs = nil, dirs[:1]
			}
			todo = append(strings.Split(c.target, "/"), todo...)
		case c.kind == kindFile:
			if len(todo) > 0 {
				return nil, "" // a file used as a directory
			}
			return c, path.Join(append(real, e)...)
		default:
			real = append(real, e)
			dirs = append(dirs, c)
		}
	}
	return dirs[len(dirs)-1], path.Join(real...)
}

// match finds every path that matches pattern (split into its elements)
// and that resolves to an extracted file, and records it in out (path →
// file). dir is the real path of the directory the walk is in, seen at
// shown.
func (t *tree) match(pattern []string, dir, shown string, out map[string]*node) {
	at, _ := t.resolve(dir)
	if at == nil || at.kind != kindDir {
		return
	}
	e := pattern[0]
	var names []string
	if !strings.ContainsAny(e, `*?[\`) {
		if at.children[e] != nil {
			names = []string{e}
		}
	} else {
		for name := range at.children {
			if ok, _ := path.Match(e, name); ok {
				names = append(names, name)
			}
		}
	}
	for _, name := range names {
		n, real := t.resolve(path.Join(dir, name))
		if n == nil {
			continue
		}
		where := path.Join(shown, name)
		if len(pattern) == 1 {
			if n.kind == kindFile {
				out[where] = n
			}
			continue
		}
		if n.kind == kindDir {
			t.match(pattern[1:], real, where, out)
		}
	}
}

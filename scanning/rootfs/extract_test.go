package rootfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	debianRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
	dpkgStatus    = "Package: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u1\n\n"
	apkInstalled  = "P:musl\nV:1.2.5-r0\n\n"
)

func TestExtractReadsTarGzipAndZstdLayersAndKeepsOnlyMatchedFiles(t *testing.T) {
	base := &blob{mt: mtGzip, data: gz(t, tarOf(t,
		directory("etc/"), file("etc/os-release", debianRelease), file("etc/passwd", "root:x:0:0"),
		directory("var/lib/dpkg/"), file("var/lib/dpkg/status", "Package: old\n\n"),
		file("usr/bin/ls", strings.Repeat("\x7fELF", 1000)),
	))}
	mid := &blob{mt: mtZstd, data: zst(t, tarOf(t,
		file("var/lib/dpkg/status", dpkgStatus), file("var/lib/dpkg/available", "x"),
	))}
	top := &blob{mt: mtTar, data: tarOf(t,
		file("var/lib/dpkg/status.d/base", "Package: base-files\n\n"),
		file("var/lib/dpkg/status.d/tzdata", "Package: tzdata\n\n"),
		file("app/main.go", "package main"),
	)}
	dir, st, err := extractTo(t, DefaultLimits, []Layer{base.layer(), mid.layer(), top.layer()}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{
		"etc/os-release":               debianRelease,
		"var/lib/dpkg/status":          dpkgStatus,
		"var/lib/dpkg/status.d/base":   "Package: base-files\n\n",
		"var/lib/dpkg/status.d/tzdata": "Package: tzdata\n\n",
	})
	wantBytes := int64(len(debianRelease) + len(dpkgStatus) + len("Package: base-files\n\n") + len("Package: tzdata\n\n"))
	if st != (Stats{Layers: 3, Files: 4, Bytes: wantBytes}) {
		t.Errorf("stats %+v, want 3 layers, 4 files, %d bytes", st, wantBytes)
	}
	for i, b := range []*blob{base, mid, top} {
		if b.opens != 1 || b.closes != 1 {
			t.Errorf("layer %d opened %d and closed %d times, want once each", i, b.opens, b.closes)
		}
	}
}

func TestExtractSniffsCompressionWhateverTheLabelSays(t *testing.T) {
	layer := tarOf(t, file("etc/os-release", debianRelease))
	for _, tc := range []struct {
		name, mt string
		data     []byte
	}{
		{"gzip labelled as tar", mtTar, gz(t, layer)},
		{"zstd labelled as gzip", mtGzip, zst(t, layer)},
		{"plain tar labelled as docker gzip", mtDocker, layer},
		{"gzip labelled as nondistributable zstd", "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", gz(t, layer)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(tc.mt, tc.data)}, osPatterns)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, dir, map[string]string{"etc/os-release": debianRelease})
		})
	}
}

func TestWhiteoutInAnUpperLayerDeletesTheDpkgDatabase(t *testing.T) {
	base := layerOf(mtGzip, gz(t, tarOf(t,
		file("etc/os-release", debianRelease),
		file("var/lib/dpkg/status", dpkgStatus),
		file("var/lib/dpkg/status.d/extra", "Package: extra\n\n"),
	)))
	// rm -rf /var/lib/dpkg in a later build step.
	upper := layerOf(mtGzip, gz(t, tarOf(t, directory("var/lib/"), file("var/lib/.wh.dpkg", ""))))
	dir, _, err := extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease})

	// Whiteouts that name no sibling hide nothing (not their directory).
	upper = layerOf(mtTar, tarOf(t, file("var/lib/dpkg/.wh.", ""), file("var/lib/dpkg/.wh..", ""), file("var/lib/dpkg/.wh...", "")))
	dir, _, err = extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease, "var/lib/dpkg/status": dpkgStatus, "var/lib/dpkg/status.d/extra": "Package: extra\n\n"})

	// A whiteout of the file alone.
	upper = layerOf(mtTar, tarOf(t, file("var/lib/dpkg/.wh.status", "")))
	dir, _, err = extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease, "var/lib/dpkg/status.d/extra": "Package: extra\n\n"})
}

func TestOpaqueDirectoryHidesLowerChildrenAndKeepsItsOwn(t *testing.T) {
	base := layerOf(mtTar, tarOf(t,
		file("var/lib/dpkg/status.d/a", "a"), file("var/lib/dpkg/status.d/b", "b"),
		file("var/lib/dpkg/status.d/sub/c", "c"), file("var/lib/dpkg/status", dpkgStatus),
	))
	// The opaque marker after and before the layer's own file: its order in
	// the tar does not matter.
	for _, entries := range [][]entry{
		{directory("var/lib/dpkg/status.d/"), file("var/lib/dpkg/status.d/c", "new"), file("var/lib/dpkg/status.d/.wh..wh..opq", "")},
		{file("var/lib/dpkg/status.d/.wh..wh..opq", ""), file("var/lib/dpkg/status.d/c", "new")},
	} {
		dir, _, err := extractTo(t, DefaultLimits, []Layer{base, layerOf(mtTar, tarOf(t, entries...))}, osPatterns)
		if err != nil {
			t.Fatal(err)
		}
		wantContents(t, dir, map[string]string{"var/lib/dpkg/status": dpkgStatus, "var/lib/dpkg/status.d/c": "new"})
	}
}

// image-spec layer.md: "Whiteout files MUST only apply to resources in
// lower/parent layers. Files that are present in the same layer as a
// whiteout file can only be hidden by whiteout files in subsequent layers."
func TestWhiteoutAndFileOfTheSameNameInOneLayerKeepsTheFile(t *testing.T) {
	base := layerOf(mtTar, tarOf(t, file("etc/os-release", "old"), file("var/lib/dpkg/status", "old status")))
	for name, entries := range map[string][]entry{
		"whiteout first": {file("etc/.wh.os-release", ""), file("etc/os-release", debianRelease), file("var/lib/.wh.dpkg", ""), file("var/lib/dpkg/status", dpkgStatus)},
		"whiteout last":  {file("etc/os-release", debianRelease), file("etc/.wh.os-release", ""), file("var/lib/dpkg/status", dpkgStatus), file("var/lib/.wh.dpkg", "")},
	} {
		t.Run(name, func(t *testing.T) {
			dir, _, err := extractTo(t, DefaultLimits, []Layer{base, layerOf(mtTar, tarOf(t, entries...))}, osPatterns)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, dir, map[string]string{"etc/os-release": debianRelease, "var/lib/dpkg/status": dpkgStatus})
		})
	}
	// A whiteout in the first layer has nothing below it to hide.
	dir, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(mtTar, tarOf(t, file("etc/os-release", debianRelease), file("etc/.wh.os-release", "")))}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease})
}

func TestUpperLayerEntriesReplaceLowerOnes(t *testing.T) {
	base := layerOf(mtTar, tarOf(t,
		file("usr/lib/os-release", debianRelease), symlink("etc/os-release", "../usr/lib/os-release"),
		file("var/lib/dpkg/status", dpkgStatus),
	))
	upper := layerOf(mtTar, tarOf(t,
		file("etc/os-release", "ID=custom\n"), // a regular file over the symlink
		fifo("var/lib/dpkg/status"),           // something not extracted over an extracted file
	))
	dir, _, err := extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": "ID=custom\n", "usr/lib/os-release": debianRelease})

	// A directory over a file, and a file over a directory.
	base = layerOf(mtTar, tarOf(t, file("var/lib/dpkg/status.d", "not a dir"), file("var/lib/dpkg/status/x", "")))
	upper = layerOf(mtTar, tarOf(t, directory("var/lib/dpkg/status.d/"), file("var/lib/dpkg/status.d/a", "a"), file("var/lib/dpkg/status", dpkgStatus)))
	dir, _, err = extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"var/lib/dpkg/status.d/a": "a", "var/lib/dpkg/status": dpkgStatus})
}

func TestOsReleaseSymlinkYieldsARegularFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		entries  []entry
		want     map[string]string
		patterns []string
	}{
		{"relative, as Debian ships it", []entry{symlink("etc/os-release", "../usr/lib/os-release"), file("usr/lib/os-release", debianRelease)},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"absolute", []entry{symlink("etc/os-release", "/usr/lib/os-release"), file("usr/lib/os-release", debianRelease)},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"a chain", []entry{symlink("etc/os-release", "os-release.d/current"), symlink("etc/os-release.d/current", "/usr/lib/os-release"), file("usr/lib/os-release", debianRelease)},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"through a directory symlink", []entry{symlink("opt", "usr"), file("usr/lib/os-release", debianRelease), symlink("etc/os-release", "../opt/lib/os-release")},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"a target whose real path no pattern asks for", []entry{symlink("usr/lib", "lib64"), file("usr/lib64/os-release", debianRelease), symlink("etc/os-release", "../usr/lib/os-release")},
			map[string]string{}, nil},
		// Merged /usr: the file is at usr/lib/apk/db/installed, and a
		// program opening /lib/apk/db/installed reads it.
		{"a pattern through a directory symlink", []entry{symlink("lib", "usr/lib"), file("usr/lib/apk/db/installed", apkInstalled)},
			map[string]string{"usr/lib/apk/db/installed": apkInstalled, "lib/apk/db/installed": apkInstalled}, append(osPatterns, "usr/lib/apk/db/installed")},
		{"before its target in the tar", []entry{symlink("etc/os-release", "../usr/lib/os-release"), directory("usr/lib/"), file("usr/lib/os-release", debianRelease)},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"dotdot past the root stays in the image", []entry{symlink("etc/os-release", "../../../../usr/lib/os-release"), file("usr/lib/os-release", debianRelease)},
			map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease}, nil},
		{"a loop", []entry{symlink("etc/os-release", "os-release2"), symlink("etc/os-release2", "os-release")}, map[string]string{}, nil},
		{"a self loop through a directory", []entry{symlink("etc", "etc/etc"), file("usr/lib/os-release", debianRelease)}, map[string]string{"usr/lib/os-release": debianRelease}, nil},
		{"dangling", []entry{symlink("etc/os-release", "../usr/lib/os-release")}, map[string]string{}, nil},
		{"to a file no pattern asks for", []entry{symlink("etc/os-release", "../usr/share/os-release"), file("usr/share/os-release", debianRelease)}, map[string]string{}, nil},
		{"to a directory", []entry{symlink("etc/os-release", "/usr"), file("usr/lib/os-release", debianRelease)}, map[string]string{"usr/lib/os-release": debianRelease}, nil},
		{"to a host path", []entry{symlink("etc/os-release", "/etc/hostname")}, map[string]string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patterns := tc.patterns
			if patterns == nil {
				patterns = osPatterns
			}
			dir, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(mtTar, tarOf(t, tc.entries...))}, patterns)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, dir, tc.want)
		})
	}
}

func TestSymlinkInALowerLayerResolvesToAFileInAnUpperOne(t *testing.T) {
	base := layerOf(mtTar, tarOf(t, symlink("etc/os-release", "../usr/lib/os-release"), file("usr/lib/os-release", "ID=old\n")))
	upper := layerOf(mtZstd, zst(t, tarOf(t, file("usr/lib/os-release", debianRelease))))
	dir, _, err := extractTo(t, DefaultLimits, []Layer{base, upper}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease, "usr/lib/os-release": debianRelease})
}

func TestHardlinksToExtractedFiles(t *testing.T) {
	base := layerOf(mtTar, tarOf(t,
		file("usr/lib/os-release", debianRelease),
		hardlink("etc/os-release", "usr/lib/os-release"), // same layer
		file("usr/share/misc/status", dpkgStatus),
		hardlink("var/lib/dpkg/status", "usr/share/misc/status"), // its target was not extracted
		symlink("usr/lib/alpine-db", "/usr/share/apk/installed"),
		file("usr/share/apk/installed", apkInstalled),
	))
	upper := layerOf(mtTar, tarOf(t,
		hardlink("var/lib/dpkg/status.d/os", "usr/lib/os-release"), // a lower layer's file
		hardlink("lib/apk/db/installed", "usr/lib/alpine-db"),      // a link to a symlink is that symlink
	))
	dir, _, err := extractTo(t, DefaultLimits, []Layer{base, upper}, append(osPatterns, "usr/share/apk/installed"))
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{
		"usr/lib/os-release":       debianRelease,
		"etc/os-release":           debianRelease,
		"var/lib/dpkg/status.d/os": debianRelease,
		"lib/apk/db/installed":     apkInstalled,
		"usr/share/apk/installed":  apkInstalled,
	})
}

func TestTraversalNamesNeverWriteOutsideDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	layer := layerOf(mtTar, tarOf(t,
		file("../../etc/os-release", "dotdot"),
		file("/var/lib/dpkg/status", dpkgStatus),
		file("./var/lib/../../../../lib/apk/db/installed", apkInstalled),
		file("../escaped", "x"),
		symlink("usr/lib/os-release", "../../../../../../../etc/hostname"),
		hardlink("var/lib/dpkg/status.d/pw", "../../../../../etc/passwd"),
	))
	st, err := DefaultLimits.Extract(context.Background(), []Layer{layer}, append(osPatterns, "escaped", "*"), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Every name is taken inside the image root, as a chroot would.
	wantContents(t, dir, map[string]string{
		"etc/os-release":       "dotdot",
		"var/lib/dpkg/status":  dpkgStatus,
		"lib/apk/db/installed": apkInstalled,
		"escaped":              "x",
	})
	if st.Files != 4 {
		t.Errorf("stats %+v", st)
	}
	siblings, _ := os.ReadDir(parent)
	if len(siblings) != 1 || siblings[0].Name() != "rootfs" {
		t.Errorf("the directory beside rootfs holds %v, want only rootfs (the staging directory is removed)", siblings)
	}
}

func TestPerFileAndTotalCapsStopTheExtraction(t *testing.T) {
	status := strings.Repeat("Package: x\n\n", 100) // 1,200 bytes
	small := Limits{FileBytes: 1000, TotalBytes: 1 << 20, Entries: 100}
	dir, _, err := extractTo(t, small, []Layer{layerOf(mtGzip, gz(t, tarOf(t, file("etc/os-release", debianRelease), file("var/lib/dpkg/status", status))))}, osPatterns)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "var/lib/dpkg/status is 1200 bytes, over the 1000-byte limit per file") {
		t.Fatalf("per-file cap: %v", err)
	}
	wantContents(t, dir, map[string]string{}) // nothing written

	// A file no pattern matches is never held to the caps.
	if _, _, err := extractTo(t, small, []Layer{layerOf(mtTar, tarOf(t, file("usr/bin/big", status+status)))}, osPatterns); err != nil {
		t.Fatalf("an unmatched large file: %v", err)
	}

	total := Limits{FileBytes: 1000, TotalBytes: 1500, Entries: 100}
	layer := layerOf(mtTar, tarOf(t, file("var/lib/dpkg/status.d/a", status[:800]), file("var/lib/dpkg/status.d/b", status[:800])))
	dir, _, err = extractTo(t, total, []Layer{layer}, osPatterns)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "past the 1500-byte limit") {
		t.Fatalf("total cap: %v", err)
	}
	wantContents(t, dir, map[string]string{})

	// Bytes an upper layer replaces still count: they were staged.
	dir, _, err = extractTo(t, total, []Layer{
		layerOf(mtTar, tarOf(t, file("var/lib/dpkg/status", status[:800]))),
		layerOf(mtTar, tarOf(t, file("var/lib/dpkg/status", status[:800]))),
	}, osPatterns)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("total cap across layers: %v", err)
	}

	entries := Limits{FileBytes: 1000, TotalBytes: 1 << 20, Entries: 3}
	var links []entry
	for _, n := range []string{"a", "b", "c", "d"} {
		links = append(links, symlink("usr/lib/"+n, "x"))
	}
	if _, _, err := extractTo(t, entries, []Layer{layerOf(mtTar, tarOf(t, links...))}, osPatterns); !errors.Is(err, ErrLimit) {
		t.Fatalf("entries cap: %v", err)
	}
}

func TestUnsupportedLayersAreRefused(t *testing.T) {
	xz := append([]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, make([]byte, 64)...)
	bz := append([]byte("BZh91AY&SY"), make([]byte, 64)...)
	for _, tc := range []struct {
		name, mt string
		data     []byte
		want     string
	}{
		{"a Helm chart", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", gz(t, tarOf(t, file("Chart.yaml", ""))), "is not an image layer"},
		{"no media type", "", tarOf(t), "is not an image layer"},
		{"an encrypted layer", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", []byte("x"), "is not an image layer"},
		{"xz content", mtTar, xz, "xz-compressed"},
		{"bzip2 content", mtGzip, bz, "bzip2-compressed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &blob{mt: tc.mt, data: tc.data}
			_, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(mtTar, tarOf(t, file("etc/os-release", debianRelease))), b.layer()}, osPatterns)
			if !errors.Is(err, ErrUnsupportedLayer) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "layer 1") {
				t.Fatalf("err %v, want ErrUnsupportedLayer saying %q about layer 1", err, tc.want)
			}
		})
	}
	// A tar whose first file is named like bzip2's magic is still a tar.
	dir, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(mtTar, tarOf(t, file("BZh9", ""), file("etc/os-release", debianRelease)))}, osPatterns)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"etc/os-release": debianRelease})
}

func TestCorruptLayersFailClearly(t *testing.T) {
	good := gz(t, tarOf(t, file("var/lib/dpkg/status", strings.Repeat(dpkgStatus, 200))))
	for name, data := range map[string][]byte{
		"truncated gzip": good[:len(good)/2],
		"truncated tar":  tarOf(t, file("var/lib/dpkg/status", strings.Repeat(dpkgStatus, 200)))[:3000],
		"not a tar":      bytes.Repeat([]byte("garbage!"), 200),
	} {
		t.Run(name, func(t *testing.T) {
			dir, _, err := extractTo(t, DefaultLimits, []Layer{layerOf(mtGzip, data)}, osPatterns)
			if err == nil || errors.Is(err, ErrUnsupportedLayer) || !strings.Contains(err.Error(), "rootfs: layer 0") {
				t.Fatalf("err %v", err)
			}
			wantContents(t, dir, map[string]string{})
		})
	}
	opened := Layer{MediaType: mtTar, Open: func() (io.ReadCloser, error) { return nil, errors.New("blob gone") }}
	if _, _, err := extractTo(t, DefaultLimits, []Layer{opened}, osPatterns); err == nil || !strings.Contains(err.Error(), "blob gone") {
		t.Fatalf("open error: %v", err)
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestExtractStopsWhenTheContextIsCancelled(t *testing.T) {
	var entries []entry
	for i := range 200 {
		entries = append(entries, file("usr/share/doc/f"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), strings.Repeat("y", 1000)))
	}
	data := tarOf(t, entries...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	layer := Layer{MediaType: mtTar, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(&cancelAfter{r: bytes.NewReader(data), n: 10_000, cancel: cancel}), nil
	}}
	dir := filepath.Join(t.TempDir(), "rootfs")
	os.Mkdir(dir, 0o755)
	if _, err := Extract(ctx, []Layer{layer}, osPatterns, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestExtractNeedsAnEmptyDirAndValidPatterns(t *testing.T) {
	layers := []Layer{layerOf(mtTar, tarOf(t, file("etc/os-release", debianRelease)))}
	for _, p := range []string{"/etc/os-release", "etc/../etc/os-release", "", "etc/", "../etc/passwd", "etc/[", "./etc/os-release"} {
		if _, _, err := extractTo(t, DefaultLimits, layers, []string{p}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := Extract(context.Background(), layers, osPatterns, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a non-empty dir: %v", err)
	}
	if _, err := Extract(context.Background(), layers, osPatterns, filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing dir accepted")
	}
}

func TestWildcardPatternsMatchOneElement(t *testing.T) {
	layer := layerOf(mtTar, tarOf(t,
		file("var/lib/dpkg/status.d/libc6", "c"),
		file("var/lib/dpkg/status.d/libc6.md5sums", "m"),
		file("var/lib/dpkg/status.d/deeper/x", "no"),
	))
	dir, _, err := extractTo(t, DefaultLimits, []Layer{layer}, []string{"var/lib/dpkg/status.d/*", "var/*/dpkg/status.d/*.md5sums"})
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, dir, map[string]string{"var/lib/dpkg/status.d/libc6": "c", "var/lib/dpkg/status.d/libc6.md5sums": "m"})
}

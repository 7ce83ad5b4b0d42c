package rootfs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dpkgDatabase is a status file of n packages, about 1 KiB each as in a
// real one.
func dpkgDatabase(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Package: pkg%d\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\n"+
			"Maintainer: Debian Maintainers <debian@example.org>\nArchitecture: amd64\nVersion: 1.%d.0-1+deb12u1\nDepends: libc6 (>= 2.34)\n"+
			"Description: package number %d\n %s\n\n", i, i*7, i, i, strings.Repeat("long description text ", 35))
	}
	return b.String()
}

// binary is size bytes that compress about as well as executables do.
func binary(r *rand.Rand, size int) string {
	b := make([]byte, size)
	for i := range b {
		if i%4 == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(i % 64)
		}
	}
	return string(b)
}

// benchImage is a 3-layer image: a Debian-like base (gzip) of 2,000 files
// and a 300-package dpkg database, an update layer (zstd) that rewrites the
// database, and an application layer (plain tar) with a whiteout.
func benchImage(b *testing.B) (layers []Layer, uncompressed int64) {
	r := rand.New(rand.NewPCG(1, 2))
	var base []entry
	base = append(base, directory("etc/"), symlink("etc/os-release", "../usr/lib/os-release"), file("usr/lib/os-release", debianRelease))
	for i := range 2000 {
		base = append(base, file(fmt.Sprintf("usr/lib/x86_64-linux-gnu/lib%d.so.1", i), binary(r, 4096+r.IntN(16384))))
		if i%10 == 0 {
			base = append(base, symlink(fmt.Sprintf("usr/lib/x86_64-linux-gnu/lib%d.so", i), fmt.Sprintf("lib%d.so.1", i)))
		}
	}
	base = append(base, file("var/lib/dpkg/status", dpkgDatabase(300)))
	var update []entry
	for i := range 300 {
		update = append(update, file(fmt.Sprintf("usr/share/doc/pkg%d/changelog", i), strings.Repeat("* security fix\n", 200)))
	}
	update = append(update, file("var/lib/dpkg/status", dpkgDatabase(310)))
	app := []entry{file("usr/lib/x86_64-linux-gnu/.wh.lib7.so.1", "")}
	for i := range 200 {
		app = append(app, file(fmt.Sprintf("app/node_modules/m%d/index.js", i), strings.Repeat("module.exports = 1;\n", 100)))
	}
	raw := [][]byte{tarOf(b, base...), tarOf(b, update...), tarOf(b, app...)}
	for _, t := range raw {
		uncompressed += int64(len(t))
	}
	return []Layer{layerOf(mtGzip, gz(b, raw[0])), layerOf(mtZstd, zst(b, raw[1])), layerOf(mtTar, raw[2])}, uncompressed
}

func BenchmarkExtractThreeLayerImage(b *testing.B) {
	layers, size := benchImage(b)
	b.SetBytes(size)
	parent := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		dir := filepath.Join(parent, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		st, err := Extract(context.Background(), layers, osPatterns, dir)
		if err != nil {
			b.Fatal(err)
		}
		if st.Files != 3 {
			b.Fatalf("%+v", st)
		}
		os.RemoveAll(dir)
	}
}

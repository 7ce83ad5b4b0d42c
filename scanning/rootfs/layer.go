package rootfs

import (
	"bufio"
	"bytes"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"io"

	"github.com/klauspost/compress/zstd"
)

// The layer media types Extract accepts (image-spec layer.md and
// go-containerregistry's Docker types). Which decompressor runs is decided
// by the blob's first bytes, not by the label: tools have pushed gzip
// layers labelled as plain tar, and the reverse.
var layerTypes = map[string]bool{
	"application/vnd.oci.image.layer.v1.tar":                       true,
	"application/vnd.oci.image.layer.v1.tar+gzip":                  true,
	"application/vnd.oci.image.layer.v1.tar+zstd":                  true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar":      true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": true,
	"application/vnd.docker.image.rootfs.diff.tar":                 true,
	"application/vnd.docker.image.rootfs.diff.tar.gzip":            true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":    true,
}

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	// "BZh", the block size, then the first block's magic (pi): the three
	// letters alone could begin a tar's first file name.
	magicBzip2 = []byte("BZh")
	bzip2Block = []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}
)

// zstdMaxWindow bounds the memory a zstd stream may make the decoder use:
// 128 MiB covers --long=27, the largest window common tools write.
const zstdMaxWindow = 128 << 20

// tarStream returns the uncompressed tar stream of a layer blob. close
// releases the decompressor (not the blob).
func tarStream(blob io.Reader) (r io.Reader, close func(), err error) {
	br := bufio.NewReaderSize(blob, 64<<10)
	head, _ := br.Peek(10) // a short blob is a short (or empty) tar; tar decides
	switch {
	case bytes.HasPrefix(head, magicGzip):
		// klauspost's gzip (the zstd module's sibling), not compress/gzip:
		// BenchmarkExtractThreeLayerImage took 154-185 ms with it against
		// 201-220 ms, allocating 60% fewer bytes.
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	case bytes.HasPrefix(head, magicXz):
		return nil, nil, fmt.Errorf("%w: xz-compressed layer", ErrUnsupportedLayer)
	case bytes.HasPrefix(head, magicBzip2) && len(head) == 10 && head[3] >= '1' && head[3] <= '9' && bytes.Equal(head[4:], bzip2Block):
		return nil, nil, fmt.Errorf("%w: bzip2-compressed layer", ErrUnsupportedLayer)
	}
	return br, func() {}, nil
}

package benchutil

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestReplaceBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	os.WriteFile(path, []byte("# B\n\n<!-- x:begin -->\nold\n<!-- x:end -->\n\nnotes\n"), 0o644)
	if err := ReplaceBlock(path, "<!-- x:begin -->", "<!-- x:end -->", "<!-- x:begin -->\nnew\n<!-- x:end -->\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "# B\n\n<!-- x:begin -->\nnew\n<!-- x:end -->\n\nnotes\n"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
	if err := ReplaceBlock(path, "<!-- y:begin -->", "<!-- y:end -->", ""); err == nil {
		t.Fatal("no error for a missing block")
	}
}

func TestMinMax(t *testing.T) {
	if lo, hi := MinMax([]float64{3, 1, 2}); lo != 1 || hi != 3 {
		t.Fatalf("got %v %v", lo, hi)
	}
	if lo, hi := MinMax(nil); lo != 0 || hi != 0 {
		t.Fatalf("got %v %v", lo, hi)
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d: %v", port, err)
	}
	ln.Close()
}

package apk

import (
	"slices"
	"strings"
	"testing"
)

// As apk writes it (trimmed): a package, its files and their checksums.
const installed = `C:Q1Yd5ruvYwhzqx8wB3ZRRdvSsgQZw=
P:musl
V:1.2.3-r4
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1667817536
c:f93af038c3de7146121c2ea8124ba5ce29b4b058
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yVeUjHpUD0Ji8TmGd2MsLJ0iOGs=

P:libssl3
V:3.0.7-r0
A:x86_64
o:openssl
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3

P:zlib
V:1.2.13-r0
A:x86_64
`

func TestParseInstalledReadsNameVersionAndOrigin(t *testing.T) {
	pkgs, err := ParseInstalled(strings.NewReader(installed))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "musl", Version: "1.2.3-r4", Origin: "musl"},
		{Name: "libssl3", Version: "3.0.7-r0", Origin: "openssl"},
		{Name: "zlib", Version: "1.2.13-r0", Origin: "zlib"},
	}
	if !slices.Equal(pkgs, want) {
		t.Fatalf("got  %+v\nwant %+v", pkgs, want)
	}
}

func TestParseInstalledRefusesAFileThatIsNotOne(t *testing.T) {
	if _, err := ParseInstalled(strings.NewReader("P:x\nthis is not apk\n")); err == nil {
		t.Fatal("accepted garbage")
	}
	if pkgs, err := ParseInstalled(strings.NewReader("")); err != nil || len(pkgs) != 0 {
		t.Fatalf("empty database: %v %v", pkgs, err)
	}
}

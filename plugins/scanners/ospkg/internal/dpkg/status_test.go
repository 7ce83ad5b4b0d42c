package dpkg

import (
	"slices"
	"strings"
	"testing"
)

const status = `Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6166
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 .
 Internet.

Package: zlib1g
Status: install ok installed
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
Conffiles:
 /etc/zlib.conf 0123456789abcdef0123456789abcdef

Package: old-lib
Status: deinstall ok config-files
Version: 1.0-1

Package: held
Status: hold ok installed
Version: 2.0-1

Package: broken
Status: install reinstreq half-installed
Version: 3.0-1

Package: base-files
Status: install ok installed
Version: 12.4+deb12u5
`

func TestParseStatusReadsInstalledPackagesWithTheirSourcePackage(t *testing.T) {
	pkgs, err := ParseStatus(strings.NewReader(status), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1+b1", Source: "zlib", SourceVersion: "1:1.2.13.dfsg-1"},
		{Name: "held", Version: "2.0-1", Source: "held", SourceVersion: "2.0-1"},
		{Name: "base-files", Version: "12.4+deb12u5", Source: "base-files", SourceVersion: "12.4+deb12u5"},
	}
	if !slices.Equal(pkgs, want) {
		t.Fatalf("got  %+v\nwant %+v", pkgs, want)
	}
}

func TestParseStatusOfADistrolessFileNeedsNoStatusField(t *testing.T) {
	// As `dpkg-deb --field` writes it into var/lib/dpkg/status.d/ (distroless), CRLF and all.
	file := "Package: libc6\r\nVersion: 2.36-9+deb12u4\r\nArchitecture: amd64\r\nSource: glibc\r\n"
	pkgs, err := ParseStatus(strings.NewReader(file), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0] != (Package{Name: "libc6", Version: "2.36-9+deb12u4", Source: "glibc", SourceVersion: "2.36-9+deb12u4"}) {
		t.Fatalf("got %+v", pkgs)
	}
	// The same paragraph in the main status file is not installed without its Status.
	if pkgs, _ := ParseStatus(strings.NewReader(file), false); len(pkgs) != 0 {
		t.Fatalf("a main-status paragraph without Status counted as installed: %+v", pkgs)
	}
	// A status.d file that does say is believed.
	removed := "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
	if pkgs, _ := ParseStatus(strings.NewReader(removed), true); len(pkgs) != 0 {
		t.Fatalf("got %+v", pkgs)
	}
}

func TestParseStatusRefusesAFileThatIsNotOne(t *testing.T) {
	for _, bad := range []string{
		"this is not a dpkg database\n",
		" continuation first\nPackage: x\n",
		"Package: x\n" + strings.Repeat("y", MaxLine+1) + "\n",
	} {
		if _, err := ParseStatus(strings.NewReader(bad), false); err == nil {
			t.Errorf("accepted %q", bad[:min(len(bad), 30)])
		}
	}
	if pkgs, err := ParseStatus(strings.NewReader(""), false); err != nil || len(pkgs) != 0 {
		t.Fatalf("empty file: %v %v", pkgs, err)
	}
}

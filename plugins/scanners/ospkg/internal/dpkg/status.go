// Package dpkg reads Debian's installed-package database and orders Debian versions.
//
// Debian's advisories (and so OSV's Debian and Ubuntu records) are written per source
// package, so a Package carries the source package's name and version beside its own.
package dpkg

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Package is one installed binary package.
type Package struct {
	Name    string
	Version string
	// Source and SourceVersion name the source package it was built from; they equal Name and
	// Version when the paragraph has no Source field, and SourceVersion equals Version when
	// Source gives no version in parentheses.
	Source        string
	SourceVersion string
}

// MaxLine bounds one line of a status file; real ones are under a few KiB (long Description
// or Conffiles lines), so a longer one means the file is not a dpkg database.
const MaxLine = 1 << 20

// ParseStatus reads the paragraphs of a dpkg status file (var/lib/dpkg/status) or of one
// distroless status.d file, and returns the installed packages in file order.
//
// A paragraph is installed when its Status field's last word is "installed" ("install ok
// installed", or "hold ok installed" for a held package); removed packages whose
// configuration files remain ("deinstall ok config-files") and half-installed ones are not.
// distroless writes status.d files with `dpkg-deb --field`, which has no Status field, so
// when statusOptional is set a paragraph without one counts as installed.
func ParseStatus(r io.Reader, statusOptional bool) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	var pkgs []Package
	fields := map[string]string{}
	last := ""
	flush := func() {
		defer clear(fields)
		name := fields["package"]
		version := fields["version"]
		if name == "" || version == "" {
			return
		}
		status, hasStatus := fields["status"]
		if hasStatus || !statusOptional {
			words := strings.Fields(status)
			if len(words) != 3 || words[2] != "installed" {
				return
			}
		}
		p := Package{Name: name, Version: version, Source: name, SourceVersion: version}
		if src := fields["source"]; src != "" {
			p.Source, p.SourceVersion = parseSource(src, version)
		}
		pkgs = append(pkgs, p)
	}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			flush()
			last = ""
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			// A continuation line belongs to the field before it; the fields read here are
			// single-line, so it only needs to be skipped.
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line outside a field", line)
			}
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: %q is neither a field nor a continuation line", line, head(text))
		}
		last = strings.ToLower(strings.TrimSpace(key))
		fields[last] = strings.TrimSpace(value)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	flush()
	return pkgs, nil
}

// parseSource reads a Source field: "name" or "name (version)", the version being the source
// version when a binary package's own differs (a binNMU's "+b1", or a separately versioned
// binary package).
func parseSource(field, version string) (name, sourceVersion string) {
	name, rest, found := strings.Cut(field, " ")
	if !found {
		return name, version
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		if v := strings.TrimSpace(rest[1 : len(rest)-1]); v != "" {
			return name, v
		}
	}
	return name, version
}

func head(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

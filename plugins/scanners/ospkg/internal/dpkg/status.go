// Package dpkg reads Debian's installed-package database and orders Debian versions.
//
// Debian's advisories (and so OSV's Debian and Ubuntu records) are written per source
// package, so a Package carries the source package's name and version beside its own.
package dpkg

import (
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
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var pkgs []Package
	var name, version, source, status string
	hasStatus, inField := false, false
	flush := func() {
		if name != "" && version != "" && (hasStatus || !statusOptional) && !installed(status) {
			name = ""
		}
		if name != "" && version != "" {
			p := Package{Name: name, Version: version, Source: name, SourceVersion: version}
			if source != "" {
				p.Source, p.SourceVersion = parseSource(source, version)
			}
			pkgs = append(pkgs, p)
		}
		name, version, source, status, hasStatus, inField = "", "", "", "", false, false
	}
	text := string(data)
	for n := 1; text != ""; n++ {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		if len(line) > MaxLine {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n, MaxLine)
		}
		line = strings.TrimSuffix(line, "\r")
		if isBlank(line) {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			// A continuation line belongs to the field before it; the fields read here are
			// single-line, so it only needs to be skipped.
			if !inField {
				return nil, fmt.Errorf("line %d: continuation line outside a field", n)
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("line %d: %q is neither a field nor a continuation line", n, head(line))
		}
		inField = true
		value := strings.TrimSpace(line[colon+1:])
		// Field names are case-insensitive; dpkg writes them capitalised.
		switch key := line[:colon]; {
		case key == "Package" || len(key) == 7 && strings.EqualFold(key, "package"):
			name = value
		case key == "Version" || len(key) == 7 && strings.EqualFold(key, "version"):
			version = value
		case key == "Source" || len(key) == 6 && strings.EqualFold(key, "source"):
			source = value
		case key == "Status" || len(key) == 6 && strings.EqualFold(key, "status"):
			status, hasStatus = value, true
		}
	}
	flush()
	return pkgs, nil
}

// installed reports whether a Status field ("want flag status") says the package is
// installed: its last word is "installed" ("install ok installed", "hold ok installed").
func installed(status string) bool {
	want, rest, ok := strings.Cut(status, " ")
	if !ok || want == "" {
		return false
	}
	flag, state, ok := strings.Cut(strings.TrimLeft(rest, " "), " ")
	return ok && flag != "" && strings.TrimSpace(state) == "installed"
}

func isBlank(line string) bool {
	for i := 0; i < len(line); i++ {
		if line[i] != ' ' && line[i] != '\t' {
			return false
		}
	}
	return true
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

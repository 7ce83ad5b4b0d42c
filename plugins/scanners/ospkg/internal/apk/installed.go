// Package apk reads Alpine's installed-package database and orders Alpine versions.
//
// Alpine's security database, and OSV's Alpine records converted from it, name source
// packages (an APKBUILD's pkgname), which an installed package records as its origin.
package apk

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Package is one installed package.
type Package struct {
	Name    string
	Version string
	// Origin is the source package it was built from; Name when the entry has no o: line.
	Origin string
}

// MaxLine bounds one line of the database.
const MaxLine = 1 << 20

// ParseInstalled reads lib/apk/db/installed: entries separated by blank lines, each line a
// one-letter key, a colon and a value (P: name, V: version, o: origin, and others ignored).
func ParseInstalled(r io.Reader) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	var pkgs []Package
	var cur Package
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			if cur.Origin == "" {
				cur.Origin = cur.Name
			}
			pkgs = append(pkgs, cur)
		}
		cur = Package{}
	}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			flush()
			continue
		}
		if len(text) < 2 || text[1] != ':' {
			return nil, fmt.Errorf("line %d: %q is not a key:value line", line, head(text))
		}
		switch value := text[2:]; text[0] {
		case 'P':
			cur.Name = value
		case 'V':
			cur.Version = value
		case 'o':
			cur.Origin = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	flush()
	return pkgs, nil
}

func head(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

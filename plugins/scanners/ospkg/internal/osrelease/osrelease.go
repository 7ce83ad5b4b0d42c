// Package osrelease identifies an image's distribution from os-release(5) and names the OSV
// ecosystem its packages' advisories are filed under.
package osrelease

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

// Paths are where os-release(5) may be, in order: /etc/os-release wins, /usr/lib/os-release
// is the fallback (often the target of /etc/os-release, a symlink).
var Paths = []string{"etc/os-release", "usr/lib/os-release"}

// Release is the part of os-release this scanner uses.
type Release struct {
	ID        string
	VersionID string
	IDLike    []string
}

// Read finds and parses the image's os-release; fs.ErrNotExist when there is none.
func Read(fsys fs.FS) (Release, error) {
	for _, p := range Paths {
		data, err := fs.ReadFile(fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Release{}, err
		}
		return Parse(data)
	}
	return Release{}, fs.ErrNotExist
}

// Parse reads os-release's shell-like KEY=value lines: comments, blank lines, values bare or
// in double or single quotes with backslash escapes in double quotes.
func Parse(data []byte) (Release, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return Release{}, fmt.Errorf("os-release line %d: %q is not KEY=value", n, line)
		}
		value, err := unquote(raw)
		if err != nil {
			return Release{}, fmt.Errorf("os-release line %d: %w", n, err)
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return Release{}, err
	}
	return Release{
		ID:        strings.ToLower(vars["ID"]),
		VersionID: vars["VERSION_ID"],
		IDLike:    strings.Fields(strings.ToLower(vars["ID_LIKE"])),
	}, nil
}

func unquote(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	switch q := raw[0]; q {
	case '\'':
		if len(raw) < 2 || raw[len(raw)-1] != '\'' {
			return "", fmt.Errorf("unterminated quote in %q", raw)
		}
		return raw[1 : len(raw)-1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(raw); i++ {
			c := raw[i]
			switch {
			case c == '\\' && i+1 < len(raw):
				i++
				b.WriteByte(raw[i])
			case c == '"':
				if i != len(raw)-1 {
					return "", fmt.Errorf("text after the closing quote in %q", raw)
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unterminated quote in %q", raw)
	}
	return raw, nil
}

// PackageManager is the package database a distribution keeps.
type PackageManager string

const (
	Dpkg PackageManager = "dpkg"
	Apk  PackageManager = "apk"
)

// Distro is a recognised distribution: its release, its OSV ecosystem and its package manager.
type Distro struct {
	// ID and VersionID are os-release's (for a derivative recognised through ID_LIKE, the
	// derivative's own).
	ID        string
	VersionID string
	// Ecosystem is the OSV ecosystem of the release: "Debian:12", "Ubuntu:22.04:LTS",
	// "Alpine:v3.20" (ossf/osv-schema ecosystems.json: Debian's release is its numeric version;
	// Ubuntu's is YY.MM with a mandatory ":LTS" suffix for LTS releases; Alpine's must be
	// ":v<major>.<minor>").
	Ecosystem      string
	PackageManager PackageManager
}

var (
	debianVersion = regexp.MustCompile(`^[1-9][0-9]*$`)
	ubuntuVersion = regexp.MustCompile(`^([0-9]{2})\.(04|10)$`)
	alpineVersion = regexp.MustCompile(`^([0-9]+)\.([0-9]+)(\.[0-9]+)?([._][0-9a-z_]+)?$`)
)

// Distro names the release's ecosystem, or reports false when the distribution, or its
// release, is not one this scanner knows. A derivative (ID_LIKE) is recognised when its
// VERSION_ID is also a valid release of the distribution it is like: Pop!_OS 22.04 is
// Ubuntu 22.04, Linux Mint 21.2 is no Ubuntu release. A release without VERSION_ID (Debian
// testing or unstable) has no ecosystem: OSV files advisories per release.
func (r Release) Distro() (Distro, bool) {
	for _, id := range append([]string{r.ID}, r.IDLike...) {
		if eco, pm, ok := ecosystem(id, r.VersionID); ok {
			return Distro{ID: r.ID, VersionID: r.VersionID, Ecosystem: eco, PackageManager: pm}, true
		}
	}
	return Distro{}, false
}

func ecosystem(id, versionID string) (string, PackageManager, bool) {
	switch id {
	case "debian":
		if debianVersion.MatchString(versionID) {
			return "Debian:" + versionID, Dpkg, true
		}
	case "ubuntu":
		if m := ubuntuVersion.FindStringSubmatch(versionID); m != nil {
			year, _ := strconv.Atoi(m[1])
			// LTS releases are the April ones of even years (6.06 LTS aside, long gone).
			if year%2 == 0 && m[2] == "04" {
				return "Ubuntu:" + versionID + ":LTS", Dpkg, true
			}
			return "Ubuntu:" + versionID, Dpkg, true
		}
	case "alpine":
		if m := alpineVersion.FindStringSubmatch(versionID); m != nil {
			return "Alpine:v" + m[1] + "." + m[2], Apk, true
		}
	}
	return "", "", false
}

// Command scanner-banned-packages is an example berth scanner plugin: it
// reads the image's package databases (Debian and Ubuntu's dpkg, Alpine's
// apk) and reports a finding for every installed package on the banned list
// below. It shows the whole scanner ABI: the request berth sends, the files
// it mounts, and the response it expects (plugins/ABI.md).
//
// Build it with one command, from the repository's root:
//
//	GOOS=wasip1 GOARCH=wasm go build -o plugins/scanner-banned-packages.wasm ./examples/scanner-banned-packages
//
// then copy scanner-banned-packages.json beside the .wasm and start berth
// with --plugins-dir plugins.
package main

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/berth-dev/berth/plugins/sdk"
)

// banned are the packages this plugin reports, with why and how severely.
var banned = map[string]struct {
	why      string
	severity string
}{
	"telnetd":            {"telnetd serves logins in clear text; use SSH.", "HIGH"},
	"busybox-extras":     {"busybox-extras provides telnetd and other clear-text servers.", "MEDIUM"},
	"rsh-server":         {"rsh-server accepts logins without encryption.", "HIGH"},
	"netcat-traditional": {"netcat-traditional can run a shell for anyone who connects (-e).", "MEDIUM"},
	"tcpdump":            {"a packet sniffer has no place in a production image.", "LOW"},
}

// input is the scanner request's input: which image, and where berth
// mounted its files (read-only, only the paths the manifest asks for).
type input struct {
	Image struct {
		Repository string `json:"repository"`
		Digest     string `json:"digest"`
	} `json:"image"`
	Rootfs string `json:"rootfs"`
}

// output is the scanner response's output.
type output struct {
	Status      string    `json:"status"`
	Description string    `json:"description,omitempty"`
	Packages    int       `json:"packages"`
	Findings    []finding `json:"findings"`
}

type finding struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Severity    string      `json:"severity"`
	Attributes  []attribute `json:"attributes"`
}

type attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type pkg struct{ name, version string }

func main() {
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		var in input
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		pkgs, found, err := installed(in.Rootfs)
		if err != nil {
			return sdk.Response{}, err
		}
		if !found {
			// ECR's words for an image whose package manager it cannot read.
			return sdk.Output(output{Status: "UNSUPPORTED_IMAGE", Description: "The operating system and/or package manager are not supported."})
		}
		out := output{Status: "COMPLETE", Packages: len(pkgs), Findings: []finding{}}
		for _, p := range pkgs {
			if b, ok := banned[p.name]; ok {
				out.Findings = append(out.Findings, finding{Name: "BANNED-" + p.name, Description: b.why, Severity: b.severity,
					Attributes: []attribute{{"package_name", p.name}, {"package_version", p.version}}})
			}
		}
		return sdk.Output(out)
	})
}

// installed reads every package database the image has; found is false when
// it has none.
func installed(root string) (pkgs []pkg, found bool, err error) {
	for _, db := range []struct {
		file  string
		parse func(string) ([]pkg, error)
	}{
		{"var/lib/dpkg/status", dpkgStatus},
		{"lib/apk/db/installed", apkInstalled},
	} {
		p, err := db.parse(path.Join(root, db.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		pkgs, found = append(pkgs, p...), true
	}
	// Distroless images have no status file, one file per package instead.
	extra, _ := fs.Glob(os.DirFS(root), "var/lib/dpkg/status.d/*")
	sort.Strings(extra)
	for _, f := range extra {
		p, err := dpkgStatus(path.Join(root, f))
		if err != nil {
			return nil, false, err
		}
		pkgs, found = append(pkgs, p...), true
	}
	return pkgs, found, nil
}

// dpkgStatus reads dpkg's status file: paragraphs of "Field: value" lines.
// A package counts when it is installed ("Status: install ok installed");
// status.d files have no Status field and list installed packages only.
func dpkgStatus(file string) ([]pkg, error) {
	var out []pkg
	var p pkg
	installed := true
	flush := func() {
		if p.name != "" && installed {
			out = append(out, p)
		}
		p, installed = pkg{}, true
	}
	err := lines(file, func(line string) {
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch {
		case line == "":
			flush()
		case key == "Package":
			p.name = value
		case key == "Version":
			p.version = value
		case key == "Status":
			installed = strings.HasSuffix(value, " installed")
		}
	})
	flush()
	return out, err
}

// apkInstalled reads apk's database: "P:name" and "V:version" lines, one
// paragraph per package.
func apkInstalled(file string) ([]pkg, error) {
	var out []pkg
	var p pkg
	flush := func() {
		if p.name != "" {
			out = append(out, p)
		}
		p = pkg{}
	}
	err := lines(file, func(line string) {
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "P:"):
			p.name = line[2:]
		case strings.HasPrefix(line, "V:"):
			p.version = line[2:]
		}
	})
	flush()
	return out, err
}

func lines(file string, fn func(string)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
	return sc.Err()
}

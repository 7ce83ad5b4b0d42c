package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/scanning/osvdb"
)

func scanDBUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  berth scan-db fetch --dir DIR --ecosystem E [--ecosystem E ...] [--source URL]
        download OSV's advisories of each ecosystem (e.g. Debian:12, Alpine:v3.20,
        Ubuntu:22.04:LTS) into DIR/<ecosystem>/, the directory berth serve --scan-db reads.
        OSV exports releases only inside their main ecosystem's archive, so Debian:12
        is downloaded as <source>/Debian/all.zip (once per --ecosystem) and only the
        advisories with a Debian:12 package are kept; a name without ':' keeps all
`)
}

func scanDBCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		scanDBUsage(stderr)
		return errors.New("missing scan-db command")
	}
	switch args[0] {
	case "fetch":
		return scanDBFetch(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		scanDBUsage(stdout)
		return nil
	}
	scanDBUsage(stderr)
	return fmt.Errorf("unknown scan-db command %q", args[0])
}

func scanDBFetch(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan-db fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", env("SCAN_DB", ""), "the advisory directory; each ecosystem's files replace those in DIR/<ecosystem>/ (required; BERTH_SCAN_DB)")
	source := fs.String("source", osvdb.DefaultSource, "where <source>/<main ecosystem>/all.zip is downloaded from (Debian for Debian:12)")
	var ecosystems listFlag
	fs.Var(&ecosystems, "ecosystem", "an OSV ecosystem, spelled as OSV does, e.g. Debian:12 or Alpine:v3.20 (repeatable; at least one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("scan-db fetch takes no arguments, got %q", fs.Args())
	case *dir == "":
		return errors.New("scan-db fetch needs --dir (or BERTH_SCAN_DB)")
	case len(ecosystems) == 0:
		return errors.New("scan-db fetch needs at least one --ecosystem, e.g. --ecosystem Debian:12")
	}
	for _, e := range ecosystems {
		if err := osvdb.CheckEcosystem(e); err != nil {
			return fmt.Errorf("--ecosystem: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := osvdb.Fetcher{Source: *source}
	// Every ecosystem is tried; one that fails keeps its previous files.
	var errs []error
	for _, e := range ecosystems {
		got, err := f.Fetch(ctx, *dir, e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		noun := "advisories"
		if got.Files == 1 {
			noun = "advisory"
		}
		left := ""
		if got.Skipped > 0 {
			left = fmt.Sprintf("; %d not in %s left out", got.Skipped, e)
		}
		fmt.Fprintf(stdout, "%s: %d %s (%.1f MB, from %s%s) in %s\n", e, got.Files, noun, float64(got.Bytes)/1e6, got.URL, left, got.Dir)
	}
	return errors.Join(errs...)
}

// Command wasmbuild writes a built-in plugin's committed module: `wasmbuild -o OUT PKG`
// (see package wasmbuild).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-dev/berth/plugins/internal/wasmbuild"
)

func main() {
	out := flag.String("o", "", "where to write the module")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasmbuild -o OUT.wasm IMPORT-PATH")
		os.Exit(2)
	}
	if err := wasmbuild.Build(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

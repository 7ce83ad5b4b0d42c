// Command misbehave is the deliberately bad test plugin. It reads the mode from its stdin (raw,
// without the SDK, so nothing tidies up after it) and misbehaves that way. One program with
// modes rather than one per fault, because each Go Wasm module costs the tests a compile.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

var sink [][]byte

func main() {
	// Loaded under a name ending in "warm-loop", it never finishes preparing when started ahead
	// of its call (argv[1] "--warm", plugins/ABI.md).
	if len(os.Args) > 1 && os.Args[1] == "--warm" && strings.HasSuffix(os.Args[0], "warm-loop") {
		for {
		}
	}
	var req struct {
		Input struct {
			Mode string `json:"mode"`
		} `json:"input"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	switch req.Input.Mode {
	case "panic":
		var m map[string]int
		m["crash"] = 1 // assignment to a nil map panics
	case "loop":
		for {
		}
	case "allocate":
		// Keep every allocation reachable so the collector cannot free any.
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "garbage":
		fmt.Print("this is not JSON\n")
	case "flood":
		line := strings.Repeat("{", 1023) + "\n"
		for {
			fmt.Print(line)
		}
	case "wrong-abi":
		fmt.Print(`{"abi":99,"output":{}}`)
	case "exit-7":
		fmt.Fprintln(os.Stderr, "giving up")
		os.Exit(7)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", req.Input.Mode)
		os.Exit(1)
	}
}

// Command good is the well-behaved test plugin: it greets the name in its input, logs a line to
// stderr, and when asked reads a file from the directory the host mounted for the call.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/plugins/sdk"
)

type input struct {
	Name     string `json:"name"`
	ReadFile string `json:"read_file,omitempty"`
	// WriteFile is a path the plugin tries to create, to show mounts are read-only.
	WriteFile string `json:"write_file,omitempty"`
}

type output struct {
	Greeting  string `json:"greeting"`
	File      string `json:"file,omitempty"`
	WriteErr  string `json:"write_error,omitempty"`
	WriteDone bool   `json:"write_done,omitempty"`
	// Calls counts the calls this instance has served: always 1 when every call gets a fresh one.
	Calls int `json:"calls"`
	// Warm is sdk.Warm(): whether the host started this instance ahead of its call.
	Warm bool `json:"warm"`
}

var calls int

func main() {
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		var in input
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		fmt.Fprintf(os.Stderr, "greeting %s\n", in.Name)
		calls++
		out := output{Greeting: "hello " + in.Name, Calls: calls, Warm: sdk.Warm()}
		if in.ReadFile != "" {
			data, err := os.ReadFile(in.ReadFile)
			if err != nil {
				return sdk.Response{}, err
			}
			out.File = string(data)
		}
		if in.WriteFile != "" {
			if err := os.WriteFile(in.WriteFile, []byte("x"), 0o644); err != nil {
				out.WriteErr = err.Error()
			} else {
				out.WriteDone = true
			}
		}
		return sdk.Output(out)
	})
}

// Command plugin-hello is the smallest berth plugin: it answers {"name": N} with
// {"greeting": "hello N"}. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o plugin-hello.wasm ./examples/plugin-hello
//
// and put plugin-hello.wasm beside plugin-hello.json in the plugins directory.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/berth-dev/berth/plugins/sdk"
)

type input struct {
	Name string `json:"name"`
}

type output struct {
	Greeting string `json:"greeting"`
}

func main() {
	// stderr is the plugin's log: berth forwards each line to its own log with the plugin's name.
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		var in input
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		if in.Name == "" {
			return sdk.Response{}, fmt.Errorf("input has no name")
		}
		log.Info("greeting", "name", in.Name)
		return sdk.Output(output{Greeting: "hello " + in.Name})
	})
}

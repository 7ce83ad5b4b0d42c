// Command scripted is the scanning tests' scanner plugin: what it does is
// written in the image it scans, in etc/berth-script.json, keyed by the name
// it was loaded under (its argv[0]), so one module plays several scanners:
//
//	{"a": {"output": {...}}, "b": {"fault": "panic"}}
//
// "output" is returned as the response's output, verbatim; "fault" is
// panic, loop, allocate or garbage. Without a script it reports
// UNSUPPORTED_IMAGE, as a scanner does for an image it cannot read.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"

	"github.com/berth-dev/berth/plugins/sdk"
)

var sink [][]byte

type step struct {
	Output json.RawMessage `json:"output"`
	Fault  string          `json:"fault"`
}

func main() {
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		var in struct {
			Rootfs string `json:"rootfs"`
			DB     string `json:"db"`
		}
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		b, err := os.ReadFile(path.Join(in.Rootfs, "etc/berth-script.json"))
		if os.IsNotExist(err) {
			return sdk.Output(map[string]any{"status": "UNSUPPORTED_IMAGE", "description": "no script in this image"})
		}
		if err != nil {
			return sdk.Response{}, err
		}
		var script map[string]step
		if err := json.Unmarshal(b, &script); err != nil {
			return sdk.Response{}, err
		}
		st := script[os.Args[0]]
		switch st.Fault {
		case "":
		case "panic":
			var m map[string]int
			m["crash"] = 1
		case "loop":
			for {
			}
		case "allocate":
			for {
				sink = append(sink, make([]byte, 1<<20))
			}
		case "garbage":
			fmt.Print("this is not JSON\n")
			os.Exit(0)
		case "db":
			// Report what the advisory database mount holds.
			entries, err := os.ReadDir(in.DB)
			if err != nil {
				return sdk.Response{}, err
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return sdk.Output(map[string]any{"status": "COMPLETE", "description": fmt.Sprint("db holds ", names), "findings": []any{}})
		default:
			return sdk.Response{}, fmt.Errorf("unknown fault %q", st.Fault)
		}
		return sdk.Response{ABI: sdk.ABIVersion, Output: st.Output}, nil
	})
}

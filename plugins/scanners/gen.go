package scanners

//go:generate go run ../internal/wasmbuild/cmd/wasmbuild -o ospkg.wasm github.com/berth-dev/berth/plugins/scanners/ospkg

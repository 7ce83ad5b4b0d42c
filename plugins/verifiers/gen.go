package verifiers

//go:generate go run ../internal/wasmbuild/cmd/wasmbuild -o cosignverify.wasm github.com/berth-dev/berth/plugins/verifiers/cosignverify

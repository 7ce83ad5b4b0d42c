package verifiers

//go:generate go run ./internal/build -o cosignverify.wasm

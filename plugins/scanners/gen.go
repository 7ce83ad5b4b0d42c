package scanners

//go:generate go run ./internal/build -o ospkg.wasm

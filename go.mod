module github.com/berth-dev/berth

go 1.26.8

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/opencontainers/go-digest v1.0.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/goccy/go-yaml v1.18.0 // indirect
	github.com/opencontainers/distribution-spec/conformance v0.0.0-20260831232431-97274622c111 // indirect
	github.com/opencontainers/distribution-spec/specs-go v0.0.0-20240926185104-8376368dd8aa // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

tool github.com/opencontainers/distribution-spec/conformance

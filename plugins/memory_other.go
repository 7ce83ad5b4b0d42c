//go:build !linux

package plugins

import "context"

// withLinearMemory keeps wazero's default linear memory where berth maps none of its own.
func withLinearMemory(ctx context.Context) context.Context { return ctx }

package plugins

import "testing"

// Both linear memories grow up to their bound and refuse past it, keeping what was written.
func TestLinearMemoryGrowsToItsBoundAndNoFurther(t *testing.T) {
	const page = 64 << 10
	for name, mem := range map[string]interface {
		Reallocate(uint64) []byte
		Free()
	}{
		"mapped": mapLinearMemory(page, 16*page),
		"slice":  &sliceMemory{max: 16 * page},
	} {
		t.Run(name, func(t *testing.T) {
			defer mem.Free()
			b := mem.Reallocate(page)
			if len(b) != page {
				t.Fatalf("first length %d", len(b))
			}
			b[page-1] = 7
			b = mem.Reallocate(16 * page)
			if len(b) != 16*page || b[page-1] != 7 || b[16*page-1] != 0 {
				t.Fatalf("grown to %d, kept %d", len(b), b[page-1])
			}
			if mem.Reallocate(17*page) != nil {
				t.Fatal("grew past the bound")
			}
		})
	}
}

package kv

// NewMemColliding is NewMem with keys hashed into only n values (a power
// of two), so that most keys share their hash with others.
func NewMemColliding(n uint64) *Mem {
	m := NewMem()
	m.hashMask = n - 1
	return m
}

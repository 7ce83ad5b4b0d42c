package last

import (
	"sync"
	"testing"
)

func TestOneAnswersOnlyForTheKeyStoredLast(t *testing.T) {
	var o One[string, int]
	if _, ok := o.Get(""); ok {
		t.Fatal("the zero One answered for the zero key")
	}
	o.Set("a", 1)
	if v, ok := o.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
	o.Set("b", 2)
	if _, ok := o.Get("a"); ok {
		t.Fatal("Get(a) answered after b was stored")
	}
	if v, ok := o.Get("b"); !ok || v != 2 {
		t.Fatalf("Get(b) = %d, %v; want 2, true", v, ok)
	}
}

// Readers racing a writer see each key with its own value, never another's.
func TestOneNeverPairsAKeyWithAnotherKeysValue(t *testing.T) {
	type key struct {
		name string
		n    int
	}
	var o One[key, int]
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10000 {
			o.Set(key{"k", i % 7}, i%7)
		}
	}()
	for i := range 10000 {
		if v, ok := o.Get(key{"k", i % 7}); ok && v != i%7 {
			t.Fatalf("key %d answered with %d", i%7, v)
		}
	}
	wg.Wait()
}

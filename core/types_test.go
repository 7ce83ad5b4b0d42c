package core

import (
	"context"
	"testing"
)

// The caller attached to a context is found under every context derived
// from it, and the context still cancels, and carries values, as its parent.
func TestCallerTravelsWithDerivedContexts(t *testing.T) {
	type other struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), other{}, "v"))
	c := Caller{Registry: RegistryID{Account: "111111111111", Region: "us-east-1"}, Principal: RootPrincipal("111111111111"), SourceIP: "10.0.0.1"}
	ctx := WithCaller(parent, c)
	child, stop := context.WithCancel(WithCause(ctx, CauseReplication))
	defer stop()
	for name, x := range map[string]context.Context{"itself": ctx, "derived": child, "without cancel": context.WithoutCancel(child)} {
		if got := CallerFrom(x); got != c {
			t.Errorf("%s: CallerFrom = %+v, want %+v", name, got, c)
		}
		if x.Value(other{}) != "v" {
			t.Errorf("%s: a parent's value is lost", name)
		}
	}
	if got := CallerFrom(context.Background()); got != (Caller{}) {
		t.Errorf("no caller: %+v", got)
	}
	cancel()
	<-child.Done()
	if ctx.Err() == nil {
		t.Error("the parent's cancellation did not reach the caller's context")
	}
}

// Package coretest is the fixture that berth's feature packages (lifecycle,
// replication, scanning, signing, …) use to test themselves against core: a
// real core.Registry over each store configuration, a manual clock, and
// helpers that push blobs, images, indexes and referrers in one line each.
// It is the public counterpart of core's own test harness (which core's
// internal tests keep, since they cannot import this package).
//
// # Store configurations
//
// Each runs a test once per store configuration, as a subtest named after it:
//
//	mem   kv.NewMem and blob.NewMem
//	disk  kv.OpenBolt and blob.NewFS in the test's temporary directory
//
// A behaviour that holds on one and not the other is a bug in a store or in
// core, so feature tests run on both. New builds one fixture for one
// configuration when a test needs only that.
//
// # The fixture
//
// A Fixture holds the Registry (built with core.Open, as berth's server does),
// its stores and its clock: a core.ManualClock stopped at Start, which the
// registry and every helper share. Time moves only when the test advances it,
// firing the timers that fall due (periodic work started with core.Every,
// subscriber retries, the batched write of pull times).
//
// The helpers act as the root of the registry's account (AsRoot), fail the
// test on any error and report it at the caller's line. They use the *testing.T
// the fixture was built with, so call them from that test's goroutine, not
// from a subtest of it or from a subscriber.
//
// Restart closes the Registry and builds a new one over the same stores (the
// bolt file and the blob directory reopened from disk), as a process restart
// would; Wire installs a feature so that it is installed again on the new
// Registry. Wait returns once every subscriber has handled every event so far.
//
// # A feature's test
//
// A feature package wires itself in and drives core through the helpers:
//
//	func TestExpiresUntaggedImages(t *testing.T) {
//		coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
//			reg := coretest.RegA
//			f.Wire(func(r *core.Registry) (stop func()) { _, stop := lifecycle.Start(r, 0, nil); return stop })
//			f.CreateRepository(reg, "app")
//			old := f.PushImage(reg, "app", "", "old") // untagged
//			f.Clock.Advance(15 * 24 * time.Hour)
//			f.PushImage(reg, "app", "v2", "new")
//			f.Wait()
//			for _, img := range f.Images(reg, "app") {
//				if img.Digest == old.Digest {
//					t.Fatalf("the untagged image pushed 15 days ago is still there")
//				}
//			}
//		})
//	}
//
// Options set the core.Options a feature depends on (CreateOnPush, Templates,
// Upstream, Authorizer, or any other field through Core):
//
//	coretest.EachWith(t, coretest.Options{Upstream: fake}, func(t *testing.T, f *coretest.Fixture) { … })
package coretest

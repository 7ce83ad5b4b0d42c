package core

import (
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Settings remembers its reads until the next write: a read after
// UpdateSettings or Reset returned sees what they wrote, never the
// remembered settings from before.
func TestSettingsReadAfterAWriteSeesIt(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		regB := RegistryID{Account: "222222222222", Region: "us-east-1"}
		for i := range 5 {
			for _, reg := range []RegistryID{regA, regB} {
				before, err := f.r.Settings(bg, reg)
				must(t, err, "Settings")
				if again, _ := f.r.Settings(bg, reg); !reflect.DeepEqual(before, again) {
					t.Fatalf("read %+v, then %+v", before, again)
				}
				want := reg.Account + "/" + strconv.Itoa(i)
				_, err = f.r.UpdateSettings(bg, reg, func(s *RegistrySettings) error {
					s.Policy = want
					s.Scanning = &ScanningConfig{ScanType: "BASIC", Rules: []ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", Filters: []string{want}}}}
					return nil
				})
				must(t, err, "UpdateSettings")
				got, err := f.r.Settings(bg, reg)
				must(t, err, "Settings")
				if got.Policy != want || got.Scanning.Rules[0].Filters[0] != want {
					t.Fatalf("after writing %q, read %+v", want, got)
				}
			}
		}
		must(t, f.r.Reset(bg), "Reset")
		if got, _ := f.r.Settings(bg, regA); !reflect.DeepEqual(got, RegistrySettings{}) {
			t.Fatalf("after Reset, read %+v", got)
		}
	})
}

// What Settings hands out is the caller's own: changing it changes neither
// the store nor what the next read returns.
func TestSettingsAreTheCallersToChange(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, err := f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
			s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
			s.PullTimeExclusions = []string{"arn:aws:iam::111111111111:root"}
			s.Scanning = &ScanningConfig{ScanType: "BASIC", Rules: []ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", Filters: []string{"*"}}}}
			return nil
		})
		must(t, err, "UpdateSettings")
		for range 2 { // the first read fills the cache, the second is answered from it
			s, err := f.r.Settings(bg, regA)
			must(t, err, "Settings")
			s.Account["BLOB_MOUNTING"] = "DISABLED"
			s.PullTimeExclusions[0] = "changed"
			s.Scanning.ScanType = "ENHANCED"
			s.Scanning.Rules[0].Filters[0] = "changed"
		}
		s, _ := f.r.Settings(bg, regA)
		if s.Account["BLOB_MOUNTING"] != "ENABLED" || s.PullTimeExclusions[0] == "changed" || s.Scanning.ScanType != "BASIC" || s.Scanning.Rules[0].Filters[0] != "*" {
			t.Fatalf("a caller's change reached the cache: %+v", s)
		}
	})
}

// clone copies every map, slice and pointer RegistrySettings holds, at any
// depth: a field added later that it does not copy fails here.
func TestRegistrySettingsCloneSharesNothing(t *testing.T) {
	s := RegistrySettings{Policy: "p", Account: map[string]string{"a": "b"}, PullTimeExclusions: []string{"x"},
		Scanning: &ScanningConfig{ScanType: "BASIC", Rules: []ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", Filters: []string{"*"}}}}}
	var zeroFields []string
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		switch a.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			if a.IsNil() || a.Kind() != reflect.Pointer && a.Len() == 0 {
				zeroFields = append(zeroFields, path)
				return
			}
			if a.UnsafePointer() == b.UnsafePointer() {
				t.Errorf("%s is shared with the clone", path)
			}
		}
		switch a.Kind() {
		case reflect.Pointer:
			walk(path, a.Elem(), b.Elem())
		case reflect.Slice:
			for i := range a.Len() {
				walk(path+"["+strconv.Itoa(i)+"]", a.Index(i), b.Index(i))
			}
		case reflect.Struct:
			for i := range a.NumField() {
				walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	}
	c := s.clone()
	if !reflect.DeepEqual(s, c) {
		t.Fatalf("clone %+v of %+v", c, s)
	}
	walk("RegistrySettings", reflect.ValueOf(s), reflect.ValueOf(c))
	if len(zeroFields) > 0 {
		t.Fatalf("the test leaves %v empty: fill them so that their copy is checked", zeroFields)
	}
}

// Reads racing writes: once UpdateSettings has returned, no read started
// after it returns what was there before (run with -race).
func TestSettingsNeverStaleUnderConcurrentWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var written atomic.Int64 // the last value whose write has returned
		const writes = 200
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					floor := written.Load()
					s, err := f.r.Settings(bg, regA)
					if err != nil {
						t.Error(err)
						return
					}
					got, _ := strconv.ParseInt(s.Policy, 10, 64) // "" reads 0
					if got < floor {
						t.Errorf("read %d after %d was written", got, floor)
						return
					}
				}
			})
		}
		for i := int64(1); i <= writes; i++ {
			if _, err := f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error { s.Policy = strconv.FormatInt(i, 10); return nil }); err != nil {
				t.Fatal(err)
			}
			written.Store(i)
		}
		close(stop)
		wg.Wait()
	})
}

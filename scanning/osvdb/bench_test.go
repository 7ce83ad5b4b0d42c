package osvdb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// generatedAdvisories writes n OSV records of about 1.5 KiB, as Debian's
// and Alpine's exports hold them: one ecosystem each, one package (one in
// ten a second one), over 1,500 package names.
func generatedAdvisories(b *testing.B, n int) string {
	src := b.TempDir()
	files := map[string]string{}
	for i := range n {
		eco, dirName := "Debian:12", "Debian:12"
		if i%3 == 0 {
			eco, dirName = "Alpine:v3.20", "Alpine:v3.20"
		}
		affected := fmt.Sprintf(`{"package":{"ecosystem":%q,"name":"pkg%d"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d.0-1"}]}]}`, eco, i%1500, i)
		if i%10 == 0 {
			affected += fmt.Sprintf(`,{"package":{"ecosystem":%q,"name":"lib%d"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.%d-r0"}]}]}`, eco, i%700, i)
		}
		files[fmt.Sprintf("%s/CVE-2024-%05d.json", dirName, i)] = fmt.Sprintf(`{"id":"CVE-2024-%05d","modified":"2024-%02d-%02dT10:00:00Z","published":"2024-01-01T00:00:00Z",`+
			`"summary":"generated advisory %d","details":%q,"aliases":["CVE-2024-%05d"],`+
			`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[%s],`+
			`"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/CVE-2024-%05d"}]}`,
			i, 1+i%12, 1+i%28, i, strings.Repeat("A flaw was found in a parser. ", 30), i, affected, i)
	}
	writeTree(b, src, files)
	return src
}

func BenchmarkIndex5000Advisories(b *testing.B) {
	src := generatedAdvisories(b, 5000)
	for _, bc := range []struct {
		name  string
		flush int
	}{{"batched", flushBytes}, {"per-record", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			defer func(old int) { flushBytes = old }(flushBytes)
			flushBytes = bc.flush
			caches := b.TempDir()
			i := 0
			for b.Loop() {
				i++
				db, err := Index(context.Background(), src, filepath.Join(caches, fmt.Sprint(i)), nil)
				if err != nil || db.Advisories != 5000 {
					b.Fatal(db, err)
				}
			}
		})
	}
}

func BenchmarkIndexReuse5000Advisories(b *testing.B) {
	src := generatedAdvisories(b, 5000)
	cache := b.TempDir()
	if _, err := Index(context.Background(), src, cache, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		db, err := Index(context.Background(), src, cache, nil)
		if err != nil || db.Advisories != 5000 {
			b.Fatal(db, err)
		}
	}
}

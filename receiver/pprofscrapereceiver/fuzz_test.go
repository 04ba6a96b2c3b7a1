package pprofscrapereceiver

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsers feeds arbitrary bodies to every parser of target responses: they must return an error, never panic
// or loop. Seeds are the real pages from testdata/fixtures.
func FuzzParsers(f *testing.F) {
	for _, name := range []string{
		"goroutine_debug1.txt", "goroutine_debug2.txt", "heap_debug1.txt", "threadcreate_debug1.txt",
		"mutex_debug1.txt", "block_debug1.txt", "vars.json", "index.html",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("goroutine profile: total 3\n3 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _ = parseGoroutineStacks(bytes.NewReader(body))
		_, _ = parseProfileTotal(bytes.NewReader(body), "goroutine")
		_, _ = parseHeapMemStats(bytes.NewReader(body))
		_, _ = parseContentionCount(bytes.NewReader(body))
		_, _ = parseExpvar(bytes.NewReader(body))
		_, _ = parseIndexCounts(bytes.NewReader(body))
		_, _ = summarizeGoroutineDump(bytes.NewReader(body), 5)
	})
}

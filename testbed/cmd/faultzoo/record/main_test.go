package main

import (
	"maps"
	"testing"
)

func TestGoroutineSites(t *testing.T) {
	dump := "goroutine profile: total 60\n" +
		"47 @ 0x48c0ce 0x469432 0x7eee57 0x493a61\n" +
		"#\t0x48d604\tinternal/sync.runtime_SemacquireMutex+0x24\t/usr/local/go/src/runtime/sema.go:95\n" +
		"#\t0x7eee39\tsync.(*Mutex).Lock+0x19\t\t\t\t/usr/local/go/src/sync/mutex.go:46\n" +
		"#\t0x7eee38\tmain.lockedUpdater+0x18\t\t\t\t/src/leak_mutex.go:44\n" +
		"\n" +
		"10 @ 0x48c0ce 0x4685a5 0x493a61\n" +
		"#\t0x66fa8f\tnet/http.(*persistConn).readLoop+0xc04\t/usr/local/go/src/net/http/transport.go:2400\n" +
		"#\t0x4a1234\truntime.goexit+0x1\t/usr/local/go/src/runtime/asm_amd64.s:1700\n" +
		"\n" +
		"2 @ 0x420ec9 0x48e358 0x493a61\n" +
		"\n" +
		"1 @ 0x48c0ce 0x4685a5 0x493a61\n" +
		"# labels: {\"a\":\"b\"}\n" +
		"#\t0x7f0bb2\tmain.run+0xc12\t\t/src/main.go:129\n"
	want := map[string]int64{
		"main.lockedUpdater":               47,
		"net/http.(*persistConn).readLoop": 10,
		"(unknown)":                        2,
		"main.run":                         1,
	}
	if got := goroutineSites([]byte(dump)); !maps.Equal(got, want) {
		t.Errorf("goroutineSites = %v, want %v", got, want)
	}
}

func TestTopSites(t *testing.T) {
	got := topSites(map[string]int64{"a": 5, "b": 3, "c": 1, "d": 1}, 2)
	want := map[string]int64{"a": 5, "b": 3, "(other)": 2}
	if !maps.Equal(got, want) {
		t.Errorf("topSites = %v, want %v", got, want)
	}
}

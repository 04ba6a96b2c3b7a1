package pprofscrapereceiver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thisPackage is how this test package's functions are named in stacks. Its path has a dot, so the classifier
// treats it as service code, as it treats package main in a service.
const thisPackage = "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

//go:noinline
func lockedUpdater(mu *sync.Mutex, counter *int) {
	mu.Lock()
	*counter++
	mu.Unlock()
}

//go:noinline
func startUpdater(mu *sync.Mutex, counter *int, done *sync.WaitGroup) {
	defer done.Done()
	lockedUpdater(mu, counter)
}

//go:noinline
func leakWorker(out chan<- int, done *sync.WaitGroup) {
	defer done.Done()
	out <- 1
}

//go:noinline
func tickerLoop(stop <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-stop:
			return
		}
	}
}

// ownerScenarios starts goroutines in the shapes the owner rule must name, waits until they are all blocked where
// they should be, and stops them when the test ends.
func ownerScenarios(t *testing.T) {
	const updaters, leakers, tickers, leakedBodies = 5, 7, 2, 3

	// Updaters blocked in sync.(*Mutex).Lock, started through startUpdater.
	var mu sync.Mutex
	counter := 0
	mu.Lock()
	var updatersDone sync.WaitGroup
	updatersDone.Add(updaters)
	for range updaters {
		go startUpdater(&mu, &counter, &updatersDone)
	}
	t.Cleanup(func() { mu.Unlock(); updatersDone.Wait() })

	// Workers blocked forever on a channel send nobody receives.
	out := make(chan int)
	var leakersDone sync.WaitGroup
	leakersDone.Add(leakers)
	for range leakers {
		go leakWorker(out, &leakersDone)
	}
	t.Cleanup(func() {
		for range leakers {
			<-out
		}
		leakersDone.Wait()
	})

	stop := make(chan struct{})
	var tickersDone sync.WaitGroup
	tickersDone.Add(tickers)
	for range tickers {
		go tickerLoop(stop, &tickersDone)
	}
	t.Cleanup(func() { close(stop); tickersDone.Wait() })

	// HTTP client responses whose bodies are never closed: each keeps a connection and its readLoop and writeLoop
	// goroutines. A dedicated transport, so other tests' idle connections do not count.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 64<<10))
	}))
	transport := &http.Transport{}
	client := &http.Client{Transport: transport}
	var bodies []io.Closer
	for range leakedBodies {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		bodies = append(bodies, resp.Body)
	}
	t.Cleanup(func() {
		for _, b := range bodies {
			b.Close()
		}
		transport.CloseIdleConnections()
		srv.Close()
	})

	// Wait until every goroutine is parked where the scenario says (a mutex waiter spins a little before parking).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var dump bytes.Buffer
		require.NoError(t, pprof.Lookup("goroutine").WriteTo(&dump, 2))
		text := dump.String()
		if strings.Count(text, "sync.(*Mutex).Lock(") >= updaters && strings.Count(text, "\n"+thisPackage+".leakWorker(") >= leakers &&
			strings.Count(text, "\n"+thisPackage+".tickerLoop(") >= tickers {
			return
		}
		require.True(t, time.Now().Before(deadline), "scenario goroutines never parked:\n%s", text)
		time.Sleep(10 * time.Millisecond)
	}
}

// wantOwners is what every reading of the goroutines must say about the scenarios.
var wantOwners = []struct {
	owner, entry string
	count        int64
	atLeast      bool // other tests' or the runtime's goroutines may share the owner
}{
	{owner: thisPackage + ".lockedUpdater", entry: thisPackage + ".startUpdater", count: 5},
	{owner: thisPackage + ".leakWorker", entry: thisPackage + ".leakWorker", count: 7},
	{owner: thisPackage + ".tickerLoop", entry: thisPackage + ".tickerLoop", count: 2},
	{owner: "net/http.(*persistConn).readLoop", entry: "net/http.(*persistConn).readLoop", count: 3, atLeast: true},
	{owner: "net/http.(*persistConn).writeLoop", entry: "net/http.(*persistConn).writeLoop", count: 3, atLeast: true},
}

type ownerCount struct {
	count   int64
	entries map[string]bool
}

func checkOwners(t *testing.T, format string, got map[string]*ownerCount) {
	t.Helper()
	for _, w := range wantOwners {
		g := got[w.owner]
		if !assert.NotNil(t, g, "%s: no goroutine owned by %s; owners: %v", format, w.owner, keys(got)) {
			continue
		}
		if w.atLeast {
			assert.GreaterOrEqual(t, g.count, w.count, "%s: %s", format, w.owner)
		} else {
			assert.Equal(t, w.count, g.count, "%s: %s", format, w.owner)
		}
		assert.True(t, g.entries[w.entry], "%s: %s started in %v, want %s", format, w.owner, g.entries, w.entry)
	}
	for owner := range got {
		assert.False(t, strings.HasPrefix(owner, "sync.") || strings.HasPrefix(owner, "runtime.gopark") ||
			strings.HasPrefix(owner, "internal/"), "%s: leaf frame %s named as owner", format, owner)
	}
}

func keys(m map[string]*ownerCount) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func addOwner(got map[string]*ownerCount, owner, entry string, n int64) {
	g := got[owner]
	if g == nil {
		g = &ownerCount{entries: map[string]bool{}}
		got[owner] = g
	}
	g.count += n
	g.entries[entry] = true
}

// TestOwnerOfRealGoroutines reads this process's goroutines in the three forms the receiver parses (debug=1 stack
// groups, the debug=2 dump, the protobuf profile) and checks that each names the same owners.
func TestOwnerOfRealGoroutines(t *testing.T) {
	ownerScenarios(t)
	goroutines := pprof.Lookup("goroutine")

	var debug1 bytes.Buffer
	require.NoError(t, goroutines.WriteTo(&debug1, 1))
	require.Contains(t, debug1.String(), "sync.(*Mutex).Lock", "the updaters' leaf frames are the standard library's")
	_, groups, err := parseGoroutineStacks(&debug1)
	require.NoError(t, err)
	got := map[string]*ownerCount{}
	for _, g := range groups {
		addOwner(got, g.Function, g.Entry, g.Count)
	}
	checkOwners(t, "debug=1", got)

	var debug2 bytes.Buffer
	require.NoError(t, goroutines.WriteTo(&debug2, 2))
	entries, err := summarizeGoroutineDump(&debug2, 1000)
	require.NoError(t, err)
	got = map[string]*ownerCount{}
	for _, e := range entries {
		addOwner(got, e.Function, e.Entry, e.Value)
	}
	checkOwners(t, "debug=2", got)

	var proto bytes.Buffer
	require.NoError(t, goroutines.WriteTo(&proto, 0))
	p, err := profile.Parse(&proto)
	require.NoError(t, err)
	got = map[string]*ownerCount{}
	for s, v := range valuesBySite(p, 0, goroutineStacks) {
		addOwner(got, s.function, s.entry, v)
	}
	checkOwners(t, "protobuf", got)
}

var allocSink []byte

//go:noinline
func allocHot() {
	for range 32 {
		allocSink = make([]byte, 1<<20)
	}
}

//go:noinline
func repeatViaBytes() {
	for range 32 {
		allocSink = bytes.Repeat([]byte{'x'}, 1<<20)
	}
}

// TestOwnerOfRealAllocations checks the allocation rule on this process's allocs profile: the first service frame
// names the site (make in allocHot, bytes.Repeat called from repeatViaBytes), not the runtime or the library.
func TestOwnerOfRealAllocations(t *testing.T) {
	allocHot()
	repeatViaBytes()
	allocSink = nil
	// The profile shows allocations as of the last completed GC cycles.
	runtime.GC()
	runtime.GC()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("allocs").WriteTo(&buf, 0))
	p, err := profile.Parse(&buf)
	require.NoError(t, err)
	idx, err := sampleIndex(p, "alloc_space")
	require.NoError(t, err)
	byFunction := map[string]int64{}
	for s, v := range valuesBySite(p, idx, sampleStacks) {
		byFunction[s.function] += v
	}
	assert.GreaterOrEqual(t, byFunction[thisPackage+".allocHot"], int64(16<<20))
	assert.GreaterOrEqual(t, byFunction[thisPackage+".repeatViaBytes"], int64(16<<20))
	assert.Less(t, byFunction["bytes.Repeat"], int64(16<<20), "bytes.Repeat is the library, its caller owns the bytes")
}

// TestOwnerOfFallbacks covers the stacks without service code, built from frames of the real stacks above.
func TestOwnerOfFallbacks(t *testing.T) {
	goexit := frame{function: "runtime.goexit", file: "/go/src/runtime/asm_amd64.s", line: 1700}
	readLoop := frame{function: "net/http.(*persistConn).readLoop", file: "/go/src/net/http/transport.go", line: 2400}
	tests := []struct {
		name   string
		frames []frame
		shape  stackShape
		want   site
	}{
		{
			name:   "goroutine of the standard library only: its entry",
			frames: []frame{{function: "runtime.gopark"}, {function: "runtime.selectgo"}, readLoop, goexit},
			shape:  goroutineStacks,
			want:   site{function: readLoop.function, file: readLoop.file, line: readLoop.line, entry: readLoop.function},
		},
		{
			name:   "allocation in the standard library only: first frame outside the runtime",
			frames: []frame{{function: "runtime.mallocgc"}, {function: "bufio.NewReaderSize", file: "bufio.go", line: 57}, readLoop, goexit},
			shape:  sampleStacks,
			want:   site{function: "bufio.NewReaderSize", file: "bufio.go", line: 57, entry: readLoop.function},
		},
		{
			name:   "runtime only",
			frames: []frame{{function: "runtime.gcBgMarkWorker", file: "mgc.go", line: 1}, goexit},
			shape:  sampleStacks,
			want:   site{function: "runtime.gcBgMarkWorker", file: "mgc.go", line: 1, entry: "runtime.gcBgMarkWorker"},
		},
		{
			name: "empty stack",
			want: site{function: unknownFunction},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ownerOf(tt.frames, tt.shape))
		})
	}
}

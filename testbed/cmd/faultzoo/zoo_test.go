package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The zoo leaks on purpose. Every test here runs a leak with a handle to its blocking object and releases it at
// the end, so goleak checks that nothing else stays behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// goroutinesIn counts this process's goroutines whose stack contains function fn (from the debug=1 goroutine
// profile, which prints inlined frames such as sync.(*Mutex).Lock and their callers). In the test binary package
// main is named by its import path, so "main.f" also matches ".../faultzoo.f".
func goroutinesIn(t *testing.T, fn string) int {
	t.Helper()
	alt := "\t" + fn + "+0x"
	if name, ok := strings.CutPrefix(fn, "main."); ok {
		alt = "/faultzoo." + name + "+0x"
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	total, count := 0, 0
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if n, _, ok := strings.Cut(line, " @ "); ok && !strings.HasPrefix(line, "#") {
			count, _ = strconv.Atoi(n)
			continue
		}
		if strings.HasPrefix(line, "#\t0x") && (strings.Contains(line, "\t"+fn+"+0x") || strings.Contains(line, alt)) {
			total += count
			count = 0 // count a stack once
		}
	}
	return total
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(config) bool
	}{
		{name: "shape and onset", args: []string{"-shape", "leak-mutex", "-onset", "90s", "-seed", "7"},
			check: func(c config) bool { return c.shape == "leak-mutex" && c.onset == 90*time.Second && c.seed == 7 }},
		{name: "default onset is process start", args: []string{"-shape", "heapgrowth"},
			check: func(c config) bool { return c.onset == 0 }},
		{name: "missing shape", args: nil, wantErr: `-shape ""`},
		{name: "unknown shape", args: []string{"-shape", "leak-everything"}, wantErr: "use one of"},
		{name: "negative onset", args: []string{"-shape", "leak-mutex", "-onset", "-1s"}, wantErr: "negative"},
		{name: "stray argument", args: []string{"-shape", "leak-mutex", "extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("parseConfig(%q) = %+v, %v", tt.args, cfg, err)
			}
		})
	}
}

func TestEveryShapeHasAKnownKind(t *testing.T) {
	for name, s := range shapes {
		switch s.kind {
		case kindNone:
			if s.fault != nil {
				t.Errorf("%s: a healthy shape has a fault", name)
			}
		case kindGoroutines, kindGC, kindHeap:
			if s.fault == nil {
				t.Errorf("%s: a %s shape has no fault", name, s.kind)
			}
		default:
			t.Errorf("%s: unknown kind %q", name, s.kind)
		}
		if s.base == nil || s.description == "" {
			t.Errorf("%s: no base workload or description", name)
		}
	}
}

// TestLeaksGrowInTheirNamedFunction runs each goroutine leak for a moment at a fast rate and checks that the
// goroutines pile up in the function labels.yaml names (not in the runtime or sync function they block in).
func TestLeaksGrowInTheirNamedFunction(t *testing.T) {
	const interval = 20 * time.Millisecond
	tests := []struct {
		site  string
		start func(ctx context.Context) (release func())
	}{
		{site: "main.lockedUpdater", start: func(ctx context.Context) func() {
			inv := &inventory{stock: map[string]int{}}
			if err := inv.reserve("widget"); err != errOutOfStock {
				t.Fatalf("reserve on empty stock = %v, want the buggy early return", err)
			}
			leakLockedUpdaters(ctx, inv, interval)
			return inv.mu.Unlock // the updaters then take the lock one after the other
		}},
		{site: "main.leakChanSendWorker", start: func(ctx context.Context) func() {
			results := make(chan [32]byte)
			n := leakChanSends(ctx, interval, func() chan [32]byte { return results })
			return func() {
				for range n {
					<-results
				}
			}
		}},
		{site: "main.tickerLoopWorker", start: func(ctx context.Context) func() {
			done := make(chan struct{})
			leakTickerLoops(ctx, done, interval, time.Millisecond)
			return func() { close(done) }
		}},
		{site: "main.slowSiteWorker", start: func(ctx context.Context) func() {
			changed := make(chan struct{})
			leakSlowSite(ctx, changed, interval)
			return func() { close(changed) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			before := goroutinesIn(t, tt.site)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			release := tt.start(ctx) // returns once ctx ended: about 25 goroutines started
			grown := goroutinesIn(t, tt.site) - before
			if grown < 10 {
				t.Errorf("%d goroutines blocked in %s after 500 ms at one per %s, want at least 10", grown, tt.site, interval)
			}
			release()
			waitFor(t, "the leaked goroutines to finish once released", func() bool { return goroutinesIn(t, tt.site) == before })
		})
	}
}

// TestHTTPBodyLeakPinsReadLoops checks that unclosed bodies really pin connections: each GET adds a transport
// readLoop (and writeLoop) goroutine.
func TestHTTPBodyLeakPinsReadLoops(t *testing.T) {
	l, err := newHTTPBodyLeaker()
	if err != nil {
		t.Fatal(err)
	}
	var kept []*http.Response
	l.keep = func(r *http.Response) { kept = append(kept, r) }
	const site = "net/http.(*persistConn).readLoop"
	before := goroutinesIn(t, site)
	const gets = 12
	for range gets {
		if err := l.fetchWithoutClose(); err != nil {
			t.Fatal(err)
		}
	}
	if got := goroutinesIn(t, site) - before; got != gets {
		t.Errorf("%d readLoop goroutines after %d GETs with unclosed bodies, want %d (one pinned connection each)", got, gets, gets)
	}
	if got := goroutinesIn(t, "net/http.(*persistConn).writeLoop"); got < gets {
		t.Errorf("%d writeLoop goroutines, want at least %d", got, gets)
	}
	for _, r := range kept {
		r.Body.Close()
	}
	l.close()
	waitFor(t, "the readLoops to end once the bodies are closed", func() bool { return goroutinesIn(t, site) == before })
}

func TestWanderPlanStaysWithinItsBand(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plan := newWanderPlan(rng, 300, 0.12)
	if plan.period < 2*time.Minute || plan.period > 8*time.Minute {
		t.Errorf("period %s, want 2-8 minutes", plan.period)
	}
	lo, hi := 1<<30, 0
	for s := range 3600 {
		n := plan.target(rng, time.Duration(s)*time.Second)
		lo, hi = min(lo, n), max(hi, n)
	}
	// ±12 % plus the ±2 % random walk.
	if lo < 300*86/100 || hi > 300*114/100 {
		t.Errorf("target ranged %d..%d, want within 300 ±14 %%", lo, hi)
	}
	if hi-lo < 300*20/100 {
		t.Errorf("target ranged %d..%d, want it to really wander (about ±12 %%)", lo, hi)
	}
}

func TestWorkerPoolResizes(t *testing.T) {
	pool := newWorkerPool(rand.New(rand.NewPCG(3, 4)), 1024, 5*time.Millisecond)
	ctx := context.Background()
	before := goroutinesIn(t, "main.wanderWorker")
	pool.Resize(ctx, 40)
	waitFor(t, "40 workers", func() bool { return goroutinesIn(t, "main.wanderWorker")-before == 40 })
	pool.Resize(ctx, 15)
	waitFor(t, "15 workers", func() bool { return goroutinesIn(t, "main.wanderWorker")-before == 15 })
	pool.Stop()
	if got := goroutinesIn(t, "main.wanderWorker") - before; got != 0 {
		t.Errorf("%d workers left after Stop", got)
	}
}

func TestRuntimeLiveMemoryIsBelowWhatIsMapped(t *testing.T) {
	live := runtimeLiveMemory()
	if live == 0 || live > 1<<40 {
		t.Fatalf("runtimeLiveMemory() = %d", live)
	}
}

// TestAllocationSitesAreTheNamedFunctions checks that the heap profile attributes the hot allocator's garbage and
// the retained sessions to main.allocHot and main.retainSessions themselves (labels.yaml names them), not to a
// closure such as main.retainSessions.func1.
func TestAllocationSitesAreTheNamedFunctions(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 4096
	defer func() { runtime.MemProfileRate = old }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { allocHot(ctx, 8<<20) })
	wg.Go(func() { retainSessions(ctx, 256<<10, 20*time.Millisecond) })
	wg.Wait()
	runtime.GC() // the profile shows allocations as of the last completed cycle
	var buf bytes.Buffer
	if err := pprof.Lookup("allocs").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	prof := buf.String()
	for _, fn := range []string{"allocHot", "retainSessions"} {
		if !strings.Contains(prof, "/faultzoo."+fn+"+0x") {
			t.Errorf("the allocs profile names no allocation in %s", fn)
		}
		if strings.Contains(prof, "/faultzoo."+fn+".func") {
			t.Errorf("the allocs profile attributes allocations to a closure of %s", fn)
		}
	}
}

package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// shape is one behaviour of the zoo: base runs from process start (the healthy part, which for a healthy shape is
// everything); fault, when set, starts once -onset has passed. Both run until ctx ends.
type shape struct {
	kind        string // expected readiness rule kind: goroutine_growth, gc_frequency, heap_growth or none
	description string
	base        func(ctx context.Context, z *zoo)
	fault       func(ctx context.Context, z *zoo)
}

// shapes lists every behaviour by its -shape name. It is never modified.
var shapes = map[string]shape{
	"healthy-wander":     {kind: kindNone, description: "a few hundred workers whose count wanders smoothly ±12 % (sine, 4 min period)", base: runWander},
	"healthy-bursts":     {kind: kindNone, description: "100 workers; every 15-60 s a burst of 500-2,000 short-lived goroutines living 1-5 s", base: runBursts},
	"healthy-rampup":     {kind: kindNone, description: "warm-up: goroutines ×20 and live heap ×10 filling like pools and caches (3 % of what remains each second), then flat", base: runRampUp},
	"healthy-gcsawtooth": {kind: kindNone, description: "16 MB/s of garbage over a flat 4 MiB live heap: a steady, fairly high GC rate", base: runGCSawtooth},
	"healthy-restart":    {kind: kindNone, description: "healthy-wander; the scenario restarts the process once", base: runWander},
	"leak-chansend":      {kind: kindGoroutines, description: "wandering workers; 5 goroutines/s block forever sending on a channel nobody reads", base: runWander, fault: runLeakChanSend},
	"leak-ticker":        {kind: kindGoroutines, description: "wandering workers; 2.5 goroutines/s loop forever on a never-stopped ticker and a never-closed channel", base: runWander, fault: runLeakTicker},
	"leak-httpbody":      {kind: kindGoroutines, description: "wandering workers; 3 loopback HTTP GETs/s whose response bodies are never closed (readLoop/writeLoop pinned)", base: runWander, fault: runLeakHTTPBody},
	"leak-mutex":         {kind: kindGoroutines, description: "wandering workers; 2 goroutines/s block on a mutex a buggy path never unlocked", base: runWander, fault: runLeakMutex},
	"leak-slow-site":     {kind: kindGoroutines, description: "1,000 workers wandering ±10 %; one site grows by exactly 5 goroutines a minute", base: runWanderThousand, fault: runLeakSlowSite},
	"gcstorm-gogc":       {kind: kindGC, description: "16 MiB cache and 8 MB/s of garbage; at onset GOGC drops to 10", base: runHotAllocator, fault: runGCStormGOGC},
	"gcstorm-memlimit":   {kind: kindGC, description: "16 MiB cache and 8 MB/s of garbage; at onset GOMEMLIMIT is set just above the memory in use", base: runHotAllocator, fault: runGCStormMemLimit},
	"heapgrowth":         {kind: kindHeap, description: "28 MiB baseline cache; sessions retain 2 MiB more every 10 s", base: runHeapBaseline, fault: runHeapGrowth},
}

const (
	kindNone       = "none"
	kindGoroutines = "goroutine_growth"
	kindGC         = "gc_frequency"
	kindHeap       = "heap_growth"
)

// zoo is the running program's state, shared by the shape's goroutines and the HTTP handlers.
type zoo struct {
	cfg    config
	logger *slog.Logger
	start  time.Time

	randMu   sync.Mutex
	randNext uint64

	faultActive atomic.Bool
	faultSince  atomic.Int64 // unix nanoseconds of the onset, 0 before
}

func newZoo(cfg config, logger *slog.Logger) *zoo {
	return &zoo{cfg: cfg, logger: logger, start: time.Now()}
}

// newRand returns a generator of its own for one goroutine (rand.Rand is not safe for concurrent use); the
// sequence of generators is fixed by -seed.
func (z *zoo) newRand() *rand.Rand {
	z.randMu.Lock()
	defer z.randMu.Unlock()
	z.randNext++
	return rand.New(rand.NewPCG(z.cfg.seed, z.randNext))
}

// runShape runs the base part, waits for the onset and runs the fault part, until ctx ends.
func (z *zoo) runShape(ctx context.Context) {
	s := shapes[z.cfg.shape]
	var wg sync.WaitGroup
	wg.Go(func() { s.base(ctx, z) })
	if s.fault != nil {
		timer := time.NewTimer(z.cfg.onset)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
			z.faultActive.Store(true)
			z.faultSince.Store(time.Now().UnixNano())
			z.logger.Info("fault onset", "after", time.Since(z.start).Round(time.Millisecond))
			wg.Go(func() { s.fault(ctx, z) })
		}
	}
	wg.Wait()
}

// state is what /debug/vars publishes under "faultzoo".
func (z *zoo) state() map[string]any {
	s := shapes[z.cfg.shape]
	st := map[string]any{
		"shape":          z.cfg.shape,
		"kind":           s.kind,
		"onset_seconds":  z.cfg.onset.Seconds(),
		"fault_active":   z.faultActive.Load(),
		"uptime_seconds": time.Since(z.start).Seconds(),
	}
	if since := z.faultSince.Load(); since != 0 {
		st["fault_since"] = time.Unix(0, since).UTC().Format(time.RFC3339Nano)
	}
	return st
}

// every calls fn every interval until ctx ends; fn returning false stops early.
func every(ctx context.Context, interval time.Duration, fn func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}

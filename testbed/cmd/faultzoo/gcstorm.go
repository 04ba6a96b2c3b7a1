package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// stormGOGC is the GOGC the gcstorm-gogc fault sets: each cycle may allocate only 10 % of the live heap, so with
// the same allocation rate GC runs about ten times as often as at the default 100.
const stormGOGC = 10

// runGCStormGOGC lowers GOGC to 10 at the onset (a misguided "save memory" setting shipped in a config change).
// allocHot keeps allocating at the same rate; the cache stays the same size.
func runGCStormGOGC(ctx context.Context, z *zoo) {
	old := debug.SetGCPercent(stormGOGC)
	z.logger.Info("GOGC lowered", "from", old, "to", stormGOGC)
	<-ctx.Done()
	debug.SetGCPercent(old)
}

// memLimitHeadroom is how far above the runtime's live memory the gcstorm-memlimit fault puts GOMEMLIMIT. Measured
// with 8 MB/s of garbage: 2 MiB gives about 7 GC cycles a second against 0.5 before the onset (14×); 1 MiB gave
// 150 a second (GC back to back, the runtime's 50 % GC CPU cap) and 4 MiB only 2.4 a second.
const memLimitHeadroom = 2 << 20

// runGCStormMemLimit sets the memory limit just above what the runtime needs after a collection (a container
// limit sized from an idle measurement). GOGC stays at its default; the limit, not GOGC, then decides when GC runs.
func runGCStormMemLimit(ctx context.Context, z *zoo) {
	runtime.GC() // so the live heap is measured, not the sawtooth's peak
	live := runtimeLiveMemory()
	limit := live + memLimitHeadroom
	old := debug.SetMemoryLimit(int64(limit))
	z.logger.Info("memory limit set", "live_memory", live, "limit", limit)
	<-ctx.Done()
	debug.SetMemoryLimit(old)
}

// runtimeLiveMemory is what the Go runtime would count against GOMEMLIMIT if the heap held only live objects:
// everything mapped, minus what was returned to the OS, minus free heap spans, minus dead objects not yet swept.
func runtimeLiveMemory() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	v := func(i int) uint64 { return s[i].Value.Uint64() }
	return v(0) - v(1) - v(2) - v(3) + v(4)
}

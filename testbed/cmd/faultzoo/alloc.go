package main

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// cacheHolder is a healthy long-lived cache of size bytes in 64 KiB entries, held until ctx ends. It is the
// live heap of the GC shapes: the storms come from allocHot, not from this function.
func cacheHolder(ctx context.Context, size int) {
	const entry = 64 << 10
	entries := make([][]byte, 0, size/entry)
	for len(entries)*entry < size {
		e := make([]byte, entry)
		for i := 0; i < len(e); i += 512 {
			e[i] = byte(i)
		}
		entries = append(entries, e)
	}
	<-ctx.Done()
	runtime.KeepAlive(entries)
}

// allocHot produces bytesPerSecond of short-lived garbage in 32 KiB buffers, spread over 100 ticks a second:
// request parsing, serialization, the allocation rate every GC cycle pays for. It is not inlined, and the buffer
// size is not a compile-time constant, so the buffers really go to the heap (a constant-size make that does not
// escape would be put on the stack and never reach the GC). The allocation is in this function's own body, not in
// a closure, so profiles name main.allocHot.
//
//go:noinline
func allocHot(ctx context.Context, bytesPerSecond int) {
	bufSize := min(32<<10, max(1, bytesPerSecond/100))
	perTick := max(1, bytesPerSecond/100/bufSize)
	var sink byte
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			runtime.KeepAlive(sink)
			return
		case <-tick.C:
		}
		for range perTick {
			b := make([]byte, bufSize)
			b[len(b)-1] = sink
			sink += b[0] + 1
		}
	}
}

// runGCSawtooth is healthy-gcsawtooth: 16 MB/s of garbage over a flat 4 MiB live heap at the default GOGC, so GC
// runs a few times a second with a flat sawtooth and no trend.
func runGCSawtooth(ctx context.Context, z *zoo) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { wander(ctx, z, 50, 0.05, 4<<10) })
	wg.Go(func() { cacheHolder(ctx, 4<<20) })
	wg.Go(func() { allocHot(ctx, 16<<20) })
}

// runHotAllocator is the healthy part of both GC storms: a 16 MiB cache, 8 MB/s of garbage from allocHot and
// 100 wandering workers. At the default GOGC that is about one GC every two seconds.
func runHotAllocator(ctx context.Context, z *zoo) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { wander(ctx, z, 100, 0.10, 4<<10) })
	wg.Go(func() { cacheHolder(ctx, 16<<20) })
	wg.Go(func() { allocHot(ctx, 8<<20) })
}

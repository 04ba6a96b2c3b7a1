package main

import (
	"context"
	"time"
)

// A storm turns over gcStormBytesPerSecond of short-lived garbage, paced by elapsed time so a
// busy machine (late ticks) does not weaken it. With GOGC=5 and a heap of a few MiB, that is
// tens of GC cycles per second, thousands per minute, without spinning a core flat out.
const (
	gcStormTick           = 5 * time.Millisecond
	gcStormChunkSize      = 16 << 10
	gcStormBytesPerSecond = 48 << 20
	gcStormWindowChunks   = 16
)

// runGCStorm allocates short-lived garbage until the knob is turned off.
// GOGC itself is lowered and restored by workloads.set.
func (w *workloads) runGCStorm(ctx context.Context) {
	pace := newPacer()
	ticker := time.NewTicker(gcStormTick)
	defer ticker.Stop()
	var window garbageWindow
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			chunks := pace.due(now, gcStormBytesPerSecond/gcStormChunkSize)
			gcStormChurn(&window, chunks)
		}
	}
}

// garbageWindow keeps the last few allocations reachable for a moment, so the compiler cannot
// drop them and each one becomes garbage shortly after.
type garbageWindow struct {
	slots [gcStormWindowChunks][]byte
	next  int
}

// gcStormChurn is the allocation site the heap and allocs profiles show for a GC storm.
func gcStormChurn(window *garbageWindow, chunks int64) {
	for range chunks {
		chunk := make([]byte, gcStormChunkSize)
		chunk[0], chunk[len(chunk)-1] = 1, 1
		window.slots[window.next] = chunk
		window.next = (window.next + 1) % len(window.slots)
	}
}

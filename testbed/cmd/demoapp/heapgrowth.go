package main

import (
	"context"
	"sync"
	"time"
)

const (
	heapGrowthTick = 100 * time.Millisecond
	// Retained memory is kept in chunks of at most this size, so a high rate does not ask
	// for one huge allocation per tick.
	heapGrowthMaxChunk = 1 << 20
	pageSize           = 4096
)

// runHeapGrowth retains heap-growth-rate bytes per second until the knob is turned off or the
// cache holds -max-heap bytes. Turning the knob off keeps what was retained (a real cache does
// not shrink by itself); the control endpoint's release=true drops it.
func (w *workloads) runHeapGrowth(ctx context.Context) {
	pace := newPacer()
	ticker := time.NewTicker(heapGrowthTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			due := pace.due(now, w.heapGrowthRate.Load())
			for due > 0 {
				room := w.maxHeap - w.cache.size()
				n := min(due, heapGrowthMaxChunk, room)
				if n <= 0 {
					break
				}
				w.cache.add(cacheGrowthRetain(n))
				due -= n
			}
		}
	}
}

// cacheGrowthRetain is the allocation site the heap profile shows for the growing cache.
// It writes one byte per page so the memory is resident, not only reserved.
func cacheGrowthRetain(n int64) []byte {
	entry := make([]byte, n)
	for i := 0; i < len(entry); i += pageSize {
		entry[i] = byte(i / pageSize)
	}
	return entry
}

// retainedCache holds the memory heapgrowth retains.
type retainedCache struct {
	mu      sync.Mutex
	entries [][]byte
	bytes   int64
}

func (c *retainedCache) add(entry []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, entry)
	c.bytes += int64(len(entry))
}

func (c *retainedCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// release drops every entry; the next GC cycles return the memory.
func (c *retainedCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries, c.bytes = nil, 0
}

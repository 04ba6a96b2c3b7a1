package main

import (
	"context"
	"sync"
	"time"
)

const (
	rampStartWorkers = 50
	rampEndWorkers   = 20 * rampStartWorkers // 20× the goroutines
	rampStartCache   = 2 << 20
	rampEndCache     = 20 << 20 // with the rest of the heap, about 8-10× the live heap
	// rampFillFraction of what remains is added every second: 95 % after 100 s, 99.6 % after 180 s, so the
	// growth decelerates from the first second and is flat well within 3 minutes.
	rampFillFraction = 0.03
	rampChunk        = 16 << 10
)

// runRampUp is healthy-rampup: a connection pool and a cache filling during warm-up. Each second the pool starts
// 3 % of the workers it still lacks and the cache loads 3 % of the bytes it still lacks; then both stay flat.
func runRampUp(ctx context.Context, z *zoo) {
	jobs := make(chan []byte)
	var pool sync.WaitGroup
	defer pool.Wait()
	workers := 0
	startWorkers := func(n int) {
		for range n {
			pool.Go(func() { poolWorker(ctx, jobs) })
		}
		workers += n
	}
	cache := &warmCache{}
	startWorkers(rampStartWorkers)
	cache.fill(rampStartCache)

	pool.Go(func() { feedPool(ctx, jobs) })
	every(ctx, time.Second, func() bool {
		if lack := rampEndWorkers - workers; lack > 0 {
			startWorkers(max(1, int(float64(lack)*rampFillFraction)))
		}
		if lack := rampEndCache - cache.size(); lack > rampChunk {
			cache.fill(max(rampChunk, int(float64(lack)*rampFillFraction)))
		}
		return true
	})
}

// poolWorker is a pooled connection handler: it waits for a job, handles it, waits again.
func poolWorker(ctx context.Context, jobs <-chan []byte) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-jobs:
			var sum byte
			for i := 0; i < len(job); i += 64 {
				sum += job[i]
			}
			_ = sum
		}
	}
}

// feedPool hands the pool 200 small jobs a second.
func feedPool(ctx context.Context, jobs chan<- []byte) {
	every(ctx, 5*time.Millisecond, func() bool {
		select {
		case jobs <- make([]byte, 4<<10):
		case <-ctx.Done():
		}
		return true
	})
}

// warmCache is a cache being loaded during warm-up; it only grows to its target.
type warmCache struct {
	mu      sync.Mutex
	entries [][]byte
	bytes   int
}

// fill loads n more bytes in 16 KiB entries.
func (c *warmCache) fill(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for added := 0; added < n; added += rampChunk {
		e := make([]byte, rampChunk)
		for i := 0; i < len(e); i += 512 {
			e[i] = 1 // touch the pages: a real cache holds data
		}
		c.entries = append(c.entries, e)
		c.bytes += rampChunk
	}
}

func (c *warmCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

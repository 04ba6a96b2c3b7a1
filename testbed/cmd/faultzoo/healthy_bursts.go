package main

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

const (
	burstBaseWorkers = 100
	burstMinGap      = 15 * time.Second
	burstMaxGap      = 60 * time.Second
	burstMinSize     = 5 * burstBaseWorkers  // 5× the base
	burstMaxSize     = 20 * burstBaseWorkers // up to 20× the base
	burstMinLife     = time.Second
	burstMaxLife     = 5 * time.Second
)

// runBursts is healthy-bursts: a steady pool of 100 workers and, every 15-60 s, a fan-out of 500-2,000 short
// request goroutines that each live 1-5 s (a batch job, a cache refill): big jumps, no trend.
func runBursts(ctx context.Context, z *zoo) {
	rng := z.newRand()
	pool := newWorkerPool(z.newRand(), 8<<10, time.Second)
	defer pool.Stop()
	pool.Resize(ctx, burstBaseWorkers)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		gap := burstMinGap + time.Duration(rng.Int64N(int64(burstMaxGap-burstMinGap)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		n := burstMinSize + rng.IntN(burstMaxSize-burstMinSize+1)
		z.logger.Debug("burst", "goroutines", n)
		for range n {
			life := burstMinLife + time.Duration(rng.Int64N(int64(burstMaxLife-burstMinLife)))
			inflight.Go(func() { burstTask(ctx, life) })
		}
	}
}

// burstTask is one short-lived request of a burst: a small allocation, a wait for a simulated backend, done.
func burstTask(ctx context.Context, life time.Duration) {
	buf := make([]byte, 1<<10)
	buf[0] = byte(rand.Uint32())
	t := time.NewTimer(life)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	runtime.KeepAlive(sha256.Sum256(buf))
}

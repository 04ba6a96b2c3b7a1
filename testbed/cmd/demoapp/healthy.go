package main

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// The healthy workload starts a burst of short request goroutines every 50-150 ms; each lives
// 5-150 ms. The goroutine count jumps up and down by tens but has no trend, and allocation is a
// few MB/s, so GC runs at a normal pace.
const (
	healthyMinBurst    = 5
	healthyMaxBurst    = 50
	healthyMinInterval = 50 * time.Millisecond
	healthyMaxInterval = 150 * time.Millisecond
	healthyMinLife     = 5 * time.Millisecond
	healthyMaxLife     = 150 * time.Millisecond
	healthyMinAlloc    = 4 << 10
	healthyMaxAlloc    = 64 << 10
)

// runHealthy runs request bursts until the knob is turned off, then waits for the last burst.
func (w *workloads) runHealthy(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			burst := healthyMinBurst + rand.IntN(healthyMaxBurst-healthyMinBurst+1)
			for range burst {
				life := randDuration(healthyMinLife, healthyMaxLife)
				size := healthyMinAlloc + rand.IntN(healthyMaxAlloc-healthyMinAlloc+1)
				w.healthyActive.Add(1)
				inflight.Go(func() {
					defer w.healthyActive.Add(-1)
					handleHealthyRequest(ctx, size, life)
				})
			}
			timer.Reset(randDuration(healthyMinInterval, healthyMaxInterval))
		}
	}
}

// handleHealthyRequest is a well-behaved request: it allocates a response, does a little CPU
// work, waits for a simulated backend and returns.
func handleHealthyRequest(ctx context.Context, size int, backendLatency time.Duration) {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i)
	}
	sum := sha256.Sum256(body)
	t := time.NewTimer(backendLatency)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	runtime.KeepAlive(sum)
}

func randDuration(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo+1)
}

func numGoroutine() int { return runtime.NumGoroutine() }

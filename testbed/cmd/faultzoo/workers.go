package main

import (
	"context"
	"crypto/sha256"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// workerPool keeps a resizable number of wanderWorker goroutines: a service's request handlers or consumers whose
// number follows the load. Resize starts or stops workers; Stop stops them all and waits.
type workerPool struct {
	allocBytes int           // allocated per work item
	period     time.Duration // mean time between two work items of one worker
	seedRand   *rand.Rand    // seeds each worker's own generator

	mu    sync.Mutex
	stops []chan struct{}
	wg    sync.WaitGroup
}

func newWorkerPool(rng *rand.Rand, allocBytes int, period time.Duration) *workerPool {
	return &workerPool{allocBytes: allocBytes, period: period, seedRand: rng}
}

// Resize sets the number of workers to n.
func (p *workerPool) Resize(ctx context.Context, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.stops) < n {
		stop := make(chan struct{})
		p.stops = append(p.stops, stop)
		rng := rand.New(rand.NewPCG(p.seedRand.Uint64(), p.seedRand.Uint64()))
		p.wg.Go(func() { wanderWorker(ctx, stop, rng, p.allocBytes, p.period) })
	}
	for len(p.stops) > n {
		last := len(p.stops) - 1
		close(p.stops[last])
		p.stops = p.stops[:last]
	}
}

// Size returns the number of workers asked for.
func (p *workerPool) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stops)
}

// Stop stops every worker and waits for them.
func (p *workerPool) Stop() {
	p.Resize(context.Background(), 0)
	p.wg.Wait()
}

// wanderWorker is a well-behaved worker: every period (±50 %) it builds a response of allocBytes, hashes it and
// drops it, until stopped.
func wanderWorker(ctx context.Context, stop <-chan struct{}, rng *rand.Rand, allocBytes int, period time.Duration) {
	timer := time.NewTimer(jitter(rng, period))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-timer.C:
			body := make([]byte, allocBytes)
			for i := 0; i < len(body); i += 64 {
				body[i] = byte(i)
			}
			sum := sha256.Sum256(body[:min(len(body), 1024)])
			runtime.KeepAlive(sum)
			timer.Reset(jitter(rng, period))
		}
	}
}

// jitter returns d ±50 %.
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return d/2 + time.Duration(rng.Int64N(int64(d)+1))
}

// wanderPlan is a smooth wandering target: base × (1 + amplitude × sin(2πt/period + phase)) plus a small bounded
// random walk, so the count has no trend over any window longer than half a period.
type wanderPlan struct {
	base      int
	amplitude float64
	period    time.Duration
	phase     float64
	walk      float64 // random walk, bounded to ±2 % of base
}

func newWanderPlan(rng *rand.Rand, base int, amplitude float64) *wanderPlan {
	// A period of 3-5 minutes: within the 2-8 minute range, and a whole period fits a short run.
	period := 3*time.Minute + time.Duration(rng.Int64N(int64(2*time.Minute)))
	return &wanderPlan{base: base, amplitude: amplitude, period: period, phase: rng.Float64() * 2 * math.Pi}
}

// target returns the wanted count at elapsed time t, moving the random walk one step.
func (w *wanderPlan) target(rng *rand.Rand, t time.Duration) int {
	w.walk += (rng.Float64() - 0.5) * 0.004
	w.walk = max(-0.02, min(0.02, w.walk))
	f := 1 + w.amplitude*math.Sin(2*math.Pi*t.Seconds()/w.period.Seconds()+w.phase) + w.walk
	return int(math.Round(float64(w.base) * f))
}

// wander runs a pool of base workers wandering by ±amplitude until ctx ends.
func wander(ctx context.Context, z *zoo, base int, amplitude float64, allocBytes int) {
	rng := z.newRand()
	pool := newWorkerPool(z.newRand(), allocBytes, time.Second)
	defer pool.Stop()
	plan := newWanderPlan(rng, base, amplitude)
	begin := time.Now()
	pool.Resize(ctx, plan.target(rng, 0))
	every(ctx, time.Second, func() bool {
		pool.Resize(ctx, plan.target(rng, time.Since(begin)))
		return true
	})
}

// runWander is healthy-wander (and the healthy part of most faults): 300 workers ±12 %, 8 KiB per work item.
func runWander(ctx context.Context, z *zoo) { wander(ctx, z, 300, 0.12, 8<<10) }

// runWanderThousand is the healthy part of leak-slow-site: 1,000 workers ±10 %, whose swing (±100) hides a site
// growing by 5 a minute in the total.
func runWanderThousand(ctx context.Context, z *zoo) { wander(ctx, z, 1000, 0.10, 2<<10) }

package main

import (
	"context"
	"runtime"
	"sync"
	"time"
)

const (
	heapBaseline     = 28 << 20
	heapGrowthStep   = 2 << 20
	heapGrowthPeriod = 10 * time.Second
	sessionBytes     = 64 << 10
)

// runHeapBaseline is the healthy part of heapgrowth: a 28 MiB cache and 100 wandering workers.
func runHeapBaseline(ctx context.Context, z *zoo) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { wander(ctx, z, 100, 0.10, 4<<10) })
	wg.Go(func() { cacheHolder(ctx, heapBaseline) })
}

// runHeapGrowth retains 2 MiB more every 10 s: 12 MiB a minute, 43 % of the baseline in the first minute.
func runHeapGrowth(ctx context.Context, z *zoo) {
	retainSessions(ctx, heapGrowthStep, heapGrowthPeriod)
}

// retainSessions is the bug: a session map that is written to and never pruned. It allocates the sessions in its
// own body (not in a closure, which a profile would name main.retainSessions.func1), so a heap profile names this
// function as the site that grows.
func retainSessions(ctx context.Context, step int, period time.Duration) {
	sessions := map[int][]byte{}
	next := 0
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			runtime.KeepAlive(sessions)
			return
		case <-tick.C:
		}
		for added := 0; added < step; added += sessionBytes {
			s := make([]byte, sessionBytes)
			for i := 0; i < len(s); i += 512 {
				s[i] = byte(next)
			}
			sessions[next] = s
			next++
		}
	}
}

package main

import (
	"context"
	"time"
)

// slowSiteInterval adds one goroutine every 12 s: exactly 5 a minute.
const slowSiteInterval = 12 * time.Second

// runLeakSlowSite leaks one watcher goroutine every 12 s, next to 1,000 workers wandering by ±100: invisible in
// the total, visible only per call site over many minutes.
func runLeakSlowSite(ctx context.Context, _ *zoo) {
	forever := make(chan struct{}) // never closed: the bug
	leakSlowSite(ctx, forever, slowSiteInterval)
}

// leakSlowSite starts a watcher every interval until ctx ends and returns how many it started.
func leakSlowSite(ctx context.Context, changed <-chan struct{}, interval time.Duration) int {
	return spawnLeaks(ctx, interval, func(int) {
		go slowSiteWorker(changed)
	})
}

// slowSiteWorker waits for a configuration change notification that never comes.
func slowSiteWorker(changed <-chan struct{}) {
	<-changed
}

package main

import (
	"context"
	"time"
)

const (
	// tickerLeakInterval starts one polling goroutine every 400 ms: 2.5 a second.
	tickerLeakInterval = 400 * time.Millisecond
	tickerPollPeriod   = 2 * time.Second
)

// runLeakTicker starts a poller per subscription and never closes the subscription's done channel (the
// unsubscribe path was forgotten), so the pollers loop forever on their tickers.
func runLeakTicker(ctx context.Context, _ *zoo) {
	done := make(chan struct{}) // never closed: the bug
	leakTickerLoops(ctx, done, tickerLeakInterval, tickerPollPeriod)
}

// leakTickerLoops starts a poller every interval until ctx ends and returns how many it started.
func leakTickerLoops(ctx context.Context, done <-chan struct{}, interval, period time.Duration) int {
	return spawnLeaks(ctx, interval, func(int) {
		go tickerLoopWorker(done, period)
	})
}

// tickerLoopWorker polls every period until done is closed. Its ticker is never stopped either.
func tickerLoopWorker(done <-chan struct{}, period time.Duration) {
	t := time.NewTicker(period)
	polls := 0
	for {
		select {
		case <-t.C:
			polls++
		case <-done:
			return
		}
	}
}

package main

import (
	"context"
	"crypto/sha256"
	"time"
)

// chanSendLeakInterval starts one leaking goroutine every 200 ms: 5 a second.
const chanSendLeakInterval = 200 * time.Millisecond

// runLeakChanSend is the classic leak: a request hands work to a goroutine with an unbuffered results channel,
// times out and returns without reading it, so the worker blocks forever on its send. Each request has its own
// channel, which nothing references once the request returned: the goroutineleak profile (GOEXPERIMENT=
// goroutineleakprofile) can prove these goroutines leaked.
func runLeakChanSend(ctx context.Context, _ *zoo) {
	leakChanSends(ctx, chanSendLeakInterval, func() chan [32]byte {
		return make(chan [32]byte) // unbuffered, and the requester is gone: the bug
	})
}

// leakChanSends starts a worker sending to a channel from newResults every interval until ctx ends and returns
// how many it started. (Tests hand out one shared channel, so that they can drain it.)
func leakChanSends(ctx context.Context, interval time.Duration, newResults func() chan [32]byte) int {
	return spawnLeaks(ctx, interval, func(job int) {
		go leakChanSendWorker(newResults(), job)
	})
}

// leakChanSendWorker computes a result and sends it to a caller that is gone.
func leakChanSendWorker(results chan<- [32]byte, job int) {
	payload := make([]byte, 512)
	payload[0] = byte(job)
	results <- sha256.Sum256(payload)
}

// spawnLeaks calls start every interval with a job number, until ctx ends; it returns how many it started.
func spawnLeaks(ctx context.Context, interval time.Duration, start func(job int)) int {
	n := 0
	every(ctx, interval, func() bool {
		start(n)
		n++
		return true
	})
	return n
}

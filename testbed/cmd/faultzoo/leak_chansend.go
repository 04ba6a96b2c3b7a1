package main

import (
	"context"
	"crypto/sha256"
	"time"
)

// chanSendLeakInterval starts one leaking goroutine every 200 ms: 5 a second.
const chanSendLeakInterval = 200 * time.Millisecond

// runLeakChanSend is the classic leak: a fan-out whose caller timed out and stopped reading the results channel,
// so every worker blocks forever on its send.
func runLeakChanSend(ctx context.Context, _ *zoo) {
	results := make(chan [32]byte) // unbuffered, and nobody receives: the bug
	leakChanSends(ctx, results, chanSendLeakInterval)
}

// leakChanSends starts a worker sending to results every interval until ctx ends and returns how many it started.
func leakChanSends(ctx context.Context, results chan<- [32]byte, interval time.Duration) int {
	return spawnLeaks(ctx, interval, func(job int) {
		go leakChanSendWorker(results, job)
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

package main

import (
	"context"
	"strconv"
	"time"
)

const leakTick = 20 * time.Millisecond

// runLeak abandons leak-rate requests per second, each leaving one goroutine blocked forever,
// until the knob is turned off or -max-leak goroutines have leaked.
func (w *workloads) runLeak(ctx context.Context) {
	pace := newPacer()
	ticker := time.NewTicker(leakTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			for range pace.due(now, w.leakRate.Load()) {
				if w.leaked.Load() >= w.maxLeak {
					break
				}
				abandonLeakyRequest(w.leaked.Add(1))
			}
		}
	}
}

// abandonLeakyRequest models a request handler that hands work to a goroutine and then gives up
// (say, on a timeout) without reading the result. The result channel is unbuffered and nothing
// else references it, so the worker blocks on its send forever: a real goroutine leak, which the
// goroutineleak profile (GOEXPERIMENT=goroutineleakprofile) can prove.
func abandonLeakyRequest(requestID int64) {
	results := make(chan []byte)
	go leakyHandlerWorker(requestID, results)
}

// leakyHandlerWorker is the leaked goroutine: its name is what profiles show at the leak site.
func leakyHandlerWorker(requestID int64, results chan<- []byte) {
	results <- []byte("response for request " + strconv.FormatInt(requestID, 10))
}

// pacer turns a per-second rate into a whole number of events per tick, carrying the remainder
// and measuring real elapsed time so slow ticks do not lower the rate.
type pacer struct {
	last  time.Time
	carry float64
}

func newPacer() *pacer { return &pacer{last: time.Now()} }

// maxCatchUp bounds the events released after a long stall (for example a stopped process).
const maxCatchUp = time.Second

func (p *pacer) due(now time.Time, perSecond int64) int64 {
	elapsed := min(now.Sub(p.last), maxCatchUp)
	p.last = now
	if elapsed <= 0 {
		return 0
	}
	p.carry += float64(perSecond) * elapsed.Seconds()
	n := int64(p.carry)
	p.carry -= float64(n)
	return n
}

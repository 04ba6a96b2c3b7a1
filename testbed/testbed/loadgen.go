package testbed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// LoadOptions shapes one load generator run.
type LoadOptions struct {
	// Source is this generator's index; it goes into the high bits of every id, so generators never share ids.
	Source int
	// Signals are produced round-robin, one batch at a time (default: traces, metrics, logs).
	Signals []Signal
	// BatchSize is the number of items per request (default 100).
	BatchSize int
	// Rate is the target in items per second over all signals; 0 sends as fast as the collector accepts.
	Rate float64
	// MaxItems stops generation after this many items (0: no count bound, Duration must be set).
	MaxItems int64
	// Duration stops generation after this long (0: no time bound, MaxItems must be set).
	Duration time.Duration
	// Workers is the number of concurrent requests (default 1).
	Workers int
	// AttemptTimeout bounds one request (default 10 s).
	AttemptTimeout time.Duration
	// RetryFor bounds how long one batch is retried after retryable refusals (default 2 min).
	RetryFor time.Duration
}

func (o *LoadOptions) withDefaults() (LoadOptions, error) {
	opts := *o
	if len(opts.Signals) == 0 {
		opts.Signals = AllSignals
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 10 * time.Second
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 2 * time.Minute
	}
	if opts.MaxItems <= 0 && opts.Duration <= 0 {
		return opts, errors.New("load options: set MaxItems or Duration so the run is bounded")
	}
	if opts.Rate < 0 {
		return opts, fmt.Errorf("load options: Rate %v must be >= 0", opts.Rate)
	}
	return opts, nil
}

// LoadStats is the outcome of a run.
type LoadStats struct {
	Sender string
	// Generated counts items handed to the sender; Sent counts items the collector acknowledged; Failed counts
	// items given up on (permanent refusals, retry budget exhausted, run cancelled).
	Generated, Sent, Failed int64
	// Requests counts acknowledged requests; Retries counts re-sent attempts after retryable refusals.
	Requests, Retries int64
	// Refusals counts refused attempts by code ("Unavailable", "503", "conn").
	Refusals map[string]int64
	// Elapsed is the time from the first request to the last acknowledgement.
	Elapsed   time.Duration
	WireBytes int64
}

// ItemsPerSecond is Sent divided by Elapsed.
func (s LoadStats) ItemsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// LoadGenerator sends uniquely identified items through a Sender and remembers which ids were acknowledged.
type LoadGenerator struct {
	sender Sender
	opts   LoadOptions

	sent   map[Signal]*IDCounter
	failed map[Signal]*IDCounter
	// retried holds the ids of batches acknowledged only after a retry: if an earlier attempt
	// was stored but its answer lost (a kill -9 of the receiving collector), they arrive twice.
	retried map[Signal]*IDCounter

	generated, sentItems, failedItems, requests, retries atomic.Int64
	refusalsMu                                           sync.Mutex
	refusals                                             map[string]int64
	lastErrMu                                            sync.Mutex
	lastErr                                              error
}

// NewLoadGenerator prepares a run; it does not own sender (the caller closes it).
func NewLoadGenerator(sender Sender, opts LoadOptions) (*LoadGenerator, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &LoadGenerator{
		sender:   sender,
		opts:     o,
		sent:     map[Signal]*IDCounter{},
		failed:   map[Signal]*IDCounter{},
		retried:  map[Signal]*IDCounter{},
		refusals: map[string]int64{},
	}
	for _, s := range AllSignals {
		g.sent[s] = NewIDCounter()
		g.failed[s] = NewIDCounter()
		g.retried[s] = NewIDCounter()
	}
	return g, nil
}

// Sent returns the acknowledged ids of signal.
func (g *LoadGenerator) Sent(s Signal) *IDCounter { return g.sent[s] }

// Failed returns the ids of signal that were given up on (they may still arrive: a timed-out request can have been
// accepted).
func (g *LoadGenerator) Failed(s Signal) *IDCounter { return g.failed[s] }

// Retried returns the ids of signal s acknowledged only after more than one attempt.
func (g *LoadGenerator) Retried(s Signal) *IDCounter { return g.retried[s] }

// LastError returns the last non-retryable error or the error that exhausted a retry budget.
func (g *LoadGenerator) LastError() error {
	g.lastErrMu.Lock()
	defer g.lastErrMu.Unlock()
	return g.lastErr
}

// Stats returns the counters so far.
func (g *LoadGenerator) Stats() LoadStats {
	g.refusalsMu.Lock()
	ref := make(map[string]int64, len(g.refusals))
	for k, v := range g.refusals {
		ref[k] = v
	}
	g.refusalsMu.Unlock()
	return LoadStats{
		Sender:    g.sender.Name(),
		Generated: g.generated.Load(),
		Sent:      g.sentItems.Load(),
		Failed:    g.failedItems.Load(),
		Requests:  g.requests.Load(),
		Retries:   g.retries.Load(),
		Refusals:  ref,
		WireBytes: g.sender.WireBytes(),
	}
}

// Run generates until MaxItems or Duration is reached, waits for every batch to be acknowledged or given up on,
// and returns the stats. Cancelling ctx stops generation and retries.
func (g *LoadGenerator) Run(ctx context.Context) LoadStats {
	o := g.opts
	batches := make(chan Batch, o.Workers)
	var wg sync.WaitGroup
	start := time.Now()
	var lastAck atomic.Int64
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if g.deliver(ctx, b) {
					lastAck.Store(int64(time.Since(start)))
				}
			}
		}()
	}

	g.produce(ctx, start, batches)
	close(batches)
	wg.Wait()

	st := g.Stats()
	st.Elapsed = time.Duration(lastAck.Load())
	return st
}

func (g *LoadGenerator) produce(ctx context.Context, start time.Time, batches chan<- Batch) {
	o := g.opts
	var deadline <-chan time.Time
	if o.Duration > 0 {
		timer := time.NewTimer(o.Duration)
		defer timer.Stop()
		deadline = timer.C
	}
	var seq int64
	for n := 0; ; n++ {
		size := int64(o.BatchSize)
		if o.MaxItems > 0 {
			if seq >= o.MaxItems {
				return
			}
			size = min(size, o.MaxItems-seq)
		}
		if o.Rate > 0 {
			// Pace by the schedule rather than by sleeps, so slow sends do not lower the average rate.
			due := start.Add(time.Duration(float64(seq) / o.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-deadline:
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		ids := make([]int64, size)
		for i := range ids {
			ids[i] = MakeID(o.Source, seq+int64(i))
		}
		b := NewBatch(o.Signals[n%len(o.Signals)], o.Source, ids)
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case batches <- b:
			seq += size
			g.generated.Add(size)
		}
	}
}

// deliver sends b until it is acknowledged, refused permanently, its retry budget ends or ctx ends.
func (g *LoadGenerator) deliver(ctx context.Context, b Batch) bool {
	o := g.opts
	giveUp := time.Now().Add(o.RetryFor)
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			g.retries.Add(1)
		}
		actx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
		err := g.sender.Send(actx, b)
		cancel()
		if err == nil {
			g.sent[b.Signal].Add(b.IDs...)
			if attempt > 0 {
				g.retried[b.Signal].Add(b.IDs...)
			}
			g.sentItems.Add(int64(b.Len()))
			g.requests.Add(1)
			return true
		}
		g.countRefusal(err)
		if !IsRetryable(err) || ctx.Err() != nil || time.Now().After(giveUp) {
			g.fail(b, err)
			return false
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			g.fail(b, ctx.Err())
			return false
		case <-t.C:
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (g *LoadGenerator) countRefusal(err error) {
	code := "error"
	var se *SendError
	if errors.As(err, &se) {
		code = se.Code
	}
	g.refusalsMu.Lock()
	g.refusals[code]++
	g.refusalsMu.Unlock()
}

func (g *LoadGenerator) fail(b Batch, err error) {
	g.failed[b.Signal].Add(b.IDs...)
	g.failedItems.Add(int64(b.Len()))
	g.lastErrMu.Lock()
	g.lastErr = fmt.Errorf("%s batch of %d given up: %w", b.Signal, b.Len(), err)
	g.lastErrMu.Unlock()
}

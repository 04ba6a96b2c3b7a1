package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// Signal bits of dedupEntry.delivered.
const (
	deliveredTraces uint8 = 1 << iota
	deliveredMetrics
	deliveredLogs
)

type dedupKey struct {
	sender   string
	sequence uint64
}

// dedupEntry remembers what happened to one batch. delivered marks the signals that
// are done (forwarded, or rejected for good); a retried batch only forwards the others.
type dedupEntry struct {
	key       dedupKey
	at        time.Time
	delivered uint8
	result    otlptx.Response
	inFlight  bool
	slot      int
	n         uint64 // the slot counter when the entry got its slot
}

// dedupCache is a fixed-size ring of remembered batches plus an index: memory is bounded
// by MaxEntries; an entry is forgotten when its slot is reused or it is older than the
// window. With a storage client, every change to a slot is written through to the same
// slot in storage, and the ring is reloaded at start.
type dedupCache struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	ring    []*dedupEntry
	next    uint64 // total slots ever written; next slot is next % len(ring)
	entries map[dedupKey]*dedupEntry
	// stamp orders the snapshots of slots: each persisted snapshot gets the next stamp.
	stamp uint64

	// Storage I/O happens outside mu. A slot's writes are serialised by its stripe lock and
	// a snapshot older than the slot's last written one is skipped (slotStamp), so writes
	// for different slots run in parallel and a slot never goes back in time.
	stripes   [64]sync.Mutex
	slotStamp []uint64

	// clientMu guards client: held shared during I/O, exclusively to detach it at
	// shutdown, so no request writes to a closed client.
	clientMu sync.RWMutex
	client   storage.Client // nil: in memory only (or detached)
}

type lookupState int

const (
	// lookupNew: never seen (or forgotten); the caller owns the entry.
	lookupNew lookupState = iota
	// lookupPartial: seen, some signals still to deliver; the caller owns the entry.
	lookupPartial
	// lookupComplete: every signal was delivered before; answer as a duplicate.
	lookupComplete
	// lookupInFlight: another request is delivering the same batch right now.
	lookupInFlight
)

func newDedupCache(maxEntries int, window time.Duration) *dedupCache {
	return &dedupCache{
		window:    window,
		now:       time.Now,
		ring:      make([]*dedupEntry, maxEntries),
		slotStamp: make([]uint64, maxEntries),
		entries:   make(map[dedupKey]*dedupEntry, min(maxEntries, 1<<16)),
	}
}

// begin looks key up; for lookupNew and lookupPartial the entry is marked in flight and
// must be released with finish.
func (c *dedupCache) begin(key dedupKey, want uint8) (*dedupEntry, lookupState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[key]
	if found && c.now().Sub(e.at) > c.window && !e.inFlight {
		c.forgetLocked(e)
		found = false
	}
	if !found {
		e = &dedupEntry{key: key, at: c.now(), inFlight: true, slot: -1}
		c.entries[key] = e
		return e, lookupNew
	}
	if e.inFlight {
		return e, lookupInFlight
	}
	if e.delivered&want == want {
		return e, lookupComplete
	}
	e.inFlight = true
	return e, lookupPartial
}

func (c *dedupCache) forgetLocked(e *dedupEntry) {
	delete(c.entries, e.key)
	if e.slot >= 0 && c.ring[e.slot] == e {
		c.ring[e.slot] = nil
	}
}

// markDelivered records that one signal of the batch is done (forwarded, or rejected for good) and persists the
// entry at once: a gateway killed before the batch's other signals are done still remembers this one, so the
// sender's re-send does not forward it a second time. The storage write happens outside the cache's lock.
func (c *dedupCache) markDelivered(ctx context.Context, e *dedupEntry, bit uint8, result otlptx.SignalResult) error {
	c.mu.Lock()
	e.delivered |= bit
	e.at = c.now()
	mergeSignal(signalResult(&e.result, bit), result)
	if e.slot < 0 {
		slot := int(c.next % uint64(len(c.ring)))
		e.n = c.next
		c.next++
		if old := c.ring[slot]; old != nil && old != e {
			if old.inFlight {
				// Never evict an entry a request still owns; it re-inserts itself.
				old.slot = -1
			} else {
				delete(c.entries, old.key)
			}
		}
		c.ring[slot] = e
		e.slot = slot
	}
	c.stamp++
	stamp, slot := c.stamp, e.slot
	raw, err := json.Marshal(persistedEntry{
		Sender: e.key.sender, Sequence: e.key.sequence, At: e.at, Delivered: e.delivered, N: e.n,
		Counts: [6]uint64{
			e.result.Traces.Accepted, e.result.Traces.Rejected,
			e.result.Metrics.Accepted, e.result.Metrics.Rejected,
			e.result.Logs.Accepted, e.result.Logs.Rejected,
		},
	})
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode dedup entry: %w", err)
	}
	return c.persistSlot(ctx, slot, stamp, raw)
}

// persistSlot writes a slot's snapshot unless a newer one was written already.
func (c *dedupCache) persistSlot(ctx context.Context, slot int, stamp uint64, raw []byte) error {
	c.clientMu.RLock()
	defer c.clientMu.RUnlock()
	if c.client == nil {
		return nil
	}
	stripe := &c.stripes[slot%len(c.stripes)]
	stripe.Lock()
	defer stripe.Unlock()
	if c.slotStamp[slot] > stamp {
		return nil
	}
	if err := c.client.Batch(ctx, storage.SetOperation(ringSlotPrefix+strconv.Itoa(slot), raw)); err != nil {
		return fmt.Errorf("persist dedup entry: %w", err)
	}
	c.slotStamp[slot] = stamp
	return nil
}

// detach stops persistence and returns the client for closing; it waits for writes in progress.
func (c *dedupCache) detach() storage.Client {
	c.clientMu.Lock()
	defer c.clientMu.Unlock()
	client := c.client
	c.client = nil
	return client
}

// release ends the request's ownership of e. An entry with nothing delivered is forgotten, so a retry is treated
// as new.
func (c *dedupCache) release(e *dedupEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.inFlight = false
	if e.delivered == 0 && e.slot < 0 {
		delete(c.entries, e.key)
	}
}

// signalResult returns the part of r that belongs to the signal bit.
func signalResult(r *otlptx.Response, bit uint8) *otlptx.SignalResult {
	switch bit {
	case deliveredTraces:
		return &r.Traces
	case deliveredMetrics:
		return &r.Metrics
	default:
		return &r.Logs
	}
}

// mergeSignal adds a retry's counts of one signal to the earlier attempts'.
func mergeSignal(dst *otlptx.SignalResult, src otlptx.SignalResult) {
	dst.Accepted += src.Accepted
	dst.Rejected += src.Rejected
	if src.ErrorMessage != "" {
		dst.ErrorMessage = src.ErrorMessage
	}
}

// Storage layout: "ring/<slot>" holds the JSON persistedEntry of that slot,
// "ring/next" the slot counter.
const (
	ringNextKey    = "ring/next"
	ringSizeKey    = "ring/size"
	ringSlotPrefix = "ring/"
)

// errRingResized is returned by load when the stored ring has another size: its slots
// cannot be mapped, so the stored state is discarded.
var errRingResized = errors.New("dedup.max_entries changed since the state was stored; starting with empty dedup state")

type persistedEntry struct {
	Sender    string    `json:"s"`
	Sequence  uint64    `json:"q"`
	At        time.Time `json:"t"`
	Delivered uint8     `json:"d"`
	Counts    [6]uint64 `json:"c"` // accepted/rejected for traces, metrics, logs
	// N is the slot counter when the entry got its slot; 0 in state written before it was recorded.
	N uint64 `json:"n,omitempty"`
}

// loadChunk is how many slots load reads in one storage call.
const loadChunk = 1024

// load restores the ring client holds (entries still within the window), reading the slots in chunks of one
// storage call each, then attaches client. The cache must not be used meanwhile (the receiver holds requests
// until load returns). Slots are placed by the slot counter stored with them: no single key is rewritten by
// every request.
func (c *dedupCache) load(ctx context.Context, client storage.Client) (int, error) {
	size := []byte(strconv.Itoa(len(c.ring)))
	ops := []*storage.Operation{storage.GetOperation(ringSizeKey), storage.GetOperation(ringNextKey), storage.GetOperation(ringSlotPrefix + "0")}
	if err := client.Batch(ctx, ops...); err != nil {
		return 0, fmt.Errorf("read dedup ring size: %w", err)
	}
	storedSize, storedNextRaw, firstSlot := ops[0].Value, ops[1].Value, ops[2].Value
	known := storedNextRaw != nil || firstSlot != nil
	if !known || string(storedSize) != string(size) {
		// Fresh state: stale slots are overwritten.
		if err := client.Batch(ctx, storage.SetOperation(ringSizeKey, size), storage.DeleteOperation(ringNextKey)); err != nil {
			return 0, fmt.Errorf("initialise dedup state: %w", err)
		}
		c.attach(client)
		if known && storedSize != nil {
			return 0, errRingResized
		}
		return 0, nil
	}
	// State written before slots recorded their counter: ring/next says where the ring stood.
	var legacyNext uint64
	if storedNextRaw != nil {
		v, err := strconv.ParseUint(string(storedNextRaw), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("decode dedup ring position %q: %w", storedNextRaw, err)
		}
		legacyNext = v
	}
	size64 := uint64(len(c.ring))
	oldest := c.now().Add(-c.window)
	var restored []*dedupEntry
	var next uint64
	for from := 0; from < len(c.ring); from += loadChunk {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("load dedup state: %w", err)
		}
		to := min(len(c.ring), from+loadChunk)
		ops := make([]*storage.Operation, 0, to-from)
		for slot := from; slot < to; slot++ {
			ops = append(ops, storage.GetOperation(ringSlotPrefix+strconv.Itoa(slot)))
		}
		if err := client.Batch(ctx, ops...); err != nil {
			return 0, fmt.Errorf("read dedup slots %d-%d: %w", from, to-1, err)
		}
		for i, op := range ops {
			if op.Value == nil {
				continue
			}
			var p persistedEntry
			if err := json.Unmarshal(op.Value, &p); err != nil {
				continue // a damaged slot only weakens dedup for one batch
			}
			slot := from + i
			n := p.N
			if n == 0 && legacyNext > 0 {
				// The newest counter value below legacyNext that maps to this slot.
				last := legacyNext - 1
				base := last - last%size64
				switch {
				case uint64(slot) <= last%size64:
					n = base + uint64(slot)
				case base >= size64:
					n = base - size64 + uint64(slot)
				default:
					continue // never written in the stored ring
				}
			}
			next = max(next, n+1)
			if p.At.Before(oldest) {
				continue
			}
			restored = append(restored, &dedupEntry{
				key: dedupKey{sender: p.Sender, sequence: p.Sequence}, at: p.At, delivered: p.Delivered, slot: slot, n: n,
				result: otlptx.Response{
					Traces:  otlptx.SignalResult{Accepted: p.Counts[0], Rejected: p.Counts[1]},
					Metrics: otlptx.SignalResult{Accepted: p.Counts[2], Rejected: p.Counts[3]},
					Logs:    otlptx.SignalResult{Accepted: p.Counts[4], Rejected: p.Counts[5]},
				},
			})
		}
	}
	c.mu.Lock()
	c.next = max(next, legacyNext)
	for _, e := range restored {
		if old := c.entries[e.key]; old != nil {
			if old.n > e.n {
				continue
			}
			c.forgetLocked(old)
		}
		c.ring[e.slot] = e
		c.entries[e.key] = e
	}
	c.mu.Unlock()
	c.attach(client)
	return len(restored), nil
}

func (c *dedupCache) attach(client storage.Client) {
	c.clientMu.Lock()
	c.client = client
	c.clientMu.Unlock()
}

func (c *dedupCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

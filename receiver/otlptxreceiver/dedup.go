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
}

// dedupCache is a fixed-size ring of remembered batches plus an index: memory is bounded
// by MaxEntries; an entry is forgotten when its slot is reused or it is older than the
// window. With a storage client, every change to a slot is written through to the same
// slot in storage, and the ring is reloaded at start.
type dedupCache struct {
	window time.Duration
	now    func() time.Time
	client storage.Client // nil: in memory only

	mu      sync.Mutex
	ring    []*dedupEntry
	next    uint64 // total slots ever written; next slot is next % len(ring)
	entries map[dedupKey]*dedupEntry
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
		window:  window,
		now:     time.Now,
		ring:    make([]*dedupEntry, maxEntries),
		entries: make(map[dedupKey]*dedupEntry, min(maxEntries, 1<<16)),
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
// sender's re-send does not forward it a second time.
func (c *dedupCache) markDelivered(ctx context.Context, e *dedupEntry, bit uint8, result otlptx.SignalResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.delivered |= bit
	e.at = c.now()
	mergeSignal(signalResult(&e.result, bit), result)
	if e.slot < 0 {
		slot := int(c.next % uint64(len(c.ring)))
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
	if c.client == nil {
		return nil
	}
	return c.persistLocked(ctx, e)
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
}

func (c *dedupCache) persistLocked(ctx context.Context, e *dedupEntry) error {
	raw, err := json.Marshal(persistedEntry{
		Sender: e.key.sender, Sequence: e.key.sequence, At: e.at, Delivered: e.delivered,
		Counts: [6]uint64{
			e.result.Traces.Accepted, e.result.Traces.Rejected,
			e.result.Metrics.Accepted, e.result.Metrics.Rejected,
			e.result.Logs.Accepted, e.result.Logs.Rejected,
		},
	})
	if err != nil {
		return fmt.Errorf("encode dedup entry: %w", err)
	}
	err = c.client.Batch(ctx,
		storage.SetOperation(ringSlotPrefix+strconv.Itoa(e.slot), raw),
		storage.SetOperation(ringNextKey, []byte(strconv.FormatUint(c.next, 10))))
	if err != nil {
		return fmt.Errorf("persist dedup entry: %w", err)
	}
	return nil
}

// load attaches client and restores the ring it holds (entries still within the window).
func (c *dedupCache) load(ctx context.Context, client storage.Client) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.client = client
	size := []byte(strconv.Itoa(len(c.ring)))
	storedSize, err := client.Get(ctx, ringSizeKey)
	if err != nil {
		return 0, fmt.Errorf("read dedup ring size: %w", err)
	}
	raw, err := client.Get(ctx, ringNextKey)
	if err != nil {
		return 0, fmt.Errorf("read dedup ring position: %w", err)
	}
	if raw == nil || string(storedSize) != string(size) {
		// Fresh state: the slot counter restarts and stale slots are overwritten.
		if err := client.Batch(ctx, storage.SetOperation(ringSizeKey, size), storage.SetOperation(ringNextKey, []byte("0"))); err != nil {
			return 0, fmt.Errorf("initialise dedup state: %w", err)
		}
		if raw != nil {
			return 0, errRingResized
		}
		return 0, nil
	}
	storedNext, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("decode dedup ring position %q: %w", raw, err)
	}
	var restored []*dedupEntry
	oldest := c.now().Add(-c.window)
	// Read the previous ring from the oldest slot to the newest.
	count := min(storedNext, uint64(len(c.ring)))
	for i := storedNext - count; i < storedNext; i++ {
		slot := int(i % uint64(len(c.ring)))
		raw, err := client.Get(ctx, ringSlotPrefix+strconv.Itoa(slot))
		if err != nil {
			return 0, fmt.Errorf("read dedup slot %d: %w", slot, err)
		}
		if raw == nil {
			continue
		}
		var p persistedEntry
		if err := json.Unmarshal(raw, &p); err != nil {
			continue // a damaged slot only weakens dedup for one batch
		}
		if p.At.Before(oldest) {
			continue
		}
		restored = append(restored, &dedupEntry{
			key: dedupKey{sender: p.Sender, sequence: p.Sequence}, at: p.At, delivered: p.Delivered, slot: slot,
			result: otlptx.Response{
				Traces:  otlptx.SignalResult{Accepted: p.Counts[0], Rejected: p.Counts[1]},
				Metrics: otlptx.SignalResult{Accepted: p.Counts[2], Rejected: p.Counts[3]},
				Logs:    otlptx.SignalResult{Accepted: p.Counts[4], Rejected: p.Counts[5]},
			},
		})
	}
	c.next = storedNext
	for _, e := range restored {
		if old := c.entries[e.key]; old != nil {
			c.forgetLocked(old)
		}
		c.ring[e.slot] = e
		c.entries[e.key] = e
	}
	return len(restored), nil
}

func (c *dedupCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

package otlptxreceiver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

func TestDedupCacheBoundsAndWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newDedupCache(3, time.Minute)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	all := deliveredTraces

	for seq := range uint64(5) {
		e, state := c.begin(dedupKey{"a", seq}, all)
		require.Equal(t, lookupNew, state)
		require.NoError(t, c.markDelivered(ctx, e, all, otlptx.SignalResult{Accepted: 1}))
		c.release(e)
	}
	assert.Equal(t, 3, c.len(), "ring keeps max_entries batches")
	_, state := c.begin(dedupKey{"a", 0}, all)
	assert.Equal(t, lookupNew, state, "oldest entry evicted")
	_, state = c.begin(dedupKey{"a", 4}, all)
	assert.Equal(t, lookupComplete, state)

	now = now.Add(2 * time.Minute)
	_, state = c.begin(dedupKey{"a", 4}, all)
	assert.Equal(t, lookupNew, state, "entry older than the window is forgotten")
}

func TestDedupCacheInFlight(t *testing.T) {
	c := newDedupCache(10, time.Minute)
	key := dedupKey{"a", 1}
	e, state := c.begin(key, deliveredLogs)
	require.Equal(t, lookupNew, state)
	_, state = c.begin(key, deliveredLogs)
	assert.Equal(t, lookupInFlight, state)
	c.release(e)
	_, state = c.begin(key, deliveredLogs)
	assert.Equal(t, lookupNew, state, "a batch that delivered nothing is not remembered")
}

// TestDedupRingReloadContinuesWhereItStood: a reloaded ring knows the newest entries and
// the next entry replaces the oldest, as if the receiver had not restarted.
func TestDedupRingReloadContinuesWhereItStood(t *testing.T) {
	ctx := context.Background()
	client := newMemClient()
	c := newDedupCache(3, time.Hour)
	_, err := c.load(ctx, client)
	require.NoError(t, err)
	mark := func(c *dedupCache, seq uint64) {
		e, state := c.begin(dedupKey{"a", seq}, deliveredTraces)
		require.Equal(t, lookupNew, state)
		require.NoError(t, c.markDelivered(ctx, e, deliveredTraces, otlptx.SignalResult{Accepted: 1}))
		c.release(e)
	}
	for seq := range uint64(5) {
		mark(c, seq)
	}

	reloaded := newDedupCache(3, time.Hour)
	n, err := reloaded.load(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	for seq, want := range []lookupState{lookupNew, lookupNew, lookupComplete, lookupComplete, lookupComplete} {
		e, state := reloaded.begin(dedupKey{"a", uint64(seq)}, deliveredTraces)
		assert.Equal(t, want, state, "sequence %d", seq)
		if state == lookupNew {
			reloaded.release(e)
		}
	}
	mark(reloaded, 5)
	_, state := reloaded.begin(dedupKey{"a", 2}, deliveredTraces)
	assert.Equal(t, lookupNew, state, "the oldest remembered entry made room")
	_, state = reloaded.begin(dedupKey{"a", 3}, deliveredTraces)
	assert.Equal(t, lookupComplete, state)
}

// TestDedupConcurrentWritesKeepTheNewestState: many requests persist at once (no global
// lock across storage I/O); every slot ends with its newest snapshot.
func TestDedupConcurrentWritesKeepTheNewestState(t *testing.T) {
	ctx := context.Background()
	client := newMemClient()
	c := newDedupCache(64, time.Hour)
	_, err := c.load(ctx, client)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for seq := range uint64(200) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, state := c.begin(dedupKey{"a", seq}, deliveredTraces|deliveredLogs)
			if state != lookupNew {
				return
			}
			assert.NoError(t, c.markDelivered(ctx, e, deliveredTraces, otlptx.SignalResult{Accepted: 1}))
			assert.NoError(t, c.markDelivered(ctx, e, deliveredLogs, otlptx.SignalResult{Accepted: 1}))
			c.release(e)
		}()
	}
	wg.Wait()
	reloaded := newDedupCache(64, time.Hour)
	n, err := reloaded.load(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, 64, n)
	reloaded.mu.Lock()
	defer reloaded.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for slot, e := range c.ring {
		got := reloaded.ring[slot]
		require.NotNil(t, got, "slot %d", slot)
		assert.Equal(t, e.key, got.key, "slot %d", slot)
		assert.Equal(t, deliveredTraces|deliveredLogs, got.delivered, "slot %d keeps its newest snapshot", slot)
	}
}

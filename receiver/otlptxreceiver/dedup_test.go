package otlptxreceiver

import (
	"context"
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

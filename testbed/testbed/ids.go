package testbed

import (
	"sort"
	"sync"
)

// IDCounter counts how often each id was seen. It is safe for concurrent use.
type IDCounter struct {
	mu     sync.Mutex
	counts map[int64]uint32
	total  int64
}

// NewIDCounter returns an empty counter.
func NewIDCounter() *IDCounter { return &IDCounter{counts: map[int64]uint32{}} }

// Add counts each id once more.
func (c *IDCounter) Add(ids ...int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.counts[id]++
	}
	c.total += int64(len(ids))
}

// Unique returns the number of distinct ids.
func (c *IDCounter) Unique() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.counts)
}

// Total returns the number of ids counted, duplicates included.
func (c *IDCounter) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Count returns how often id was seen.
func (c *IDCounter) Count(id int64) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[id]
}

// Snapshot copies the counts.
func (c *IDCounter) Snapshot() map[int64]uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int64]uint32, len(c.counts))
	for id, n := range c.counts {
		out[id] = n
	}
	return out
}

// ContainsAll reports whether every id of want was seen at least once.
func (c *IDCounter) ContainsAll(want *IDCounter) bool {
	w := want.Snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range w {
		if c.counts[id] == 0 {
			return false
		}
	}
	return true
}

// SortedIDs returns the distinct ids in ascending order.
func (c *IDCounter) SortedIDs() []int64 {
	c.mu.Lock()
	out := make([]int64, 0, len(c.counts))
	for id := range c.counts {
		out = append(out, id)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

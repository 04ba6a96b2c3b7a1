package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// mutexLeakInterval starts one updater every 500 ms: 2 a second.
const mutexLeakInterval = 500 * time.Millisecond

var errOutOfStock = errors.New("out of stock")

// inventory is a service's shared state behind one mutex.
type inventory struct {
	mu    sync.Mutex
	stock map[string]int
}

// reserve has the bug: its early return for an empty item forgets to unlock.
func (inv *inventory) reserve(item string) error {
	inv.mu.Lock()
	if inv.stock[item] == 0 {
		return errOutOfStock // the mutex stays locked
	}
	inv.stock[item]--
	inv.mu.Unlock()
	return nil
}

// runLeakMutex hits the buggy path once at the onset; from then on every updater blocks on the mutex forever.
func runLeakMutex(ctx context.Context, _ *zoo) {
	inv := &inventory{stock: map[string]int{"widget": 1}}
	_ = inv.reserve("widget")
	_ = inv.reserve("widget") // out of stock: returns with the mutex held
	leakLockedUpdaters(ctx, inv, mutexLeakInterval)
}

// leakLockedUpdaters starts an updater every interval until ctx ends and returns how many it started.
func leakLockedUpdaters(ctx context.Context, inv *inventory, interval time.Duration) int {
	return spawnLeaks(ctx, interval, func(job int) {
		go lockedUpdater(inv, job)
	})
}

// lockedUpdater restocks the inventory; it blocks in Lock for as long as the mutex stays held.
func lockedUpdater(inv *inventory, amount int) {
	inv.mu.Lock()
	inv.stock["widget"] += amount
	inv.mu.Unlock()
}

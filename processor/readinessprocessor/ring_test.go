package readinessprocessor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ring's lowest value, kept as samples come and go, never exceeds a scan of what it holds (a screen that
// compares it with the recent highest may only be too cautious), and is exact again once rescanAfter samples left.
func TestRingSpreadMatchesAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := newRing(50)
	ts := int64(0)
	for step := 0; step < 5000; step++ {
		ts += 10
		r.push(sample{ts: ts, v: math.Round(rng.Float64() * 100)})
		if rng.IntN(4) == 0 {
			r.dropBefore(ts - int64(rng.IntN(400)))
		}
		if rng.IntN(200) == 0 {
			r.reset()
			continue
		}
		low, high := r.spread(4)
		wantLow, wantHigh := math.Inf(1), math.Inf(-1)
		for i := 0; i < r.len(); i++ {
			wantLow = min(wantLow, r.at(i).v)
			if i >= r.len()-4 {
				wantHigh = max(wantHigh, r.at(i).v)
			}
		}
		require.LessOrEqual(t, low, wantLow, "step %d", step)
		if low != wantLow {
			require.True(t, r.lowStale && r.leftSinceScan < rescanAfter, "step %d: stale low %v (want %v) after %d samples left", step, low, wantLow, r.leftSinceScan)
		}
		require.Equal(t, wantHigh, high, "step %d", step)
	}
}

// The counter rate read in place matches the rate of the copied and trimmed window it replaces.
func TestRingCounterRateMatchesTheWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := newRing(40)
	ts, v := int64(0), 0.0
	for step := 0; step < 3000; step++ {
		ts += 5 + int64(rng.IntN(20))
		if rng.IntN(50) == 0 {
			v = 0 // a reset
		}
		v += math.Round(rng.Float64() * 10)
		r.push(sample{ts: ts, v: v})
		window, maxGap := int64(20+rng.IntN(200)), int64(10+rng.IntN(40))
		to := ts - int64(rng.IntN(30))
		wantRate, wantCovered := counterRate(trimBefore(r.window(nil, to-window-maxGap, to), to-window), maxGap)
		rate, covered := r.counterRate(to, window, maxGap)
		require.Equal(t, wantCovered, covered, "step %d", step)
		require.InDelta(t, wantRate, rate, 1e-9*math.Max(1, math.Abs(wantRate)), "step %d", step)
	}
}

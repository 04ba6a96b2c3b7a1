package readinessprocessor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ring's lowest value, kept as samples come and go, matches a scan of what it holds.
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
		require.Equal(t, wantLow, low, "step %d", step)
		require.Equal(t, wantHigh, high, "step %d", step)
	}
}

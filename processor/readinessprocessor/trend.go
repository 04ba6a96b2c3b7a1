package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"slices"
)

// trendScratch holds buffers reused between evaluations.
type trendScratch struct {
	vals, slopes []float64
	floors       []floorPoint
	buckets      []floorPoint
	decel        []float64
	samples      []sample
}

// mannKendallIncreasing returns the one-sided p-value of the Mann-Kendall test for an increasing trend, with the
// variance corrected for ties and a continuity correction.
func mannKendallIncreasing(ys []float64, scratch *trendScratch) float64 {
	n := len(ys)
	var s float64
	for i := 0; i < n-1; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case ys[j] > ys[i]:
				s++
			case ys[j] < ys[i]:
				s--
			}
		}
	}
	fn := float64(n)
	variance := fn * (fn - 1) * (2*fn + 5)
	sorted := append(scratch.slopes[:0], ys...)
	slices.Sort(sorted)
	for i := 0; i < n; {
		j := i + 1
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			variance -= t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	scratch.slopes = sorted[:0]
	variance /= 18
	if s <= 0 || variance <= 0 {
		return 1
	}
	z := (s - 1) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// median of v; v is reordered (selection, not a full sort: the medians here are on at most a few hundred values).
func median(v []float64) float64 {
	n := len(v)
	if n == 0 {
		return 0
	}
	m := selectKth(v, n/2)
	if n%2 == 1 {
		return m
	}
	// The lower middle is the largest value below position n/2.
	lower := v[0]
	for _, x := range v[1 : n/2] {
		lower = max(lower, x)
	}
	return (lower + m) / 2
}

// selectKth reorders v so that v[k] is the k-th smallest, everything before it no larger and everything after it
// no smaller, and returns v[k].
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		pivot := v[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// counterRate is the increase per minute of a cumulative counter over the samples, skipping resets (a decrease)
// and gaps longer than maxGap; covered is the time the increase was measured over (ns).
func counterRate(samples []sample, maxGap int64) (perMinute float64, covered int64) {
	var acc counterAccumulator
	for i := 1; i < len(samples); i++ {
		acc.add(samples[i-1], samples[i], maxGap)
	}
	return acc.perMinute()
}

// counterAccumulator adds up a counter's increase over the intervals between consecutive samples.
type counterAccumulator struct {
	inc     float64
	covered int64
}

func (c *counterAccumulator) add(a, b sample, maxGap int64) {
	dt := b.ts - a.ts
	if dt <= 0 || dt > maxGap || b.v < a.v {
		return
	}
	c.inc += b.v - a.v
	c.covered += dt
}

func (c *counterAccumulator) perMinute() (float64, int64) {
	if c.covered == 0 {
		return 0, 0
	}
	return c.inc / float64(c.covered) * 60e9, c.covered
}

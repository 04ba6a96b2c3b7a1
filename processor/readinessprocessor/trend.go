package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"slices"
)

// minCoverage is the share of a window the samples must span before a windowed rule is evaluated: a series that
// started late, or came back after a gap, is not judged on a fraction of a window.
const minCoverage = 0.8

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

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// counterRate is the increase per minute of a cumulative counter over the samples, skipping resets (a decrease)
// and gaps longer than maxGap; covered is the time the increase was measured over (ns).
func counterRate(samples []sample, maxGap int64) (perMinute float64, covered int64) {
	var inc float64
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.ts - a.ts
		if dt <= 0 || dt > maxGap || b.v < a.v {
			continue
		}
		inc += b.v - a.v
		covered += dt
	}
	if covered == 0 {
		return 0, 0
	}
	return inc / float64(covered) * 60e9, covered
}

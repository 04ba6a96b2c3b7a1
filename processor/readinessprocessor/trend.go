package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"slices"
)

// minCoverage is the share of a window the samples must span before a windowed rule is evaluated: a series that
// started late, or came back after a gap, is not judged on a fraction of a window.
const minCoverage = 0.8

// maxTrendBuckets bounds the points of a trend test (its cost is quadratic) and thins autocorrelated samples.
const maxTrendBuckets = 30

// trendResult describes the trend of a signal's floor over a window.
type trendResult struct {
	points       int        // non-empty buckets
	pValue       float64    // one-sided Mann-Kendall p-value for an increasing trend
	slope        float64    // Theil-Sen slope, units per second
	growth       float64    // slope * window
	startLevel   float64    // Theil-Sen line at the window start
	floors       [3]float64 // minimum of each third of the window
	latest       float64
	relGrowth    float64 // growth / startLevel
	insufficient bool
}

// trendOf tests the floor (per-bucket minimum) of samples for a monotonic increase over the window that ends at now.
// Bucket minima ignore bursts (a burst of goroutines or the heap between two GCs) and follow what stays: leaked
// goroutines and live heap. Mann-Kendall is rank based, so a single outlier cannot make a trend.
func trendOf(samples []sample, now int64, window int64, minPoints int, scratch *trendScratch) trendResult {
	var res trendResult
	if len(samples) == 0 || float64(now-samples[0].ts) < minCoverage*float64(window) {
		res.insufficient = true
		return res
	}
	start := now - window
	// Two or more samples per bucket, so a bucket minimum finds the floor between two GCs.
	nb := min(len(samples), max(minPoints, min(maxTrendBuckets, len(samples)/2)))
	scratch.reset(nb)
	width := float64(window) / float64(nb)
	for _, s := range samples {
		b := int(float64(s.ts-start) / width)
		b = min(max(b, 0), nb-1)
		if !scratch.set[b] || s.v < scratch.ys[b] {
			scratch.ys[b] = s.v
		}
		scratch.set[b] = true
	}
	xs, ys := scratch.xs[:0], scratch.vals[:0]
	for b := 0; b < nb; b++ {
		if scratch.set[b] {
			xs = append(xs, (float64(b)+0.5)*width/1e9)
			ys = append(ys, scratch.ys[b])
		}
	}
	res.points = len(xs)
	res.latest = samples[len(samples)-1].v
	if res.points < minPoints {
		res.insufficient = true
		return res
	}
	res.pValue = mannKendallIncreasing(ys, scratch)
	res.slope, res.startLevel = theilSen(xs, ys, scratch)
	res.growth = res.slope * float64(window) / 1e9
	res.relGrowth = res.growth / math.Max(math.Abs(res.startLevel), 1)
	third := len(ys) / 3
	res.floors = [3]float64{slices.Min(ys[:third]), slices.Min(ys[third : len(ys)-third]), slices.Min(ys[len(ys)-third:])}
	return res
}

// trendScratch holds buffers reused between evaluations.
type trendScratch struct {
	xs, ys, vals, slopes []float64
	set                  []bool
	samples              []sample
}

func (t *trendScratch) reset(n int) {
	if cap(t.ys) < n {
		t.ys = make([]float64, n)
		t.set = make([]bool, n)
		t.xs = make([]float64, 0, n)
		t.vals = make([]float64, 0, n)
	}
	t.ys = t.ys[:n]
	t.set = t.set[:n]
	clear(t.set)
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

// theilSen returns the median of pairwise slopes and the median intercept at x = 0.
func theilSen(xs, ys []float64, scratch *trendScratch) (slope, intercept float64) {
	slopes := scratch.slopes[:0]
	for i := 0; i < len(xs)-1; i++ {
		for j := i + 1; j < len(xs); j++ {
			if dx := xs[j] - xs[i]; dx != 0 {
				slopes = append(slopes, (ys[j]-ys[i])/dx)
			}
		}
	}
	slope = median(slopes)
	slopes = slopes[:0]
	for i := range xs {
		slopes = append(slopes, ys[i]-slope*xs[i])
	}
	intercept = median(slopes)
	scratch.slopes = slopes[:0]
	return slope, intercept
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

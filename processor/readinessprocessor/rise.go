package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"time"
)

// riseConfig parameterises the rise test of one signal (total goroutines, live heap, one call site's goroutines).
type riseConfig struct {
	// horizons are judged together, shortest first: a fast leak is obvious on the shortest, a slow one needs the
	// longest. Each is judged once the samples span most of it, so nothing waits for a warm-up.
	horizons []time.Duration
	// minPoints is the fewest floor points a horizon is judged on (the shortest horizon decides how early a series
	// is first judged).
	minPoints int
	// minGrowth and minRelGrowth: the growth over a horizon (robust slope × span) must reach both the absolute
	// amount and this share of the level at the horizon's start, so a wander within its band never counts.
	minGrowth    float64
	minRelGrowth float64
	// significance of the Mann-Kendall test for an increasing floor.
	significance float64
	// sustainRatio: a ramp decelerates, a leak keeps its rate. A horizon half whose slope falls below this share
	// of the half before it (while that half rose by a meaningful amount) marks the rise as a ramp.
	sustainRatio float64
	// floorSpan: each floor point is the minimum of a sample, the next one and any others within this span, so
	// short bursts (request goroutines, the heap between two GCs) do not move the floor.
	floorSpan time.Duration
}

// riseResult is what the rise test concluded at one evaluation.
type riseResult struct {
	judged       bool          // at least one horizon had enough data
	firing       bool          // some horizon shows a sustained rise and no horizon shows a ramp
	decelerating bool          // a ramp: the rise is slowing down
	horizon      time.Duration // the horizon that fired (or the shortest judged one)
	growth       float64       // growth over horizon
	relGrowth    float64       // growth / level at the horizon start
	slopePerMin  float64
	pValue       float64
	level        float64 // floor at the horizon start (robust line)
	latest       float64 // newest raw sample
	points       int
	// slopes holds each judged horizon's slope per minute (NaN: not judged), in the order of riseConfig.horizons:
	// an active episode ends when the slope on its own horizon (at least two minutes) has gone flat.
	slopes [maxHorizons]float64
}

// maxHorizons bounds the horizons of a rise test.
const maxHorizons = 8

// slopeFor returns the slope per minute on the shortest judged horizon that is at least h long (or the longest
// judged one).
func (r *riseResult) slopeFor(cfg *riseConfig, h time.Duration) (float64, bool) {
	slope, ok := 0.0, false
	for i, hz := range cfg.horizons {
		if i >= maxHorizons || math.IsNaN(r.slopes[i]) {
			continue
		}
		slope, ok = r.slopes[i], true
		if hz >= h {
			break
		}
	}
	return slope, ok
}

// floorPoint is one point of the floor series: seconds since the first sample, and the value.
type floorPoint struct{ x, y float64 }

// riseOf runs the rise test on samples (time ordered) at data time now. With full unset, horizons whose floor did
// not rise by half of what firing needs are not tested further (most evaluations of a healthy service end there);
// full (an episode is active and its end is judged on slopes) tests every judged horizon.
func riseOf(samples []sample, now int64, cfg *riseConfig, full bool, sc *trendScratch) riseResult {
	var res riseResult
	for i := range res.slopes {
		res.slopes[i] = math.NaN()
	}
	if len(samples) < 2 {
		return res
	}
	res.latest = samples[len(samples)-1].v
	floors := floorsOf(samples, int64(cfg.floorSpan), sc)
	if len(floors) < cfg.minPoints {
		return res
	}
	origin := samples[0].ts
	nowX := float64(now-origin) / 1e9
	firstX := floors[0].x
	step := typicalStep(floors)
	noise := math.NaN() // computed when first needed

	var best riseResult
	// decelAt holds the horizons (seconds) on which the rise decelerates.
	decelAt := sc.decel[:0]
	for hi, h := range cfg.horizons {
		hs := h.Seconds()
		pts := floorsSince(floors, nowX-hs)
		if len(pts) < cfg.minPoints {
			continue
		}
		span := coveredSpan(pts, step)
		// Judged once the data spans most of the horizon, or a little less when the data starts with the series
		// (from process start nothing older can be had).
		fromStart := pts[0].x <= firstX
		if span < 0.75*hs && (!fromStart || span < 0.5*hs) {
			continue
		}
		pts = bucketMinima(pts, maxRisePoints, sc)
		// The level the growth is relative to is where the floor was (the middle of its first three points), not
		// where a line through a curved rise would start.
		level := math.Max(firstFloor(pts), 0)
		// A horizon of a minute or less sees at most part of a wander's swing: it needs 55 % of the relative growth.
		minRel := cfg.minRelGrowth
		if hs <= 60 {
			minRel *= 0.55
		}
		if !best.judged {
			best = riseResult{judged: true, horizon: h, level: level, latest: res.latest, points: len(pts),
				growth: recentFloor(pts) - level}
			best.relGrowth = best.growth / math.Max(level, 1)
		}
		if !full && recentFloor(pts)-level < 0.5*math.Max(cfg.minGrowth, minRel*math.Max(level, 1)) {
			continue // nothing near a rise on this horizon
		}
		slope, _ := theilSenPoints(pts, sc)
		// Growth per horizon: the same rate reads the same on a horizon whose points fall a scrape short of it.
		growth := slope * math.Max(span, math.Min(hs, span*1.25))
		rel := growth / math.Max(level, 1)
		if hi < maxHorizons {
			res.slopes[hi] = slope * 60
		}
		// A rise seen from the series' first points is what a warm-up looks like: it must be steadier to count.
		strict := 0.0
		if fromStart {
			strict = fromStartStrictness
		}
		if decelerating(pts, cfg, strict, sc) {
			decelAt = append(decelAt, hs)
		}
		if growth < cfg.minGrowth || rel < minRel {
			continue
		}
		p := mannKendallPoints(pts, sc)
		if math.IsNaN(noise) {
			noise = noiseScale(samples, now-int64(noiseLookback*1e9), sc)
		}
		// A wide floor (heap signals with a GC sawtooth) already removed what the raw noise measures.
		quiet := cfg.floorSpan > 0 || growth >= noiseMultiple*noise
		rising := p < cfg.significance && quiet && rises(pts) >= 3 && sustained(pts, slope, cfg.sustainRatio+strict, sc) &&
			breaksOut(floors, nowX-hs, recentFloor(pts), max(cfg.minGrowth/2, 2*noise))
		if !best.firing {
			best = riseResult{
				judged: true, firing: rising, horizon: h, growth: growth, relGrowth: rel, slopePerMin: slope * 60,
				pValue: p, level: level, latest: res.latest, points: len(pts),
			}
		}
	}
	sc.decel = decelAt
	if !best.judged {
		return res
	}
	slopes := res.slopes
	res = best
	res.slopes = slopes
	// A ramp seen on the firing horizon or up to four times as long vetoes the rise. Longer horizons are not asked:
	// a ramp that ended long ago must not hide a leak that started since.
	for _, hs := range decelAt {
		if hs <= 4*res.horizon.Seconds() {
			res.decelerating = true
		}
	}
	res.firing = res.firing && !res.decelerating
	return res
}

// cannotRise reports, from the lowest sample of the window and the highest of the last four, that no horizon can
// pass riseOf's screening: the floor did not rise by half of the least growth a horizon needs. It is the common case
// of a healthy series and costs one pass over its history.
func cannotRise(lowest, highestRecent float64, cfg *riseConfig) bool {
	if math.IsInf(lowest, 0) || math.IsInf(highestRecent, 0) {
		return false
	}
	least := cfg.minRelGrowth * 0.55 * math.Max(lowest, 1)
	return highestRecent-lowest < 0.5*math.Max(cfg.minGrowth, least)
}

// floorsOf turns samples into floor points: the minimum of each sample, the next sample and any within span after
// it, stamped at the sample's own time (so the floor does not lag a rising series).
func floorsOf(samples []sample, span int64, sc *trendScratch) []floorPoint {
	out := sc.floors[:0]
	origin, newest := samples[0].ts, samples[len(samples)-1].ts
	for i := 0; i+1 < len(samples); i++ {
		if span > 0 && newest-samples[i].ts < span {
			break // its span is not complete yet: a floor over fewer samples would read high
		}
		m := min(samples[i].v, samples[i+1].v)
		for j := i + 2; j < len(samples) && samples[j].ts-samples[i].ts <= span; j++ {
			m = min(m, samples[j].v)
		}
		out = append(out, floorPoint{x: float64(samples[i].ts-origin) / 1e9, y: m})
	}
	sc.floors = out
	return out
}

// coveredSpan is the time the points cover: their span less the gaps (a step longer than three typical steps):
// eight minutes without data do not make a horizon covered.
func coveredSpan(pts []floorPoint, typicalStep float64) float64 {
	var covered float64
	for i := 1; i < len(pts); i++ {
		covered += math.Min(pts[i].x-pts[i-1].x, 3*typicalStep)
	}
	return covered
}

// typicalStep is the middle step (by order) of the last floor points: a regular series' step, which a few gaps do
// not move.
func typicalStep(floors []floorPoint) float64 {
	var buf [16]float64
	steps := buf[:0]
	for i := len(floors) - 1; i > 0 && len(steps) < len(buf); i-- {
		steps = append(steps, floors[i].x-floors[i-1].x)
	}
	return median(steps)
}

// maxRisePoints bounds the points a horizon is judged on (the tests are quadratic): longer horizons are cut into
// this many time buckets, each keeping its minimum.
const maxRisePoints = 12

// bucketMinima thins pts to at most n points, the minimum of each of n equal time buckets.
func bucketMinima(pts []floorPoint, n int, sc *trendScratch) []floorPoint {
	if len(pts) <= n {
		return pts
	}
	out := sc.buckets[:0]
	x0, x1 := pts[0].x, pts[len(pts)-1].x
	width := (x1 - x0) / float64(n)
	b := -1
	for _, p := range pts {
		i := min(int((p.x-x0)/width), n-1)
		if i != b {
			out = append(out, floorPoint{x: x0 + (float64(i)+0.5)*width, y: p.y})
			b = i
			continue
		}
		out[len(out)-1].y = min(out[len(out)-1].y, p.y)
	}
	sc.buckets = out
	return out
}

func floorsSince(floors []floorPoint, fromX float64) []floorPoint {
	i := len(floors)
	// Inclusive, with a little slack for timer jitter: a horizon of six scrape intervals holds six floor points.
	for i > 0 && floors[i-1].x >= fromX-0.5 {
		i--
	}
	return floors[i:]
}

// noiseMultiple: a rise must exceed this many times the floor's own scrape-to-scrape noise, so a noisy service
// whose floor wanders by chance over a few points is not a leak.
const noiseMultiple = 5

// noiseLookback is the least span the noise is estimated over (a few points give a poor estimate).
const noiseLookback = 5 * 60.0

// noiseScale estimates the standard deviation of a signal's scrape-to-scrape noise over the samples since from: the
// median absolute deviation of successive differences around their median (a steady rise moves the median, not
// the spread). Raw samples, not floors: overlapping floors share samples and would hide the noise.
func noiseScale(samples []sample, from int64, sc *trendScratch) float64 {
	i := len(samples)
	for i > 0 && samples[i-1].ts >= from {
		i--
	}
	samples = samples[i:]
	if len(samples) < 4 {
		return 0
	}
	d := sc.vals[:0]
	for i := 1; i < len(samples); i++ {
		d = append(d, samples[i].v-samples[i-1].v)
	}
	m := median(d)
	for i := range d {
		d[i] = math.Abs(d[i] - m)
	}
	mad := median(d)
	sc.vals = d[:0]
	return 1.4826 * mad / math.Sqrt2
}

// bandLookback is how far before a horizon the floor's earlier range is read.
const bandLookback = 10 * 60.0

// breaksOut reports whether the rise ends above the range the floor already had before the horizon (when enough of
// that history is there to know it) by a margin: a wander returns to levels it has been at, a leak leaves them
// behind.
func breaksOut(floors []floorPoint, horizonStart, end, margin float64) bool {
	first := len(floors)
	for first > 0 && floors[first-1].x >= horizonStart-bandLookback {
		first--
	}
	last := first
	for last < len(floors) && floors[last].x < horizonStart-0.5 {
		last++
	}
	before := floors[first:last]
	if len(before) < 3 || before[len(before)-1].x-before[0].x < 30 {
		return true
	}
	bandMax := before[0].y
	for _, p := range before[1:] {
		bandMax = math.Max(bandMax, p.y)
	}
	return end >= bandMax+margin
}

// firstFloor is the median of the first three floor points: where the floor was at the start of the horizon.
func firstFloor(pts []floorPoint) float64 {
	if len(pts) < 3 {
		return pts[0].y
	}
	a, b, c := pts[0].y, pts[1].y, pts[2].y
	return max(min(a, b), min(max(a, b), c))
}

// recentFloor is the median of the last three floor points: where the floor is now, without extrapolating.
func recentFloor(pts []floorPoint) float64 {
	n := len(pts)
	if n < 3 {
		return pts[n-1].y
	}
	a, b, c := pts[n-3].y, pts[n-2].y, pts[n-1].y
	return max(min(a, b), min(max(a, b), c))
}

// sustained reports whether the second half of the points keeps rising at a good share of the whole slope: a leak
// does, a ramp that flattens does not.
func sustained(pts []floorPoint, slope, ratio float64, sc *trendScratch) bool {
	half := len(pts) / 2
	if half < 3 || !halvesMove(pts, half) {
		return true
	}
	second, _ := theilSenPoints(pts[len(pts)-half:], sc)
	return second >= ratio*slope
}

// decelerating reports a ramp: the first half of the points rose by a meaningful amount and the second half rises
// clearly slower (pools and caches filling, then flat). "Clearly": by a rate ratio and by an amount, so the noise
// of a few points does not make a steady leak look like a ramp.
func decelerating(pts []floorPoint, cfg *riseConfig, strict float64, sc *trendScratch) bool {
	half := len(pts) / 2
	if half < 3 || !halvesMove(pts, half) {
		return false
	}
	first, intercept := theilSenPoints(pts[:half], sc)
	second, _ := theilSenPoints(pts[len(pts)-half:], sc)
	firstSpan := pts[half-1].x - pts[0].x
	level := math.Max(intercept+first*pts[0].x, 1)
	lost := (first - second) * firstSpan
	return first > 0 && first*firstSpan >= cfg.minGrowth/2 && second < (rampRatio+strict)*first &&
		lost >= math.Max(cfg.minGrowth/2, cfg.minRelGrowth/4*level)
}

// fromStartStrictness is added to the sustain and ramp ratios on a horizon that starts with the series.
const fromStartStrictness = 0.15

// halvesMove reports whether the first half of the points changes value at least twice, so that its slope says
// something. The heap goal moves only when a GC ends: with a GC a minute, a short horizon's first half holds one
// step or none. (A flat second half after a moving first one is what a ramp that ended looks like: that is judged.)
func halvesMove(pts []floorPoint, half int) bool {
	return changes(pts[:half]) >= 2
}

func changes(pts []floorPoint) int {
	n := 0
	for i := 1; i < len(pts); i++ {
		if pts[i].y != pts[i-1].y {
			n++
		}
	}
	return n
}

// rises counts the steps up: a rise needs several (one step is a load change or a cache filled once).
func rises(pts []floorPoint) int {
	n := 0
	for i := 1; i < len(pts); i++ {
		if pts[i].y > pts[i-1].y {
			n++
		}
	}
	return n
}

// rampRatio: a second half rising slower than this share of the first half's slope is a ramp.
const rampRatio = 0.7

// theilSenPoints returns the median of pairwise slopes and the median intercept.
func theilSenPoints(pts []floorPoint, sc *trendScratch) (slope, intercept float64) {
	slopes := sc.slopes[:0]
	for i := 0; i < len(pts)-1; i++ {
		for j := i + 1; j < len(pts); j++ {
			if dx := pts[j].x - pts[i].x; dx != 0 {
				slopes = append(slopes, (pts[j].y-pts[i].y)/dx)
			}
		}
	}
	slope = median(slopes)
	slopes = slopes[:0]
	for _, p := range pts {
		slopes = append(slopes, p.y-slope*p.x)
	}
	intercept = median(slopes)
	sc.slopes = slopes[:0]
	return slope, intercept
}

// mannKendallPoints is the one-sided Mann-Kendall p-value for an increasing trend of the points' values.
func mannKendallPoints(pts []floorPoint, sc *trendScratch) float64 {
	ys := sc.vals[:0]
	for _, p := range pts {
		ys = append(ys, p.y)
	}
	sc.vals = ys[:0]
	return mannKendallIncreasing(ys, sc)
}

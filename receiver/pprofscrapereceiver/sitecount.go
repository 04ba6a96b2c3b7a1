package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"cmp"
	"slices"
)

// otherSites is the code.function value of the point that sums the goroutines of the sites not tracked.
const otherSites = "(other)"

// siteIdleReadsBeforeRelease is how many consecutive reads a tracked site may show no goroutine before it frees
// its slot: a site whose goroutines come and go keeps its series instead of flapping in and out.
const siteIdleReadsBeforeRelease = 5

// sitePoint is one point of pprofscrape.goroutine.site.count.
type sitePoint struct {
	function string
	count    int64
}

// siteTracker bounds pprofscrape.goroutine.site.count to maxSites series per target, plus (other). Tracking is
// sticky: a site, once tracked, keeps its slot while it has goroutines, so a small site that grows slowly (the
// typical leak) is never pushed out by bigger sites that churn; new sites take free slots, largest first. Only
// the scrape of its target uses it (under target.scrapeMu), hence no lock.
type siteTracker struct {
	maxSites int
	// idleReads of each tracked site: consecutive reads without a goroutine.
	idleReads map[string]int
	// otherEmitted is set once sites did not fit: from then on (other) is emitted at every read, 0 included, so
	// its series drops to zero instead of vanishing.
	otherEmitted bool
}

func newSiteTracker(maxSites int) *siteTracker {
	return &siteTracker{maxSites: maxSites, idleReads: map[string]int{}}
}

// update takes the goroutine count of every owner at one read and returns the points to emit: the tracked sites
// (0 for a tracked site without goroutines) sorted by function, then (other) when needed.
func (s *siteTracker) update(counts map[string]int64) []sitePoint {
	for function := range s.idleReads {
		if counts[function] > 0 {
			s.idleReads[function] = 0
			continue
		}
		s.idleReads[function]++
		if s.idleReads[function] >= siteIdleReadsBeforeRelease {
			delete(s.idleReads, function)
		}
	}
	var candidates []sitePoint
	for function, n := range counts {
		if _, tracked := s.idleReads[function]; !tracked && n > 0 {
			candidates = append(candidates, sitePoint{function: function, count: n})
		}
	}
	slices.SortFunc(candidates, func(a, b sitePoint) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return cmp.Compare(a.function, b.function)
	})
	var other int64
	for _, c := range candidates {
		if len(s.idleReads) < s.maxSites {
			s.idleReads[c.function] = 0
			continue
		}
		other += c.count
	}

	points := make([]sitePoint, 0, len(s.idleReads)+1)
	for function := range s.idleReads {
		points = append(points, sitePoint{function: function, count: counts[function]})
	}
	slices.SortFunc(points, func(a, b sitePoint) int { return cmp.Compare(a.function, b.function) })
	if other > 0 {
		s.otherEmitted = true
	}
	if s.otherEmitted {
		points = append(points, sitePoint{function: otherSites, count: other})
	}
	return points
}

// goroutinesByOwner sums the stack groups of one read per owner function.
func goroutinesByOwner(groups []stackGroup) map[string]int64 {
	counts := make(map[string]int64, len(groups))
	for _, g := range groups {
		counts[g.Function] += g.Count
	}
	return counts
}

package pprofscrapereceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pointsMap(points []sitePoint) map[string]int64 {
	out := map[string]int64{}
	for _, p := range points {
		out[p.function] = p.count
	}
	return out
}

func TestSiteTrackerIsStickyAndBounded(t *testing.T) {
	tracker := newSiteTracker(2)

	// Room for two: the largest sites enter, the rest is (other).
	got := pointsMap(tracker.update(map[string]int64{"leak": 3, "pool": 100, "conn": 40, "tick": 1}))
	assert.Equal(t, map[string]int64{"pool": 100, "conn": 40, otherSites: 4}, got)

	// Churn: a bigger site appears, but tracked sites that still have goroutines keep their slots.
	got = pointsMap(tracker.update(map[string]int64{"pool": 90, "conn": 2, "burst": 500, "leak": 4}))
	assert.Equal(t, map[string]int64{"pool": 90, "conn": 2, otherSites: 504}, got)

	// conn has no goroutine: it stays (at 0) for a few reads, then frees its slot for the largest newcomer.
	for range siteIdleReadsBeforeRelease - 1 {
		got = pointsMap(tracker.update(map[string]int64{"pool": 90, "leak": 5, "burst": 7}))
		assert.Equal(t, map[string]int64{"pool": 90, "conn": 0, otherSites: 12}, got)
	}
	got = pointsMap(tracker.update(map[string]int64{"pool": 90, "leak": 6, "burst": 7}))
	assert.Equal(t, map[string]int64{"pool": 90, "burst": 7, otherSites: 6}, got)

	// Once sites overflowed, (other) keeps its series at 0 rather than vanishing.
	got = pointsMap(tracker.update(map[string]int64{"pool": 90, "burst": 7}))
	assert.Equal(t, map[string]int64{"pool": 90, "burst": 7, otherSites: 0}, got)
}

func TestSiteTrackerSlowLeakIsNeverPushedOut(t *testing.T) {
	tracker := newSiteTracker(3)
	tracker.update(map[string]int64{"leak": 1})
	for i := range int64(50) {
		// Every read brings new short-lived sites bigger than the leak.
		counts := map[string]int64{"leak": 1 + i, "churn" + string(rune('a'+i%26)): 1000, "other-churn": 500}
		got := pointsMap(tracker.update(counts))
		require.Contains(t, got, "leak")
		assert.Equal(t, 1+i, got["leak"])
		assert.LessOrEqual(t, len(got), 3+1, "at most goroutine_max_sites sites plus (other)")
	}
}

func TestSiteTrackerWithoutOverflowHasNoOther(t *testing.T) {
	tracker := newSiteTracker(50)
	got := tracker.update(map[string]int64{"b": 2, "a": 1})
	assert.Equal(t, []sitePoint{{function: "a", count: 1}, {function: "b", count: 2}}, got)
}

// TestSiteCountAtFirstScrape checks that the default configuration reads the stacks at the first scrape and emits
// the per-owner counts, with the owner rule, next to the top stacks.
func TestSiteCountAtFirstScrape(t *testing.T) {
	parkGoroutines(t, 30)
	ownerScenarios(t)
	srv := newPprofServer(t, true)
	r, _ := startedReceiver(t, testConfig(srv.URL), nil)

	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics := metricsByName(t, md)
	require.Contains(t, metrics, "pprofscrape.goroutine.site.count")
	m := metrics["pprofscrape.goroutine.site.count"]
	assert.Equal(t, "{goroutine}", m.Unit())
	sites := map[string]int64{}
	dps := m.Gauge().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		fn, ok := dps.At(i).Attributes().Get("code.function")
		require.True(t, ok)
		sites[fn.Str()] = dps.At(i).IntValue()
	}
	assert.Equal(t, int64(30), sites[thisPackage+".parkForTest"])
	assert.Equal(t, int64(5), sites[thisPackage+".lockedUpdater"])
	assert.Equal(t, int64(7), sites[thisPackage+".leakWorker"])
	assert.Equal(t, int64(2), sites[thisPackage+".tickerLoop"])
	assert.GreaterOrEqual(t, sites["net/http.(*persistConn).readLoop"], int64(3))
	assert.GreaterOrEqual(t, sites["net/http.(*persistConn).writeLoop"], int64(3))
	assert.NotContains(t, sites, "sync.(*Mutex).Lock")
	assert.NotContains(t, sites, otherSites, "fewer sites than goroutine_max_sites")

	stacks := metrics["pprofscrape.goroutine.stack.count"].Gauge().DataPoints()
	for i := 0; i < stacks.Len(); i++ {
		fn, _ := stacks.At(i).Attributes().Get("code.function")
		assert.Contains(t, sites, fn.Str(), "stack groups are named by the same owner rule")
	}
}

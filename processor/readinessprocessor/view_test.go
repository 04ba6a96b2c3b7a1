package readinessprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
)

// The processor registers its view with the hub; the view shows the history it keeps, the firing rule with its
// measure and why, and answers false for a service it does not watch.
func TestViewRegisteredWithHub(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	srcs := h.hub.Sources()
	require.Len(t, srcs, 1)
	src := srcs[0]
	assert.Empty(t, src.Services())

	h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries())

	services := src.Services()
	require.Len(t, services, 1)
	st := services[0]
	target := pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "a"}
	assert.Equal(t, target, st.Target)
	assert.Equal(t, "svc", st.Identity["service.name"])
	assert.Equal(t, []string{"goroutine-leak"}, st.ActiveRules)
	assert.Greater(t, st.Latest[readinesshubextension.SignalGoroutines], 0.0)

	hist, ok := src.History(target)
	require.True(t, ok)
	pts := hist.Signals[readinesshubextension.SignalGoroutines]
	require.NotEmpty(t, pts)
	for i := 1; i < len(pts); i++ {
		assert.True(t, pts[i].Time.After(pts[i-1].Time), "points in time order")
	}
	assert.Equal(t, st.Latest[readinesshubextension.SignalGoroutines], pts[len(pts)-1].Value)
	require.Len(t, hist.Rules, 1)
	rs := hist.Rules[0]
	assert.True(t, rs.Firing)
	assert.False(t, rs.Since.IsZero())
	assert.Contains(t, rs.Why, "firing")
	assert.Contains(t, rs.Measure, "growth=")
	assert.Contains(t, rs.Threshold, "floor rises")

	_, ok = src.History(pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "nope"})
	assert.False(t, ok)
}

// Cumulative GC counters become per-minute rates.
func TestRatePoints(t *testing.T) {
	rg := newRing(16)
	for i := range 7 {
		rg.push(sample{ts: int64(i) * 10e9, v: float64(i) * 2}) // 2 cycles every 10 s: 12 per minute
	}
	pts := ratePoints(rg, 60e9)
	require.Len(t, pts, 6)
	for _, p := range pts {
		assert.InDelta(t, 12, p.Value, 1e-9)
	}
	rg.push(sample{ts: 70e9, v: 0}) // reset: not counted as a fall
	pts = ratePoints(rg, 60e9)
	assert.InDelta(t, 12, pts[len(pts)-1].Value, 1e-9)
}

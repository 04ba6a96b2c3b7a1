package readinessprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
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
	pts := ratePoints(rg.window(nil, -1, 1e12), 60e9)
	require.Len(t, pts, 6)
	for _, p := range pts {
		assert.InDelta(t, 12, p.Value, 1e-9)
	}
	rg.push(sample{ts: 70e9, v: 0}) // reset: not counted as a fall
	pts = ratePoints(rg.window(nil, -1, 1e12), 60e9)
	assert.InDelta(t, 12, pts[len(pts)-1].Value, 1e-9)
}

// With a hub the view keeps an hour of the plotted signals, although the rules keep far less (a gc_frequency rule
// about a minute and a half of GC counters); the live heap is preferred to the goal.
func TestViewKeepsAnHour(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule(), gcRule(RuleParams{}), heapRule()))
	h.p.keepView = true // as with a hub that serves the page (the harness' hub has none)
	var samples []runtimeSample
	for i := range 84 * 6 { // 84 minutes every 10 s
		samples = append(samples, runtimeSample{
			OffsetMillis: int64(i) * 10_000, Goroutines: 10, GCCycles: float64(i), GCPauseSeconds: float64(i) * 1e-3,
			HeapInuse: 4 << 20, HeapAlloc: 3 << 20, NextGC: 8 << 20, Leaked: -1,
		})
	}
	h.replay(namingPprofscrape, serviceResource("svc", "a"), samples)
	src := h.hub.Sources()[0]
	hist, ok := src.History(pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "a"})
	require.True(t, ok)
	for _, sig := range []string{readinesshubextension.SignalGoroutines, readinesshubextension.SignalHeapLive, readinesshubextension.SignalGCPerMinute, readinesshubextension.SignalGCPausePerMin} {
		pts := hist.Signals[sig]
		require.NotEmpty(t, pts, sig)
		span := pts[len(pts)-1].Time.Sub(pts[0].Time)
		assert.GreaterOrEqual(t, span, viewSpan-time.Minute, "%s spans the hour", sig)
		assert.LessOrEqual(t, span, viewSpan, "%s keeps no more than the hour", sig)
		assert.LessOrEqual(t, len(pts), viewPoints, sig)
	}
	assert.NotContains(t, hist.Signals, readinesshubextension.SignalHeapGoal, "the live heap is plotted, not the goal")
	assert.Equal(t, float64(4<<20), hist.Latest[readinesshubextension.SignalHeapLive], "heap in use first")
	assert.InDelta(t, 6, hist.Latest[readinesshubextension.SignalGCPerMinute], 1e-9, "one cycle every 10 s")
	assert.InDelta(t, 6e-3, hist.Latest[readinesshubextension.SignalGCPausePerMin], 1e-9)
	pl := plotSamples(h.p.series[firstKey(h.p.series)])
	assert.Greater(t, len(pl.goroutines), 300, "at scrape resolution (10 s)")
	for i := 1; i < len(pl.gcCycles); i++ {
		require.Greater(t, pl.gcCycles[i].ts, pl.gcCycles[i-1].ts, "the view's hour and the rules' history merge in order")
	}
}

// Without a hub nothing is kept for the page.
func TestNoViewWithoutHub(t *testing.T) {
	p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), testConfig(goroutineRule()))
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), &testHost{}))
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	_, err = p.processMetrics(context.Background(), toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch, runtimeSample{OffsetMillis: 1, Goroutines: 5}))
	require.NoError(t, err)
	require.Len(t, p.series, 1)
	assert.Nil(t, p.series[firstKey(p.series)].view)
}

// A hub that serves no page (a sidecar's: it relays episodes to the sampler) reads no history: none is kept.
func TestNoViewWithoutPage(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	require.False(t, h.hub.ReadsHistory())
	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch, runtimeSample{OffsetMillis: 1, Goroutines: 5}))
	require.Len(t, h.p.series, 1)
	assert.Nil(t, h.p.series[firstKey(h.p.series)].view)
}

func firstKey(m map[string]*series) string {
	for k := range m {
		return k
	}
	return ""
}

func targetUpMetrics(service, instance string, up int64, at time.Duration) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	rm.Resource().Attributes().PutStr("service.instance.id", instance)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(metricTargetUp)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(tsAt(at))
	dp.SetIntValue(up)
	return md
}

// A pprofscrape target that never answered has no series, but the page lists it as down; a watched service whose
// last scrape failed is down too, and up again with its next answer.
func TestViewTargetDown(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	h.p.keepView = true // as with a hub that serves the page
	src := h.hub.Sources()[0]
	h.feed(targetUpMetrics("ghost", "g-1", 0, time.Second))
	services := src.Services()
	require.Len(t, services, 1)
	assert.Equal(t, pprofcaptureextension.TargetKey{ServiceName: "ghost", ServiceInstanceID: "g-1"}, services[0].Target)
	assert.True(t, services[0].Down)
	hist, ok := src.History(services[0].Target)
	require.True(t, ok, "its page opens")
	assert.True(t, hist.Down)
	assert.Empty(t, hist.Signals)

	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch, runtimeSample{OffsetMillis: 1000, Goroutines: 5}))
	h.feed(targetUpMetrics("svc", "a", 1, time.Second))
	svc := pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "a"}
	hist, ok = src.History(svc)
	require.True(t, ok)
	assert.False(t, hist.Down)
	h.feed(targetUpMetrics("svc", "a", 0, 2*time.Second))
	hist, _ = src.History(svc)
	assert.True(t, hist.Down, "its last scrape failed")
	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch, runtimeSample{OffsetMillis: 3000, Goroutines: 5}))
	h.feed(targetUpMetrics("svc", "a", 1, 3*time.Second))
	hist, _ = src.History(svc)
	assert.False(t, hist.Down, "up again")

	h.clock = h.clock.Add(h.p.cfg.IdleTimeout + time.Minute)
	for _, st := range src.Services() {
		assert.NotEqual(t, "ghost", st.Target.ServiceName, "a target gone quiet for idle_timeout is forgotten")
	}
}

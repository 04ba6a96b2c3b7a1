package readinessprocessor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

func leakSeries() []runtimeSample {
	return seriesSpec{duration: 40 * time.Minute, interval: 15 * time.Second, seed: 5,
		goroutines: leaking(100, 8, 30, 20*time.Minute)}.generate()
}

// Every source naming carries the signals the rules need.
func TestSourceNamings(t *testing.T) {
	for _, n := range []naming{namingPprofscrape, namingPrometheus, namingSemconv, namingOldRuntime} {
		t.Run(n.String(), func(t *testing.T) {
			h := newHarness(t, testConfig(goroutineRule()))
			h.replay(n, serviceResource("svc", "a"), leakSeries())
			require.Len(t, h.starts("goroutine-leak"), 1)
		})
	}
	t.Run("heap from go.memory.used split by type", func(t *testing.T) {
		rule := heapRule()
		rule.Params.Signal = "memory_used"
		h := newHarness(t, testConfig(rule))
		spec := seriesSpec{duration: 40 * time.Minute, interval: 10 * time.Second, seed: 3, goroutines: noisy(50, 3),
			heapFloor: func(d time.Duration) float64 { return 60e6 + 10e6*max(0, d.Minutes()-20) }}
		h.replay(namingSemconv, serviceResource("svc", "a"), spec.generate())
		starts := h.starts("heap-growth")
		require.Len(t, starts, 1)
		assert.Equal(t, "memory_used", starts[0].ContextMap()["signal"])
	})
	t.Run("pause total from process.runtime.go nanoseconds", func(t *testing.T) {
		h := newHarness(t, testConfig(gcRule(RuleParams{MaxPausePerMinute: 50 * time.Millisecond})))
		spec := seriesSpec{duration: 10 * time.Minute, interval: 15 * time.Second, seed: 2, goroutines: noisy(50, 3),
			gcPerMinute: func(time.Duration) float64 { return 600 }} // 0.12 s of pause per minute
		h.replay(namingOldRuntime, serviceResource("svc", "a"), spec.generate())
		starts := h.starts("gc-storm")
		require.Len(t, starts, 1)
		assert.Contains(t, starts[0].ContextMap()["gc_pause_seconds_per_minute"], "0.12")
	})
}

// A process restart mid-window (counters reset, goroutines back to a start-up ramp) is never an anomaly, and it
// ends an open episode.
func TestRestart(t *testing.T) {
	rules := testConfig(goroutineRule(), heapRule(), gcRule(RuleParams{MaxPerMinute: 500, BaselineMultiple: 5}))
	t.Run("healthy service restarts", func(t *testing.T) {
		h := newHarness(t, rules)
		first := seriesSpec{duration: 30 * time.Minute, interval: 15 * time.Second, seed: 1, goroutines: noisy(120, 10)}.generate()
		second := seriesSpec{duration: 30 * time.Minute, interval: 15 * time.Second, seed: 2,
			// Start-up ramps: pools and caches fill fast, then slower, then not at all.
			goroutines: func(d time.Duration, _ *rand.Rand) float64 { return 10 + 110*(1-math.Exp(-d.Seconds()/30)) },
			heapFloor:  func(d time.Duration) float64 { return 4e6 + 36e6*(1-math.Exp(-d.Seconds()/40)) },
		}.generate()
		samples := append(first, shift(second, 30*time.Minute+15*time.Second)...)
		for _, n := range []naming{namingPrometheus, namingPprofscrape} {
			h.replay(n, serviceResource("svc", n.String()), samples)
		}
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
	t.Run("leaking service restarts", func(t *testing.T) {
		h := newHarness(t, rules)
		first := leakSeries()[:130] // leak running for 12 minutes
		second := seriesSpec{duration: 20 * time.Minute, interval: 15 * time.Second, seed: 2, goroutines: noisy(100, 8)}.generate()
		samples := append(first, shift(second, first[len(first)-1].at()+15*time.Second)...)
		h.replay(namingPprofscrape, serviceResource("svc", "a"), samples)
		require.Len(t, h.starts("goroutine-leak"), 1)
		ends := h.ends("goroutine-leak")
		require.Len(t, ends, 1)
		assert.Equal(t, "process restarted", ends[0].ContextMap()["reason"])
	})
}

// shift moves samples later by d.
func shift(samples []runtimeSample, d time.Duration) []runtimeSample {
	out := make([]runtimeSample, len(samples))
	for i, s := range samples {
		s.OffsetMillis += d.Milliseconds()
		out[i] = s
	}
	return out
}

func TestGapsAndDisorder(t *testing.T) {
	rules := testConfig(goroutineRule(), heapRule(), gcRule(RuleParams{MaxPerMinute: 200, BaselineMultiple: 4}))
	healthy := seriesSpec{duration: time.Hour, interval: 15 * time.Second, seed: 9, goroutines: noisy(120, 10)}.generate()
	t.Run("gap with a level change", func(t *testing.T) {
		// The scraper lost the target for 8 minutes; meanwhile a deploy moved the level up.
		var samples []runtimeSample
		for _, s := range healthy {
			switch {
			case s.at() > 20*time.Minute && s.at() < 28*time.Minute:
				continue
			case s.at() >= 28*time.Minute:
				s.Goroutines += 80
				s.HeapInuse += 30e6
			}
			samples = append(samples, s)
		}
		h := newHarness(t, rules)
		h.replay(namingPrometheus, serviceResource("svc", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
	t.Run("short gaps every few minutes", func(t *testing.T) {
		var samples []runtimeSample
		for i, s := range healthy {
			if i%20 < 4 {
				continue
			}
			samples = append(samples, s)
		}
		h := newHarness(t, rules)
		h.replay(namingPprofscrape, serviceResource("svc", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
	t.Run("out of order and duplicate points are skipped", func(t *testing.T) {
		h := newHarness(t, rules)
		res := serviceResource("svc", "a")
		h.replay(namingPrometheus, res, healthy[:40])
		// Replaying old points (a retried batch, a second scraper) changes nothing.
		h.replay(namingPrometheus, res, healthy[10:40])
		h.replay(namingPrometheus, res, healthy[40:])
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
		// 4 stored signals per sample: goroutines, gc cycles, pause, heap goal (heap in use and alloc are not stored
		// while the goal arrives).
		assertSkipped(t, h.tel, skipOutOfOrder, 30*4)
	})
	t.Run("late starter", func(t *testing.T) {
		// The collector starts while the leak is already running: nothing blinds the first minutes, the leak is
		// found within the first few horizons of data.
		h := newHarness(t, rules)
		first := leakSeries()[100].at()
		h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries()[100:])
		starts := h.starts("goroutine-leak")
		require.Len(t, starts, 1)
		assert.GreaterOrEqual(t, startOffset(t, starts[0]), first+time.Minute)
		assert.LessOrEqual(t, startOffset(t, starts[0]), first+5*time.Minute, "30/min on 250: 12 %% a minute")
	})
}

func assertSkipped(t *testing.T, tel *componenttest.Telemetry, reason string, atLeast int64) {
	t.Helper()
	m, err := tel.GetMetric("otelcol_processor_readiness_points_skipped")
	require.NoError(t, err)
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(attribute.Key("reason")); ok && v.AsString() == reason {
			assert.GreaterOrEqual(t, dp.Value, atLeast)
			return
		}
	}
	t.Fatalf("no skipped points with reason %s", reason)
}

func TestWrongTypesAndBadPoints(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	hist := ms.AppendEmpty()
	hist.SetName("go_goroutines")
	hist.SetEmptyHistogram().DataPoints().AppendEmpty().SetTimestamp(tsAt(0))
	g := ms.AppendEmpty()
	g.SetName("go.goroutine.count")
	dps := g.SetEmptyGauge().DataPoints()
	dps.AppendEmpty().SetDoubleValue(5) // no timestamp
	nan := dps.AppendEmpty()
	nan.SetTimestamp(tsAt(time.Second))
	nan.SetDoubleValue(0)
	nan.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	anonymous := md.ResourceMetrics().AppendEmpty()
	anonymous.Resource().Attributes().PutStr("host.name", "h")
	goroutines := anonymous.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	goroutines.SetName("go_goroutines")
	goroutines.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(tsAt(0))
	out := h.feed(md)
	assert.Equal(t, 3, out.ResourceMetrics().Len(), "the input passes through, plus the annotation")
	assertSkipped(t, h.tel, skipWrongType, 1)
	assertSkipped(t, h.tel, skipNoTimestamp, 1)
	assertSkipped(t, h.tel, skipInvalidValue, 1)
	assertSkipped(t, h.tel, skipNoIdentity, 1)
}

func TestSeriesLimitAndEviction(t *testing.T) {
	cfg := testConfig(goroutineRule())
	cfg.MaxSeries = 3
	h := newHarness(t, cfg)
	send := func(instance string, at time.Duration) {
		h.feed(toMetrics(namingPrometheus, serviceResource("svc", instance), epoch, runtimeSample{OffsetMillis: at.Milliseconds(), Goroutines: 10}))
	}
	for i := range 5 {
		send(fmt.Sprint(i), 0)
	}
	assert.Len(t, h.p.series, 3)
	assertSkipped(t, h.tel, skipSeriesLimit, 2)
	// Once the first three are idle longer than idle_timeout, new series take their place.
	h.clock = h.clock.Add(cfg.IdleTimeout + time.Second)
	send("new", time.Minute)
	assert.Len(t, h.p.series, 1)
	assert.Contains(t, h.p.series, "service.name=svc\x00service.instance.id=new\x00")
}

func TestIdleSeriesEndsItsEpisode(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries())
	require.Len(t, h.starts("goroutine-leak"), 1)
	h.clock = h.clock.Add(h.p.cfg.IdleTimeout + time.Minute)
	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "b"), epoch, runtimeSample{OffsetMillis: 1, Goroutines: 5}))
	ends := h.ends("goroutine-leak")
	require.Len(t, ends, 1)
	assert.Equal(t, "series idle", ends[0].ContextMap()["reason"])
	assert.NotContains(t, h.p.series, "service.name=svc\x00service.instance.id=a\x00")
}

func TestAnnotateAndPassThrough(t *testing.T) {
	cfg := testConfig(goroutineRule())
	cfg.Rules[0].Severity = "critical"
	cfg.AnnotateInterval = 0 // every batch
	factory := NewFactory()
	sink := new(consumertest.MetricsSink)
	proc, err := factory.CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, proc.Shutdown(context.Background())) }()

	res := serviceResource("svc", "a")
	for _, s := range leakSeries() {
		require.NoError(t, proc.ConsumeMetrics(context.Background(), toMetrics(namingPrometheus, res, epoch, s)))
	}
	all := sink.AllMetrics()
	require.Len(t, all, len(leakSeries()))
	var activeSeen []int64
	var lastEpisodes int64
	for _, md := range all {
		require.Equal(t, 2, md.ResourceMetrics().Len())
		in := md.ResourceMetrics().At(0)
		assert.Equal(t, 5, in.ScopeMetrics().At(0).Metrics().Len(), "input metrics are unchanged")
		ann := md.ResourceMetrics().At(1)
		name, _ := ann.Resource().Attributes().Get("service.name")
		assert.Equal(t, "svc", name.Str())
		_, hasAddress := ann.Resource().Attributes().Get("server.address")
		assert.False(t, hasAddress, "only identity attributes are copied")
		sm := ann.ScopeMetrics().At(0)
		assert.Equal(t, metadata.ScopeName, sm.Scope().Name())
		active := sm.Metrics().At(0)
		require.Equal(t, metricAnomalyActive, active.Name())
		dp := active.Gauge().DataPoints().At(0)
		kind, _ := dp.Attributes().Get(attrRuleKind)
		sev, _ := dp.Attributes().Get(attrRuleSeverity)
		assert.Equal(t, KindGoroutineGrowth, kind.Str())
		assert.Equal(t, "critical", sev.Str())
		if len(activeSeen) == 0 || activeSeen[len(activeSeen)-1] != dp.IntValue() {
			activeSeen = append(activeSeen, dp.IntValue())
		}
		episodes := sm.Metrics().At(1)
		require.Equal(t, metricAnomalyEpisodes, episodes.Name())
		assert.True(t, episodes.Sum().IsMonotonic())
		lastEpisodes = episodes.Sum().DataPoints().At(0).IntValue()
	}
	assert.Equal(t, []int64{0, 1}, activeSeen, "the gauge turns on once and stays on while the leak grows")
	assert.Equal(t, int64(1), lastEpisodes)
}

// With an annotate interval, a series' state is reported on its first batch, in every batch that starts or ends an
// episode, and once per interval of data time for the rules that have fired.
func TestAnnotateInterval(t *testing.T) {
	cfg := testConfig(goroutineRule())
	cfg.AnnotateInterval = time.Minute
	h := newHarness(t, cfg)
	var annotatedAt []time.Duration
	var activeAt []int64
	startAt := time.Duration(-1)
	for _, s := range leakSeries() {
		starts := len(h.starts("goroutine-leak"))
		out := h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch.Add(-time.Hour), s))
		if len(h.starts("goroutine-leak")) > starts {
			startAt = s.at()
		}
		for i := 0; i < out.ResourceMetrics().Len(); i++ {
			sm := out.ResourceMetrics().At(i).ScopeMetrics()
			if sm.Len() > 0 && sm.At(0).Scope().Name() == metadata.ScopeName {
				annotatedAt = append(annotatedAt, s.at())
				activeAt = append(activeAt, sm.At(0).Metrics().At(0).Gauge().DataPoints().At(0).IntValue())
			}
		}
	}
	require.GreaterOrEqual(t, startAt, time.Duration(0), "the leak starts an episode")
	require.NotEmpty(t, annotatedAt)
	assert.Equal(t, leakSeries()[0].at(), annotatedAt[0], "the first batch of a series is annotated")
	assert.Contains(t, annotatedAt, startAt, "the batch that starts the episode is annotated")
	i := slices.Index(annotatedAt, startAt)
	assert.Equal(t, int64(1), activeAt[i])
	for j := 1; j < len(annotatedAt); j++ {
		if annotatedAt[j] != startAt {
			assert.GreaterOrEqual(t, annotatedAt[j]-annotatedAt[j-1], time.Minute, "no report before the interval passed")
		}
	}
	// Before the episode the rule had never fired: only the series' first batch reports it.
	assert.Equal(t, []time.Duration{leakSeries()[0].at(), startAt}, annotatedAt[:i+1], "no heartbeat for a rule that never fired")
	span := leakSeries()[len(leakSeries())-1].at() - startAt
	after := len(annotatedAt) - i - 1
	assert.GreaterOrEqual(t, after, int(span/time.Minute)-1, "a heartbeat per interval once the rule fired")
	assert.LessOrEqual(t, after, int(span/time.Minute)+1, "no more than one report per interval")
}

func TestCaptureAction(t *testing.T) {
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture, ActionAnnotate}
	rule.Capture.Duration = 5 * time.Second
	rule.Capture.Kinds = []pprofcaptureextension.Kind{"goroutine", "goroutine_delta", "heap", "goroutineleak"}
	h := newHarness(t, testConfig(rule))
	// What the pprofscrape receiver returns: a goroutine dump summary (goroutines per function, taken at the start
	// of the delta's sampling time: the receiver takes a request's kinds at once), a delta
	// summary (growth over the sampling time, positive entries only), a heap summary (top in-use sites, plus the
	// sites that grew since the previous heap capture with before and after), and a failed kind.
	h.capturer.results = []pprofcaptureextension.Result{
		{Kind: pprofcaptureextension.KindGoroutine, Path: "/tmp/g.txt", Size: 100, SampleType: "goroutine",
			Summary: []pprofcaptureextension.SummaryEntry{
				{Function: "main.leakyHandler.func1", File: "/src/demo/leak.go", Line: 42, Value: 160},
				{Function: "main.serve", File: "main.go", Line: 10, Value: 90},
			}},
		{Kind: pprofcaptureextension.KindGoroutineDelta, Path: "/tmp/d.pb.gz", Size: 100, SampleType: "goroutine",
			Summary: []pprofcaptureextension.SummaryEntry{
				{Function: "main.leakyHandler.func1", File: "/src/demo/leak.go", Line: 42, Value: 60},
				{Function: "main.worker", File: "w.go", Line: 7, Value: 3},
			}},
		{Kind: pprofcaptureextension.KindHeap, Path: "/tmp/h.pb.gz", Size: 100, SampleType: "inuse_space",
			Summary: []pprofcaptureextension.SummaryEntry{
				{Function: "main.cache", File: "c.go", Line: 5, Value: 5000},
				{Function: "main.cache", File: "c.go", Line: 5, Value: 4000, Before: 1000, After: 5000},
				{Function: "main.buf", File: "b.go", Line: 9, Value: 10, Before: 10, After: 20},
			}},
		{Kind: pprofcaptureextension.KindGoroutineLeak, Err: errors.New("target does not serve goroutineleak")},
	}
	h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries())
	req := h.capturer.waitRequest(t)
	assert.Equal(t, pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "a"}, req.Target)
	assert.Equal(t, []pprofcaptureextension.Kind{"goroutine", "goroutine_delta", "heap", "goroutineleak"}, req.Kinds)
	assert.Equal(t, "goroutine-leak", req.Reason)
	assert.Equal(t, 5*time.Second, req.Duration)
	assert.Contains(t, req.Details, "growth")
	assert.Contains(t, req.Details, "p_value")

	require.Eventually(t, func() bool {
		return h.logs.FilterMessage("readiness: capture kind failed").Len() == 1
	}, 10*time.Second, 10*time.Millisecond)
	attribution := h.logs.FilterMessage("readiness: leak attribution").FilterField(zap.String("capture_kind", "goroutine_delta")).All()
	require.Len(t, attribution, 1)
	fields := attribution[0].ContextMap()
	assert.Equal(t, "main.leakyHandler.func1 /src/demo/leak.go:42 before=160 after=220 (+60)", fields["top_site"])
	assert.Equal(t, []any{"main.leakyHandler.func1 /src/demo/leak.go:42 before=160 after=220 (+60)", "main.worker w.go:7 (+3)"}, fields["sites"])
	heap := h.logs.FilterMessage("readiness: leak attribution").FilterField(zap.String("capture_kind", "heap")).All()
	require.Len(t, heap, 1)
	assert.Equal(t, []any{"main.cache c.go:5 before=1000 after=5000 (+4000)", "main.buf b.go:9 before=10 after=20 (+10)"}, heap[0].ContextMap()["sites"])
	dump := h.logs.FilterMessage("readiness: capture taken").FilterField(zap.String("capture_kind", "goroutine")).All()
	require.Len(t, dump, 1)
	assert.Equal(t, "/tmp/g.txt", dump[0].ContextMap()["path"])
	select {
	case extra := <-h.capturer.received:
		t.Fatalf("one episode, one capture; got another: %v", extra)
	default:
	}
}

// A GC storm asks for what allocates during the capture (allocs_delta) and names its top allocator, not the top of
// the live heap.
func TestGCStormNamesTheAllocator(t *testing.T) {
	rule := gcRule(RuleParams{})
	rule.Actions = []string{ActionCapture}
	h := newHarness(t, testConfig(rule))
	h.capturer.results = []pprofcaptureextension.Result{
		{Kind: pprofcaptureextension.KindAllocsDelta, Path: "/tmp/a.pb.gz", Size: 100, SampleType: "alloc_space",
			Summary: []pprofcaptureextension.SummaryEntry{
				{Function: "main.allocHot", File: "hot.go", Line: 12, Value: 900 << 20},
				{Function: "main.serve", File: "main.go", Line: 10, Value: 3 << 20},
			}},
		{Kind: pprofcaptureextension.KindHeap, Path: "/tmp/h.pb.gz", Size: 100, SampleType: "inuse_space",
			Summary: []pprofcaptureextension.SummaryEntry{{Function: "main.cacheHolder", File: "cache.go", Line: 5, Value: 64 << 20}}},
	}
	storm := simService{name: "storm", goroutines: wander(100, 0.1, 1),
		gcPerMin: func(t time.Duration) float64 {
			if t >= 3*time.Minute {
				return 600
			}
			return 12
		},
		allocRatio: func(t time.Duration) float64 {
			if t >= 3*time.Minute {
				return 0.05
			}
			return 0.5
		}}
	h.replay(namingPrometheus, serviceResource("svc", "a"), storm.generate(6*time.Minute, 1))
	starts := h.starts("gc-storm")
	require.Len(t, starts, 1)
	assert.Equal(t, "alloc_per_cycle", starts[0].ContextMap()["evidence"])
	req := h.capturer.waitRequest(t)
	assert.Equal(t, []pprofcaptureextension.Kind{"allocs_delta", "heap"}, req.Kinds)
	require.Eventually(t, func() bool {
		return h.logs.FilterMessage("readiness: allocation attribution").Len() == 1
	}, 10*time.Second, 10*time.Millisecond)
	fields := h.logs.FilterMessage("readiness: allocation attribution").All()[0].ContextMap()
	assert.Equal(t, "main.allocHot hot.go:12 value=943718400", fields["top_site"])
}

// A leak seen in one call site's goroutine count names that site in the episode's first record, before any capture.
func TestLeakSiteNamedAtStart(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	svc := simZoo(1)
	for _, s := range svc {
		if s.name != "leak-slow-site" {
			continue
		}
		h.replay(namingPprofscrape, serviceResource("svc", "a"), s.generate(12*time.Minute, 1))
	}
	starts := h.starts("goroutine-leak")
	require.Len(t, starts, 1)
	fields := starts[0].ContextMap()
	assert.Equal(t, "main.slowLeak", fields["top_site"])
	assert.Equal(t, "call site", fields["evidence"])
}

func TestCaptureRefusedAndNonBlocking(t *testing.T) {
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture}
	cfg := testConfig(rule)
	cfg.CaptureQueueSize = 1
	h := newHarness(t, cfg)
	h.capturer.block = make(chan struct{})
	h.capturer.err = fmt.Errorf("target svc: %w", pprofcaptureextension.ErrRateLimited)
	// Four services leak at once; the broker hangs. ConsumeMetrics must not wait: one job runs, one waits in the
	// queue, the others are refused.
	h.replay(namingPprofscrape, serviceResource("svc", "0"), leakSeries())
	require.Eventually(t, func() bool { return len(h.p.captures.queue) == 0 }, 10*time.Second, time.Millisecond, "the worker took the first job")
	for i := 1; i < 4; i++ {
		h.replay(namingPprofscrape, serviceResource("svc", fmt.Sprint(i)), leakSeries())
	}
	require.Len(t, h.logs.FilterMessage("readiness anomaly started").All(), 4)
	require.Eventually(t, func() bool {
		return h.logs.FilterMessage("readiness: capture not taken").FilterField(zap.String("reason", "queue_full")).Len() == 2
	}, 10*time.Second, 10*time.Millisecond)
	close(h.capturer.block)
	require.Eventually(t, func() bool {
		return h.logs.FilterMessage("readiness: capture not taken").FilterField(zap.String("reason", "rate_limited")).Len() == 2
	}, 10*time.Second, 10*time.Millisecond)
}

func TestStartFindsBroker(t *testing.T) {
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture}
	main := component.NewID(captureType)
	other := component.NewIDWithName(captureType, "other")
	tests := []struct {
		name    string
		named   *component.ID
		exts    func(t *testing.T) map[component.ID]component.Component
		wantErr string
	}{
		{name: "the only one", exts: func(t *testing.T) map[component.ID]component.Component {
			return map[component.ID]component.Component{main: newCaptureExtension(t)}
		}},
		{name: "none", wantErr: "a rule uses the capture action: no pprofcapture extension is configured"},
		{name: "two without a name", exts: func(t *testing.T) map[component.ID]component.Component {
			return map[component.ID]component.Component{main: newCaptureExtension(t), other: newCaptureExtension(t)}
		}, wantErr: "2 pprofcapture extensions are configured"},
		{name: "two, one named", named: &other, exts: func(t *testing.T) map[component.ID]component.Component {
			return map[component.ID]component.Component{main: newCaptureExtension(t), other: newCaptureExtension(t)}
		}},
		{name: "named but absent", named: &other, wantErr: `capture_extension: extension "pprofcapture/other" not found`},
		{name: "named but not a broker", named: &other, exts: func(*testing.T) map[component.ID]component.Component {
			return map[component.ID]component.Component{other: nopComponent{}}
		}, wantErr: "is not a pprofcapture extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(rule)
			cfg.CaptureExtension = tt.named
			proc, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(t, err)
			host := &testHost{}
			if tt.exts != nil {
				host.exts = tt.exts(t)
			}
			err = proc.Start(context.Background(), host)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, proc.Shutdown(context.Background()))
		})
	}
}

func TestCaptureUnknownTarget(t *testing.T) {
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture}
	h := newHarness(t, testConfig(rule))
	h.replay(namingPprofscrape, serviceResource("unowned", "a"), leakSeries())
	require.Len(t, h.starts("goroutine-leak"), 1)
	require.Eventually(t, func() bool {
		return h.logs.FilterMessage("readiness: capture not taken").FilterField(zap.String("reason", "unknown_target")).Len() == 1
	}, 10*time.Second, 10*time.Millisecond)
}

type nopComponent struct {
	component.StartFunc
	component.ShutdownFunc
}

func TestRestartFromStartTimestamp(t *testing.T) {
	samples := leakSeries()
	feed := func(h *harness, start func(i int, s runtimeSample) time.Time) {
		for i, s := range samples {
			h.clock = epoch.Add(s.at())
			h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "a"), start(i, s), s))
		}
	}
	t.Run("start time after the last sample", func(t *testing.T) {
		h := newHarness(t, testConfig(goroutineRule()))
		restartAt := 140
		feed(h, func(i int, _ runtimeSample) time.Time {
			if i >= restartAt {
				// The new process started just before its first sample; its GC count is not lower.
				return epoch.Add(samples[restartAt].at() - time.Second)
			}
			return epoch.Add(-time.Hour)
		})
		require.Len(t, h.starts("goroutine-leak"), 1)
		ends := h.ends("goroutine-leak")
		require.Len(t, ends, 1)
		assert.Equal(t, "process restarted", ends[0].ContextMap()["reason"])
	})
	t.Run("start time that wobbles is no restart", func(t *testing.T) {
		h := newHarness(t, testConfig(goroutineRule()))
		feed(h, func(i int, _ runtimeSample) time.Time {
			return epoch.Add(-time.Hour + time.Duration(i%3)*time.Second)
		})
		require.Len(t, h.starts("goroutine-leak"), 1)
		assert.Empty(t, h.ends("goroutine-leak"))
	})
}

// The prometheus receiver and pprofscrape watch the same process under the same identity (job = service_name,
// instance = host:port): their points interleave in one series, with different start timestamps.
func TestTwoSourcesOneSeries(t *testing.T) {
	for _, tt := range []struct {
		name    string
		samples []runtimeSample
		want    int
	}{
		{name: "leak", samples: leakSeries(), want: 1},
		{name: "healthy", samples: loadZooRecording(t, "healthy-wander").Samples, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(defaultRulesAnnotating()...))
			res := serviceResource("demoapp", "127.0.0.1:6060")
			for i, s := range tt.samples {
				h.clock = epoch.Add(s.at())
				// The prometheus receiver's start time is its first scrape; pprofscrape's is the process start.
				h.feed(toMetrics(namingPrometheus, res, epoch, s))
				// pprofscrape's MemStats may be older than the prometheus scrape: its counters lag behind.
				later := s
				later.OffsetMillis += 2000
				if i > 0 {
					later.GCCycles = tt.samples[i-1].GCCycles
					later.GCPauseSeconds = tt.samples[i-1].GCPauseSeconds
				}
				h.feed(toMetrics(namingPprofscrape, res, epoch.Add(-time.Hour), later))
			}
			assert.Len(t, h.starts("goroutine-leak"), tt.want)
			assert.Empty(t, h.ends("goroutine-leak"))
			assert.Empty(t, h.starts("gc-storm"))
			assert.Empty(t, h.starts("heap-growth"))
			assert.Len(t, h.p.series, 1)
			assertSkipped(t, h.tel, skipCounterDecrease, 1)
		})
	}
}

func TestCaptureFollowUp(t *testing.T) {
	rule := heapRule()
	rule.Actions = []string{ActionCapture}
	rule.Capture.FollowUp = 3 * time.Minute
	h := newHarness(t, testConfig(rule))
	spec := seriesSpec{duration: 40 * time.Minute, interval: 10 * time.Second, seed: 3, goroutines: noisy(50, 3),
		heapFloor: func(d time.Duration) float64 { return 60e6 + 10e6*max(0, d.Minutes()-20) }}
	h.replay(namingPrometheus, serviceResource("svc", "a"), spec.generate())
	require.Len(t, h.starts("heap-growth"), 1)
	first := h.capturer.waitRequest(t)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap_delta", "heap"}, first.Kinds)
	assert.NotContains(t, first.Details, "follow_up")
	second := h.capturer.waitRequest(t)
	assert.Equal(t, "true", second.Details["follow_up"])
	assert.Contains(t, second.Details, "growth", "the follow-up carries the current values")
	followUps := h.logs.FilterMessage("readiness: follow-up capture requested").All()
	require.Len(t, followUps, 1, "one follow-up per episode")
	assert.GreaterOrEqual(t, startOffset(t, followUps[0])-startOffset(t, h.starts("heap-growth")[0]), 3*time.Minute)
}

package readinessprocessor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func testConfig(rules ...RuleConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = rules
	return cfg
}

func goroutineRule() RuleConfig {
	return RuleConfig{Name: "goroutine-leak", Kind: KindGoroutineGrowth, Actions: []string{ActionAnnotate}}
}

func heapRule() RuleConfig {
	return RuleConfig{Name: "heap-growth", Kind: KindHeapGrowth, Actions: []string{ActionAnnotate}}
}

func gcRule(p RuleParams) RuleConfig {
	return RuleConfig{Name: "gc-storm", Kind: KindGCFrequency, Params: p, Actions: []string{ActionAnnotate}}
}

func TestGoroutineGrowthSynthetic(t *testing.T) {
	const window = 5 * time.Minute // the default window the README's latencies are given for
	tests := []struct {
		name       string
		spec       seriesSpec
		onset      time.Duration
		wantStarts int
		// maxLatency is the longest acceptable time from leak onset to the episode start.
		maxLatency time.Duration
	}{
		{name: "steady noisy", spec: seriesSpec{goroutines: noisy(120, 12)}},
		{name: "steady noisy small", spec: seriesSpec{goroutines: noisy(15, 4)}},
		{name: "bursty", spec: seriesSpec{goroutines: bursty(80, 400, 0.2)}},
		{name: "waves shorter than the window", spec: seriesSpec{goroutines: func(d time.Duration, rng *rand.Rand) float64 {
			return 150 + 100*math.Sin(2*math.Pi*d.Minutes()/1.5) + rng.NormFloat64()*5
		}}},
		{name: "fast leak", spec: seriesSpec{goroutines: leaking(100, 10, 60, 20*time.Minute)}, onset: 20 * time.Minute, wantStarts: 1, maxLatency: window},
		{name: "medium leak", spec: seriesSpec{goroutines: leaking(100, 10, 15, 20*time.Minute)}, onset: 20 * time.Minute, wantStarts: 1, maxLatency: window},
		{name: "slow leak", spec: seriesSpec{goroutines: leaking(100, 5, 6, 20*time.Minute)}, onset: 20 * time.Minute, wantStarts: 1, maxLatency: 8 * time.Minute},
		{name: "leak from a quiet start", spec: seriesSpec{goroutines: leaking(10, 1, 20, 20*time.Minute)}, onset: 20 * time.Minute, wantStarts: 1, maxLatency: window},
	}
	for _, tt := range tests {
		for _, interval := range []time.Duration{15 * time.Second, 5 * time.Second} {
			t.Run(tt.name+"/"+interval.String(), func(t *testing.T) {
				h := newHarness(t, testConfig(goroutineRule()))
				spec := tt.spec
				spec.duration, spec.interval, spec.seed = time.Hour, interval, 7
				h.replay(namingPprofscrape, serviceResource("svc", "a"), spec.generate())
				starts := h.starts("goroutine-leak")
				require.Len(t, starts, tt.wantStarts, "episodes: %v", starts)
				if tt.wantStarts > 0 {
					latency := startOffset(t, starts[0]) - tt.onset
					assert.Positive(t, latency, "fired before the leak began")
					assert.LessOrEqual(t, latency, tt.maxLatency)
					t.Logf("latency %s", latency)
				}
			})
		}
	}
}

func TestHeapGrowthSynthetic(t *testing.T) {
	tests := []struct {
		name       string
		floor      func(time.Duration) float64
		wantStarts int
	}{
		{name: "steady heap", floor: func(time.Duration) float64 { return 80e6 }},
		{name: "heap that settles after start", floor: func(d time.Duration) float64 { return 80e6 * (1 - 0.8*math.Exp(-d.Seconds()/45)) }},
		{name: "growing live heap", floor: func(d time.Duration) float64 {
			return 60e6 + 8e6*max(0, d.Minutes()-20)
		}, wantStarts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(heapRule()))
			spec := seriesSpec{duration: 40 * time.Minute, interval: 10 * time.Second, seed: 3, goroutines: noisy(50, 3), heapFloor: tt.floor}
			h.replay(namingPrometheus, serviceResource("svc", "a"), spec.generate())
			starts := h.starts("heap-growth")
			require.Len(t, starts, tt.wantStarts)
			if tt.wantStarts > 0 {
				latency := startOffset(t, starts[0]) - 20*time.Minute
				assert.Positive(t, latency)
				assert.LessOrEqual(t, latency, 5*time.Minute+5*time.Minute/4)
				t.Logf("latency %s", latency)
			}
		})
	}
}

func TestGCFrequencySynthetic(t *testing.T) {
	storm := func(d time.Duration) float64 {
		if d >= 30*time.Minute && d < 40*time.Minute {
			return 900
		}
		return 20
	}
	tests := []struct {
		name       string
		params     RuleParams
		rate       func(time.Duration) float64
		wantStarts int
	}{
		{name: "absolute, calm", params: RuleParams{MaxPerMinute: 500}, rate: func(time.Duration) float64 { return 60 }},
		{name: "absolute, storm", params: RuleParams{MaxPerMinute: 500}, rate: storm, wantStarts: 1},
		{name: "baseline, calm but busy", params: RuleParams{BaselineMultiple: 5}, rate: func(time.Duration) float64 { return 300 }},
		{name: "baseline, storm", params: RuleParams{BaselineMultiple: 5}, rate: storm, wantStarts: 1},
		{name: "baseline, storm before warm-up is not judged", params: RuleParams{BaselineMultiple: 5, BaselineWarmup: time.Hour}, rate: storm},
		{name: "pause time", params: RuleParams{MaxPausePerMinute: 100 * time.Millisecond}, rate: storm, wantStarts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(gcRule(tt.params)))
			spec := seriesSpec{duration: time.Hour, interval: 15 * time.Second, seed: 11, goroutines: noisy(50, 3), gcPerMinute: tt.rate}
			h.replay(namingOldRuntime, serviceResource("svc", "a"), spec.generate())
			starts := h.starts("gc-storm")
			require.Len(t, starts, tt.wantStarts)
			if tt.wantStarts > 0 {
				latency := startOffset(t, starts[0]) - 30*time.Minute
				assert.Positive(t, latency)
				assert.LessOrEqual(t, latency, 2*time.Minute)
				require.Len(t, h.ends("gc-storm"), 1, "the storm ends, so does the episode")
			}
		})
	}
}

func TestGCFrequencyNearMemoryLimit(t *testing.T) {
	h := newHarness(t, testConfig(gcRule(RuleParams{MaxPerMinute: 100})))
	spec := seriesSpec{duration: 10 * time.Minute, interval: 15 * time.Second, seed: 1, goroutines: noisy(50, 3),
		gcPerMinute: func(time.Duration) float64 { return 600 }}
	samples := spec.generate()
	for i := range samples {
		samples[i].MemoryLimit = 100e6
		samples[i].NextGC = 95e6
	}
	h.replay(namingPrometheus, serviceResource("svc", "a"), samples)
	starts := h.starts("gc-storm")
	require.Len(t, starts, 1)
	fields := starts[0].ContextMap()
	assert.Equal(t, "true", fields["near_memory_limit"])
	assert.Equal(t, "100000000", fields["memory_limit_bytes"])
}

func TestThresholdRule(t *testing.T) {
	value := 1000.0
	cfg := testConfig(RuleConfig{
		Name: "too-many-threads", Kind: KindThreshold, Cooldown: time.Minute,
		Params: RuleParams{Metric: "pprofscrape.thread.count", Comparator: ">", Value: &value, For: time.Minute,
			Attributes: map[string]string{"service.name": "svc"}},
	})
	cfg.AnnotateInterval = 0 // every batch: the test reads the state from the last one
	h := newHarness(t, cfg)
	var last pmetric.Metrics
	send := func(at time.Duration, v float64, service string) {
		md := toMetrics(namingSemconv, serviceResource(service, "a"), epoch, runtimeSample{OffsetMillis: at.Milliseconds()})
		m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
		m.SetName("pprofscrape.thread.count")
		dp := m.SetEmptySum().DataPoints().AppendEmpty()
		dp.SetTimestamp(tsAt(at))
		dp.SetIntValue(int64(v))
		last = h.feed(md)
	}
	// A spike shorter than `for` is not an episode.
	send(0, 10, "svc")
	send(15*time.Second, 2000, "svc")
	send(30*time.Second, 10, "svc")
	require.Empty(t, h.starts("too-many-threads"))
	// Another service does not match the attribute matcher.
	for i := range 10 {
		send(time.Duration(i)*15*time.Second, 5000, "other")
	}
	require.Empty(t, h.starts("too-many-threads"))
	// Sustained for a minute: one episode, however many points cross.
	for i := 4; i < 12; i++ {
		send(time.Duration(i)*15*time.Second, 2000, "svc")
	}
	require.Len(t, h.starts("too-many-threads"), 1)
	ann := last.ResourceMetrics().At(last.ResourceMetrics().Len() - 1).ScopeMetrics().At(0).Metrics()
	require.Equal(t, metricAnomalyActive, ann.At(0).Name())
	assert.Equal(t, int64(1), ann.At(0).Gauge().DataPoints().At(0).IntValue())
	assert.Equal(t, int64(1), ann.At(1).Sum().DataPoints().At(0).IntValue())
	// Out-of-order points are skipped, never evaluated.
	send(20*time.Second, 10, "svc")
	require.Empty(t, h.ends("too-many-threads"))
	// The episode ends after the condition stayed false for `for`.
	for i := 12; i < 20; i++ {
		send(time.Duration(i)*15*time.Second, 10, "svc")
	}
	require.Len(t, h.ends("too-many-threads"), 1)
}

func TestMannKendall(t *testing.T) {
	var sc trendScratch
	assert.Less(t, mannKendallIncreasing([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, &sc), 0.001)
	assert.Equal(t, 1.0, mannKendallIncreasing([]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, &sc))
	assert.Equal(t, 1.0, mannKendallIncreasing([]float64{5, 5, 5, 5, 5, 5}, &sc))
	p := mannKendallIncreasing([]float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}, &sc)
	assert.Greater(t, p, 0.05)
	slope, intercept := theilSenPoints([]floorPoint{{0, 1}, {1, 3}, {2, 5}, {3, 7}, {4, 100}, {5, 11}}, &sc)
	assert.InDelta(t, 2, slope, 1e-9, "one outlier does not move the Theil-Sen slope")
	assert.InDelta(t, 1, intercept, 1e-9)
}

func TestCounterRate(t *testing.T) {
	minute := int64(time.Minute)
	samples := []sample{{0, 100}, {minute, 200}, {2 * minute, 10}, {3 * minute, 110}, {10 * minute, 5000}, {11 * minute, 5100}}
	rate, covered := counterRate(samples, int64(2*time.Minute))
	assert.InDelta(t, 100, rate, 1e-9, "the reset and the gap are not counted as increase")
	assert.Equal(t, 3*minute, covered)
}

// A leak that stops leaves its goroutines behind: the growth episode ends once the floor stops rising, and the
// plateau does not start another one.
func TestGrowthEpisodeEndsWhenGrowthStops(t *testing.T) {
	h := newHarness(t, testConfig(goroutineRule()))
	spec := seriesSpec{duration: time.Hour, interval: 15 * time.Second, seed: 21,
		goroutines: func(d time.Duration, rng *rand.Rand) float64 {
			leaked := 40 * min(max(0, d.Minutes()-20), 10) // 40/min from 20 m to 30 m, then a plateau of 400
			return 100 + leaked + rng.NormFloat64()*10
		}}
	h.replay(namingPprofscrape, serviceResource("svc", "a"), spec.generate())
	require.Len(t, h.starts("goroutine-leak"), 1)
	ends := h.ends("goroutine-leak")
	require.Len(t, ends, 1)
	end := startOffset(t, ends[0])
	assert.Greater(t, end, 30*time.Minute)
	assert.LessOrEqual(t, end, 30*time.Minute+5*time.Minute+time.Minute, "within a window (and two evaluations) of the stop")
}

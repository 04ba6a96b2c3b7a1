package readinessprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fixtures in testdata/series are the demo service's real runtime metrics, recorded by testdata/recorder
// (time compressed: one real second of the service is 15 labelled seconds, see each fixture's time_scale).

// recordedRules are the defaults of the README's examples.
func recordedRules() *Config {
	return testConfig(
		goroutineRule(),
		heapRule(),
		gcRule(RuleParams{MaxPerMinute: 500, BaselineMultiple: 4}),
	)
}

// onsetOf is the labelled time of the last sample before the recorder switched a knob (before sample index).
func onsetOf(rec recording, index int) time.Duration { return rec.Samples[index-1].at() }

func TestRecordedHealthyHasNoAnomaly(t *testing.T) {
	for _, name := range []string{"healthy", "restart"} {
		rec := loadRecording(t, name)
		for _, n := range []naming{namingPprofscrape, namingPrometheus, namingSemconv} {
			t.Run(name+"/"+n.String(), func(t *testing.T) {
				h := newHarness(t, recordedRules())
				h.replay(n, serviceResource("demoapp", "127.0.0.1:6060"), rec.Samples)
				assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
			})
		}
	}
	t.Run("healthy with gaps", func(t *testing.T) {
		rec := loadRecording(t, "healthy")
		var samples []runtimeSample
		for i, s := range rec.Samples {
			if (i >= 30 && i < 38) || i%9 == 0 {
				continue // an outage of two labelled minutes and scattered lost scrapes
			}
			samples = append(samples, s)
		}
		h := newHarness(t, recordedRules())
		h.replay(namingPrometheus, serviceResource("demoapp", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
	t.Run("healthy, restarted and glued", func(t *testing.T) {
		// Two recordings back to back under one identity: the second process starts with counters at zero.
		first, second := loadRecording(t, "healthy"), loadRecording(t, "restart")
		samples := append(append([]runtimeSample{}, first.Samples...), shift(second.Samples, first.Samples[len(first.Samples)-1].at()+15*time.Second)...)
		h := newHarness(t, recordedRules())
		h.replay(namingPprofscrape, serviceResource("demoapp", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
}

func TestRecordedLeaks(t *testing.T) {
	const window = 5 * time.Minute
	tests := []struct {
		fixture string
		naming  naming
		// evidence is what should start the episode: the goroutineleak profile, or the trend of the count.
		evidence   string
		maxLatency time.Duration
	}{
		{fixture: "leak_fast", naming: namingPprofscrape, evidence: "goroutineleak profile", maxLatency: time.Minute},
		{fixture: "leak_fast", naming: namingPrometheus, evidence: "trend", maxLatency: window},
		{fixture: "leak_slow", naming: namingPprofscrape, evidence: "goroutineleak profile", maxLatency: time.Minute},
		// 8/min on the demo's 10-90 burst floor, time compressed x15 (a burst lasts labelled minutes): only the
		// long horizons see it, without per-site counts.
		{fixture: "leak_slow", naming: namingPrometheus, evidence: "trend", maxLatency: 12 * time.Minute},
		{fixture: "leak_slow", naming: namingOldRuntime, evidence: "trend", maxLatency: 12 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.naming.String(), func(t *testing.T) {
			rec := loadRecording(t, tt.fixture)
			h := newHarness(t, recordedRules())
			h.replay(tt.naming, serviceResource("demoapp", "a"), rec.Samples)
			starts := h.starts("goroutine-leak")
			require.Len(t, starts, 1, "one episode for the whole leak")
			fields := starts[0].ContextMap()
			if tt.evidence == "trend" {
				assert.Equal(t, "goroutines", fields["signal"])
			} else {
				assert.Equal(t, tt.evidence, fields["evidence"])
			}
			latency := startOffset(t, starts[0]) - onsetOf(rec, 40)
			t.Logf("latency %s, %v", latency, fields)
			assert.Positive(t, latency)
			assert.LessOrEqual(t, latency, tt.maxLatency)
			assert.Empty(t, h.starts("heap-growth"))
			assert.Empty(t, h.starts("gc-storm"))
		})
	}
}

func TestRecordedHeapGrowth(t *testing.T) {
	rec := loadRecording(t, "heapgrowth")
	for _, n := range []naming{namingPrometheus, namingPprofscrape} {
		t.Run(n.String(), func(t *testing.T) {
			h := newHarness(t, recordedRules())
			h.replay(n, serviceResource("demoapp", "a"), rec.Samples)
			starts := h.starts("heap-growth")
			require.Len(t, starts, 1)
			latency := startOffset(t, starts[0]) - onsetOf(rec, 40)
			t.Logf("latency %s, %v", latency, starts[0].ContextMap())
			assert.Positive(t, latency)
			assert.LessOrEqual(t, latency, 5*time.Minute+5*time.Minute/4)
			assert.Empty(t, h.starts("goroutine-leak"))
		})
	}
}

func TestRecordedGCStorm(t *testing.T) {
	rec := loadRecording(t, "gcstorm")
	for _, n := range []naming{namingPrometheus, namingOldRuntime} {
		t.Run(n.String(), func(t *testing.T) {
			// The gc rule alone: compressed x15, the demo's goroutine bursts of a few real seconds last labelled
			// minutes, which is not what a goroutine rule sees at the real scrape rate (the zoo recordings are).
			h := newHarness(t, testConfig(gcRule(RuleParams{MaxPerMinute: 500, BaselineMultiple: 4})))
			h.replay(n, serviceResource("demoapp", "a"), rec.Samples)
			starts := h.starts("gc-storm")
			require.Len(t, starts, 1)
			latency := startOffset(t, starts[0]) - onsetOf(rec, 45)
			t.Logf("latency %s, %v", latency, starts[0].ContextMap())
			assert.Positive(t, latency)
			assert.LessOrEqual(t, latency, 2*time.Minute)
			ends := h.ends("gc-storm")
			require.Len(t, ends, 1, "the storm stops at sample 65, the episode ends")
			assert.Greater(t, startOffset(t, ends[0]), onsetOf(rec, 65))
		})
	}
}

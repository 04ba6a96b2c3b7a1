package readinessprocessor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zooRecording is a real-time recording of one fault zoo service (testbed/cmd/faultzoo/record): its runtime
// metrics and goroutines per call site every 10 s, with what the readiness rules must find in it.
type zooRecording struct {
	Scenario      string          `json:"scenario"`
	Kind          string          `json:"kind"`
	OnsetMillis   int64           `json:"onset_ms"`
	ExpectedSites []string        `json:"expected_sites"`
	Samples       []runtimeSample `json:"samples"`
}

const zooSeriesDir = "../../testbed/cmd/faultzoo/testdata/series"

// The zoo's real Go programs, replayed through the default rules as pprofscrape sends them (with per-site counts)
// and as the prometheus receiver does (total counts only).
func TestZooRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(zooSeriesDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "recordings in %s", zooSeriesDir)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		var rec zooRecording
		require.NoError(t, json.Unmarshal(data, &rec))
		for _, n := range []naming{namingPprofscrape, namingPrometheus} {
			t.Run(rec.Scenario+"/"+n.String(), func(t *testing.T) {
				h := newHarness(t, testConfig(defaultRulesAnnotating()...))
				h.replay(n, serviceResource(rec.Scenario, "a"), rec.Samples)
				starts := h.logs.FilterMessage("readiness anomaly started").All()
				if rec.Kind == "" || rec.Kind == "none" {
					assert.Empty(t, starts, "a healthy shape raised an episode")
					return
				}
				if n != namingPprofscrape && sitesOnlyFaults[rec.Scenario] {
					assert.Empty(t, starts, "invisible in the total count, which is all this source has")
					return
				}
				onset := time.Duration(rec.OnsetMillis) * time.Millisecond
				var found bool
				for _, e := range starts {
					fields := e.ContextMap()
					if fields["kind"] == KindHeapGrowth && rec.Kind == KindGoroutineGrowth {
						// Leaked goroutines hold memory: the heap grows with them (each leaked HTTP connection pins
						// its buffers), and that is reported too.
						continue
					}
					if fields["kind"] != rec.Kind {
						t.Errorf("unexpected episode: %v", fields)
						continue
					}
					if found {
						continue
					}
					found = true
					latency := startOffset(t, e) - onset
					t.Logf("latency %s: %v", latency, fields)
					assert.GreaterOrEqual(t, latency, time.Duration(0), "flagged before the onset")
					if site, ok := fields["top_site"].(string); ok && n == namingPprofscrape && len(rec.ExpectedSites) > 0 {
						assert.Truef(t, containsAny(site, rec.ExpectedSites), "named %s, want one of %v", site, rec.ExpectedSites)
					}
				}
				assert.True(t, found, "the %s fault was not flagged", rec.Kind)
			})
		}
	}
}

// sitesOnlyFaults are seen only in one call site's goroutine count (per-site tracking, pprofscrape's stacks).
var sitesOnlyFaults = map[string]bool{"leak-slow-site": true}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// loadZooRecording reads one recording of the fault zoo.
func loadZooRecording(t testing.TB, scenario string) zooRecording {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(zooSeriesDir, scenario+".json"))
	require.NoError(t, err)
	var rec zooRecording
	require.NoError(t, json.Unmarshal(data, &rec))
	require.NotEmpty(t, rec.Samples)
	return rec
}

// Healthy recordings stay healthy when scrapes are lost (an outage of two minutes and scattered misses), and when
// two processes' recordings follow each other under one identity (a restart: counters start again at zero).
func TestZooRecordingsGapsAndGlued(t *testing.T) {
	t.Run("healthy with gaps", func(t *testing.T) {
		rec := loadZooRecording(t, "healthy-wander")
		var samples []runtimeSample
		for i, s := range rec.Samples {
			if (i >= 20 && i < 32) || i%9 == 0 {
				continue
			}
			samples = append(samples, s)
		}
		h := newHarness(t, testConfig(defaultRulesAnnotating()...))
		h.replay(namingPrometheus, serviceResource("svc", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
	t.Run("healthy, restarted and glued", func(t *testing.T) {
		first, second := loadZooRecording(t, "healthy-wander"), loadZooRecording(t, "healthy-gcsawtooth")
		last := first.Samples[len(first.Samples)-1].at()
		samples := append(append([]runtimeSample{}, first.Samples...), shift(second.Samples, last+10*time.Second)...)
		h := newHarness(t, testConfig(defaultRulesAnnotating()...))
		h.replay(namingPprofscrape, serviceResource("svc", "a"), samples)
		assert.Empty(t, h.logs.FilterMessage("readiness anomaly started").All())
	})
}

// defaultRulesAnnotating are the default rules with the annotate action only (no broker in these tests).
func defaultRulesAnnotating() []RuleConfig {
	rules := defaultRules()
	for i := range rules {
		rules[i].Actions = []string{ActionAnnotate}
	}
	return rules
}

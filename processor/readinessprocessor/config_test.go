package readinessprocessor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	ext := component.MustNewIDWithName("pprofcapture", "main")
	leaked := 5.0
	threads := 500.0
	want := &Config{
		CaptureExtension:   &ext,
		EvaluationInterval: 10 * time.Second,
		AnnotateInterval:   time.Minute,
		MaxSeries:          200,
		MaxHistoryPoints:   120,
		IdleTimeout:        5 * time.Minute,
		MaxGap:             time.Minute,
		CaptureQueueSize:   4,
		CaptureTimeout:     time.Minute,
		Notify:             defaultNotifyConfig(),
		Rules: []RuleConfig{
			{
				Name: "goroutine-leak", Kind: KindGoroutineGrowth, Severity: "critical", Window: 10 * time.Minute, Cooldown: 30 * time.Minute,
				Params:  RuleParams{MinValue: 100, MinGrowth: 50, MinRelativeGrowth: 0.3, Significance: 0.005, MinPoints: 12, LeakedThreshold: &leaked},
				Actions: []string{ActionCapture, ActionAnnotate},
				Capture: CaptureActionConfig{Kinds: []pprofcaptureextension.Kind{"goroutine", "goroutine_delta", "heap"}, Duration: 10 * time.Second, FollowUp: 10 * time.Minute},
			},
			{Name: "heap-growth", Kind: KindHeapGrowth, Params: RuleParams{Signal: "heap_alloc", MinValue: 64 << 20}, Actions: []string{ActionCapture}},
			{Name: "gc-storm", Kind: KindGCFrequency, Window: time.Minute, Params: RuleParams{MaxPerMinute: 500, BaselineMultiple: 5, MaxPausePerMinute: 2 * time.Second, MaxCPUFraction: 0.25}},
			{Name: "many-threads", Kind: KindThreshold, Severity: "info", Params: RuleParams{
				Metric: "pprofscrape.thread.count", Attributes: map[string]string{"service.name": "checkout"}, Comparator: ">=", Value: &threads, For: 2 * time.Minute,
			}},
		},
	}
	assert.Equal(t, want, cfg)

	rules, err := compileRules(cfg)
	require.NoError(t, err)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap_delta", "heap"}, rules[1].captureKinds, "heap growth captures what grew during the capture and the heap")
	assert.Equal(t, []pprofcaptureextension.Kind{"allocs_delta", "heap"}, rules[2].captureKinds, "a GC storm captures what allocates")
	assert.True(t, rules[2].annotate, "annotate is the default action")
	assert.Equal(t, 2.0, rules[2].maxPausePerMinute)
	assert.Equal(t, time.Minute, rules[2].baselineWarmup)
	assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute}, rules[0].rise.horizons)
}

// readiness: {} runs the three runtime rules, capturing when a pprofcapture extension is there.
func TestEmptyConfigRunsTheDefaultRules(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	rules, err := compileRules(cfg)
	require.NoError(t, err)
	var kinds []string
	for _, r := range rules {
		kinds = append(kinds, r.kind)
		assert.True(t, r.annotate, r.name)
		assert.True(t, r.captureIfAvailable && !r.capture, "%s: a default rule does not require a capture extension", r.name)
	}
	assert.Equal(t, []string{KindGoroutineGrowth, KindHeapGrowth, KindGCFrequency}, kinds)

	// Without a pprofcapture extension the defaults still start (and only annotate).
	set := processortest.NewNopSettings(metadata.Type)
	p, err := newReadinessProcessor(set, cfg)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	assert.Nil(t, p.captures)
	require.NoError(t, p.shutdown(context.Background()))
}

func TestConfigValidationNamesTheField(t *testing.T) {
	tests := map[string]string{
		"unknown_kind":            `rules[0] ("r").kind: unknown kind "goroutine_leak"`,
		"short_window":            `rules[0] ("r").window: 10s is shorter than evaluation_interval 30s`,
		"long_min_horizon":        `rules[0] ("r").params.min_horizon: 10m0s is longer than window 5m0s`,
		"threshold_without_value": `rules[0] ("t").params.value: missing threshold value`,
		"bad_comparator":          `rules[0] ("t").params.comparator: unknown comparator "=>"`,
		"unknown_action":          `rules[0] ("r").actions[0]: unknown action "page"`,
		"unknown_capture_kind":    `rules[0] ("r").capture.kinds[0]: unknown capture kind "mutex"`,
		"duplicate_name":          `rules[1] ("r").name: duplicate rule name`,
		"param_of_other_kind":     `rules[0] ("r").params: min_per_minute, max_alloc_per_cycle_ratio, max_per_minute, baseline_*`,
		"no_name":                 `rules[0].name: every rule needs a name`,
		"bad_signal":              `rules[0] ("r").params.signal: unknown signal "rss"`,
		"zero_series":             `max_series must be positive`,
		"negative_follow_up":      `rules[0] ("r").capture.follow_up: must not be negative`,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}

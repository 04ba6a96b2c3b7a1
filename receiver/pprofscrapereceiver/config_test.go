package pprofscrapereceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadDefaultConfig(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.Equal(t, 30*time.Second, cfg.CollectionInterval)
	assert.Empty(t, cfg.Captures.Directory, "captures are off until a directory is set")
	assert.Equal(t, 30*time.Second, cfg.GoroutineStacksInterval, "per-site counts at every scrape by default")
	assert.Equal(t, 50, cfg.GoroutineMaxSites)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap", "goroutine", "goroutine_delta", "goroutineleak", "allocs_delta", "heap_delta"},
		cfg.Captures.AllowedKinds, "cpu stays opt-in")
}

func TestLoadFullConfig(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 15*time.Second, cfg.CollectionInterval)
	assert.Equal(t, 3*time.Second, cfg.RequestTimeout)
	assert.Equal(t, int64(1<<20), cfg.MaxBodySize)
	assert.Equal(t, 2, cfg.MaxConcurrentScrapes)
	assert.Equal(t, 5, cfg.GoroutineTopStacks)
	assert.Equal(t, 20, cfg.GoroutineMaxSites)
	assert.True(t, cfg.Metrics.PprofscrapeMutexContentions.Enabled)
	assert.False(t, cfg.Metrics.PprofscrapeGoroutineStackCount.Enabled)
	assert.True(t, cfg.Metrics.GoGoroutineCount.Enabled, "untouched metrics keep their default")

	require.Len(t, cfg.Targets, 2)
	first, second := cfg.Targets[0], cfg.Targets[1]
	assert.Equal(t, "http://localhost:6060", first.Endpoint)
	assert.Equal(t, "checkout", first.ServiceName)
	assert.Equal(t, map[string]string{"deployment.environment.name": "prod"}, first.Attributes)
	assert.Equal(t, "/debug/pprof", first.pathPrefix())
	assert.Equal(t, "/debug/vars", first.expvarPath())
	assert.Equal(t, "/internal/pprof", second.pathPrefix())
	assert.Empty(t, second.expvarPath())
	assert.Equal(t, "payments-0", second.ServiceInstanceID)
	assert.True(t, second.TLS.InsecureSkipVerify)
	assert.Len(t, second.Headers, 1)

	c := cfg.Captures
	assert.Equal(t, "/var/lib/otelcol/pprof", c.Directory)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap", "goroutine", "cpu"}, c.AllowedKinds)
	assert.Equal(t, 10*time.Minute, c.MinInterval)
	assert.Equal(t, 5, c.Retention.MaxFilesPerTarget)
	assert.Equal(t, 72*time.Hour, c.Retention.MaxAge)
	require.NotNil(t, c.Extension)
	assert.Equal(t, "pprofcapture/main", c.Extension.String())
}

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{name: "bad_endpoint", want: []string{"targets[0].endpoint", "http:// or https://"}},
		{name: "bad_kind", want: []string{`captures.allowed_kinds[0] "trace" is unknown`, "allocs_delta", "heap_delta"}},
		{name: "bad_limits", want: []string{"max_body_size must be positive", "max_concurrent_scrapes", "goroutine_max_sites must be at least 1", "targets[1].endpoint \"http://a:1\" repeats targets[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestUnknownTargetKeyIsRejected(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("pprofscrape/unknown_target_key")
	require.NoError(t, err)
	assert.ErrorContains(t, sub.Unmarshal(createDefaultConfig()), "servce_name")
}

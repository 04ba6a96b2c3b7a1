package promscrapereceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("promscrape")
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))

	assert.Equal(t, 10*time.Second, cfg.CollectionInterval)
	assert.Equal(t, defaultTimeout, cfg.Timeout)
	assert.Equal(t, int64(1<<20), cfg.MaxBodySize)
	require.Len(t, cfg.Targets, 2)
	assert.Equal(t, "checkout", cfg.Targets[0].ServiceName)
	assert.Equal(t, "checkout-1", cfg.Targets[0].ServiceInstanceID)
	u, err := cfg.Targets[0].scrapeURL()
	require.NoError(t, err)
	assert.Equal(t, "http://localhost:6060/metrics", u.String(), "a URL without a path scrapes /metrics")
	u, err = cfg.Targets[1].scrapeURL()
	require.NoError(t, err)
	assert.Equal(t, "https://localhost:9100/custom/metrics", u.String())
	header, ok := cfg.Targets[1].Headers.Get("X-Scraper")
	assert.True(t, ok)
	assert.Equal(t, "otelcol-ready", string(header))
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tt := range []struct {
		name      string
		endpoints []string
		maxBody   int64
		wantErr   string
	}{
		{"no targets is valid", nil, defaultMaxBodySize, ""},
		{"empty endpoint", []string{""}, defaultMaxBodySize, "targets[0]: endpoint is empty"},
		{"no scheme", []string{"localhost:6060"}, defaultMaxBodySize, "must be an http:// or https:// URL"},
		{"wrong scheme", []string{"ftp://localhost:6060"}, defaultMaxBodySize, "must be an http:// or https:// URL"},
		{"duplicate after the default path", []string{"http://a:1", "http://a:1/metrics"}, defaultMaxBodySize, "targets[1]: http://a:1/metrics is already targets[0]"},
		{"body limit", []string{"http://a:1"}, 0, "max_body_size must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWithTargets(tt.endpoints...)
			cfg.MaxBodySize = tt.maxBody
			err := cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestUnknownTargetKeyIsRefused(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("promscrape/unknown_key")
	require.NoError(t, err)
	assert.ErrorContains(t, sub.Unmarshal(createDefaultConfig()), "unknown target keys [metrics_path]")
}

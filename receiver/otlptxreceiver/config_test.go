package otlptxreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	load := func(name string) *Config {
		cfg := createDefaultConfig()
		sub, err := cm.Sub(name)
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))
		return cfg.(*Config)
	}
	def := load("otlptx")
	assert.Equal(t, defaultEndpoint, def.ServerConfig.NetAddr.Endpoint)
	assert.True(t, def.Dedup.Enabled)
	assert.Equal(t, 30*time.Minute, def.Dedup.Window)

	full := load("otlptx/full")
	assert.Equal(t, "0.0.0.0:4320", full.ServerConfig.NetAddr.Endpoint)
	assert.Equal(t, int64(8<<20), full.ServerConfig.MaxRequestBodySize)
	assert.Equal(t, 32<<20, full.MaxDecodedSize)
	assert.Equal(t, 2*time.Second, full.RetryAfter)
	require.True(t, full.ServerConfig.TLS.HasValue())
	assert.Equal(t, "/etc/otel/tls/ca.crt", full.ServerConfig.TLS.Get().ClientCAFile)
	assert.Equal(t, time.Hour, full.Dedup.Window)
	assert.Equal(t, 500000, full.Dedup.MaxEntries)
	assert.Equal(t, component.MustNewIDWithName("file_storage", "dedup"), *full.Dedup.Storage)
}

func TestValidateNamesTheField(t *testing.T) {
	storage := component.MustNewID("file_storage")
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"max_decoded_size", func(c *Config) { c.MaxDecodedSize = 0 }, "max_decoded_size"},
		{"retry_after", func(c *Config) { c.RetryAfter = -time.Second }, "retry_after"},
		{"window", func(c *Config) { c.Dedup.Window = 0 }, "dedup.window"},
		{"max_entries", func(c *Config) { c.Dedup.MaxEntries = 0 }, "dedup.max_entries"},
		{"storage without dedup", func(c *Config) { c.Dedup.Enabled = false; c.Dedup.Storage = &storage }, "dedup.storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, cfg.Validate())
			tt.modify(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

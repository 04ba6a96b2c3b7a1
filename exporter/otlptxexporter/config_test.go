package otlptxexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
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
	assert.Equal(t, []string{"https://gateway-0.example:4320"}, def.allEndpoints())
	assert.Equal(t, otlptx.CompressionSnappy, def.compression())
	assert.Equal(t, int(otlptx.FormatVersion2), def.FormatVersion)
	assert.Equal(t, 10*time.Minute, def.V2RetryInterval)
	assert.Equal(t, 100*time.Millisecond, def.Retry.InitialInterval)
	assert.Equal(t, 5*time.Second, def.Retry.MaxInterval)
	assert.Nil(t, def.Queue.Storage)

	full := load("otlptx/full")
	assert.Equal(t, []string{"https://gateway-0.example:4320", "https://gateway-1.example:4320"}, full.allEndpoints())
	assert.Equal(t, otlptx.CompressionZstd, full.compression())
	assert.Equal(t, "sidecar-a", full.SenderID)
	assert.Equal(t, 5*time.Second, full.ClientConfig.Timeout)
	assert.Equal(t, 1000, full.Batch.MaxItems)
	assert.Equal(t, 1<<20, full.Batch.MaxBytes)
	assert.Equal(t, 50*time.Millisecond, full.Batch.FlushTimeout)
	assert.Equal(t, 200*time.Millisecond, def.Batch.FlushTimeout)
	assert.Equal(t, policyDropOldest, full.Queue.WhenFull.Metrics)
	assert.Equal(t, policyRefuse, full.Queue.WhenFull.Traces)
	assert.Equal(t, 50, full.Queue.QueueSize)
	assert.Equal(t, 2, full.Queue.NumConsumers)
	assert.Equal(t, component.MustNewID("file_storage"), *full.Queue.Storage)
	assert.Equal(t, 10*time.Minute, full.Retry.MaxElapsedTime)
	assert.Equal(t, 10*time.Second, full.EndpointCooldown)
	assert.Equal(t, balancingFailover, full.Balancing)
	assert.Equal(t, balancingRoundRobin, def.Balancing)
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no endpoint", func(c *Config) { c.ClientConfig.Endpoint = "" }, "no endpoint"},
		{"bad endpoint", func(c *Config) { c.Endpoints = []string{"gateway:4320"} }, `endpoint "gateway:4320"`},
		{"gzip", func(c *Config) { c.ClientConfig.Compression = "gzip" }, "compression"},
		{"balancing", func(c *Config) { c.Balancing = "random" }, "balancing"},
		{"format_version", func(c *Config) { c.FormatVersion = 3 }, "format_version"},
		{"v2_retry_interval", func(c *Config) { c.V2RetryInterval = 0 }, "v2_retry_interval"},
		{"max_items", func(c *Config) { c.Batch.MaxItems = 0 }, "batch.max_items"},
		{"max_bytes", func(c *Config) { c.Batch.MaxBytes = -1 }, "batch.max_bytes"},
		{"when_full traces", func(c *Config) { c.Queue.WhenFull.Traces = policyDropOldest }, "sending_queue.when_full.traces"},
		{"when_full metrics", func(c *Config) { c.Queue.WhenFull.Metrics = "newest" }, "sending_queue.when_full.metrics"},
		{"queue_size", func(c *Config) { c.Queue.QueueSize = 0 }, "sending_queue.queue_size"},
		{"flush_timeout", func(c *Config) { c.Batch.FlushTimeout = -1 }, "batch.flush_timeout"},
		{"num_consumers", func(c *Config) { c.Queue.NumConsumers = 0 }, "sending_queue.num_consumers"},
		{"initial_interval", func(c *Config) { c.Retry.InitialInterval = 0 }, "retry_on_failure.initial_interval"},
		{"sender_id", func(c *Config) { c.SenderID = string(make([]byte, 300)) }, "sender_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.ClientConfig.Endpoint = "http://gateway:4320"
			require.NoError(t, cfg.Validate())
			tt.modify(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

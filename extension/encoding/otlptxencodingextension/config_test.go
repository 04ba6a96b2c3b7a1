package otlptxencodingextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for name, want := range map[string]*Config{
		"otlptx_encoding":      createDefaultConfig().(*Config),
		"otlptx_encoding/zstd": {Compression: otlptx.CompressionZstd, FormatVersion: 1, SenderID: "archive-writer", MaxDecodedSize: 1 << 20},
	} {
		cfg := createDefaultConfig()
		sub, err := cm.Sub(name)
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, want, cfg, name)
	}
}

func TestValidate(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Compression = "gzip"
	cfg.MaxDecodedSize = 0
	cfg.FormatVersion = 3
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compression")
	assert.Contains(t, err.Error(), "format_version")
	assert.Contains(t, err.Error(), "max_decoded_size")
}

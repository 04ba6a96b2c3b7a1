package readinesshubextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

func loadConfig(t *testing.T, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(id)
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, cfg.Validate()
}

func TestPageConfig(t *testing.T) {
	cfg, err := loadConfig(t, "readiness_hub")
	require.NoError(t, err)
	assert.False(t, cfg.Page.HasValue(), "no page unless configured")

	cfg, err = loadConfig(t, "readiness_hub/page")
	require.NoError(t, err)
	pc := cfg.Page.Get()
	require.NotNil(t, pc)
	assert.Equal(t, "localhost:13135", pc.NetAddr.Endpoint, "loopback by default")
	assert.Equal(t, defaultRefresh, pc.Refresh)
	cn := pc.CaptureNow.Get()
	require.NotNil(t, cn, "capture now is on by default")
	assert.Contains(t, cn.Kinds, pprofcaptureextension.KindHeap)

	cfg, err = loadConfig(t, "readiness_hub/page_custom")
	require.NoError(t, err)
	pc = cfg.Page.Get()
	assert.Equal(t, "0.0.0.0:9999", pc.NetAddr.Endpoint)
	assert.Equal(t, "https://readiness.example.com/", pc.URL)
	assert.Equal(t, 30*time.Second, pc.Refresh)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap", "cpu"}, pc.CaptureNow.Get().Kinds)
	assert.Equal(t, 40*time.Second, pc.CaptureNow.Get().Timeout)

	cfg, err = loadConfig(t, "readiness_hub/page_no_capture")
	require.NoError(t, err)
	assert.False(t, cfg.Page.Get().CaptureNow.HasValue())

	cfg, err = loadConfig(t, "readiness_hub/page_disabled")
	require.NoError(t, err)
	assert.False(t, cfg.Page.HasValue())

	cfg, err = loadConfig(t, "readiness_hub/page_tls")
	require.NoError(t, err, "the server's own sections (tls, cors) are the server's")
	assert.True(t, cfg.Page.Get().TLS.HasValue())

	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("readiness_hub/page_typo")
	require.NoError(t, err)
	assert.ErrorContains(t, sub.Unmarshal(NewFactory().CreateDefaultConfig()), "refrsh", "a misspelt key is an error")

	for id, want := range map[string]string{
		"readiness_hub/page_bad_kind":    `page::capture_now::kinds: unknown kind "stacks"`,
		"readiness_hub/page_bad_url":     "page::url",
		"readiness_hub/page_bad_refresh": "page::refresh",
	} {
		_, err := loadConfig(t, id)
		assert.ErrorContains(t, err, want, id)
	}
}

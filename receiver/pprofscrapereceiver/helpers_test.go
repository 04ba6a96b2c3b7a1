package pprofscrapereceiver

import (
	"context"
	"expvar"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// newPprofMux serves the real net/http/pprof handlers (and expvar when withExpvar) on a fresh mux, as a service
// that imports net/http/pprof does.
func newPprofMux(withExpvar bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	if withExpvar {
		mux.Handle("/debug/vars", expvar.Handler())
	}
	return mux
}

func newPprofServer(t testing.TB, withExpvar bool) *httptest.Server {
	srv := httptest.NewServer(newPprofMux(withExpvar))
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(endpoints ...string) *Config {
	cfg := createDefaultConfig().(*Config)
	for _, e := range endpoints {
		cfg.Targets = append(cfg.Targets, TargetConfig{ClientConfig: clientConfig(e), ServiceName: "svc"})
	}
	return cfg
}

func clientConfig(endpoint string) confighttpClientConfig {
	c := newClientConfig()
	c.Endpoint = endpoint
	return c
}

// startedReceiver builds a receiver whose scrapes the test drives by calling scrapeAll.
func startedReceiver(t testing.TB, cfg *Config, host component.Host) (*pprofReceiver, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	r, err := newPprofReceiver(cfg, set)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, r.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r, logs
}

// metricsByName indexes the metrics of the first resource.
func metricsByName(t testing.TB, md pmetric.Metrics) (pcommon.Resource, map[string]pmetric.Metric) {
	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	out := map[string]pmetric.Metric{}
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		out[ms.At(i).Name()] = ms.At(i)
	}
	return rm.Resource(), out
}

func intValue(t testing.TB, m pmetric.Metric) int64 {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().At(0).IntValue()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().At(0).IntValue()
	}
	t.Fatalf("metric %s has type %s", m.Name(), m.Type())
	return 0
}

func receiverSettingsForTest() receiver.Settings {
	return receivertest.NewNopSettings(metadata.Type)
}

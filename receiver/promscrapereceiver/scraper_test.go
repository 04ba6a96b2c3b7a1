package promscrapereceiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver/internal/metadata"
)

// goService is a client_golang registry like a Go service's: a labelled counter, a gauge, a histogram and a
// summary, served by promhttp on loopback.
type goService struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	inFlight prometheus.Gauge
	latency  prometheus.Histogram
	sizes    prometheus.Summary
}

func newGoService(t *testing.T) *goService {
	t.Helper()
	s := &goService{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests served."}, []string{"code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_in_flight", Help: "Requests in flight."}),
		latency:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "http_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 0.5, 1}}),
		sizes:    prometheus.NewSummary(prometheus.SummaryOpts{Name: "http_response_bytes", Help: "Sizes.", Objectives: map[float64]float64{0.5: 0.05}}),
	}
	s.registry.MustRegister(s.requests, s.inFlight, s.latency, s.sizes)
	s.requests.WithLabelValues("200").Add(7)
	s.requests.WithLabelValues("500").Inc()
	s.inFlight.Set(3)
	for _, v := range []float64{0.05, 0.3, 0.3, 0.7, 2} {
		s.latency.Observe(v)
	}
	s.sizes.Observe(100)
	return s
}

// serve starts the registry's /metrics on loopback; textOnly drops the Accept header so promhttp answers in the
// text format, as any non-Go exporter would.
func (s *goService) serve(t *testing.T, textOnly bool) *httptest.Server {
	t.Helper()
	handler := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if textOnly {
			r.Header.Del("Accept")
		}
		handler.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func configWithTargets(endpoints ...string) *Config {
	cfg := createDefaultConfig()
	for _, e := range endpoints {
		tc := TargetConfig{ClientConfig: confighttp.NewDefaultClientConfig()}
		tc.Endpoint = e
		cfg.Targets = append(cfg.Targets, tc)
	}
	return cfg
}

func startedScraper(t *testing.T, cfg *Config) *promScraper {
	t.Helper()
	require.NoError(t, cfg.Validate())
	s := newPromScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s
}

func metricsByName(rm pmetric.ResourceMetrics) map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		out[ms.At(i).Name()] = ms.At(i)
	}
	return out
}

func TestScrapeClientGolang(t *testing.T) {
	for _, format := range []struct {
		name     string
		textOnly bool
	}{{"protobuf", false}, {"text", true}} {
		t.Run(format.name, func(t *testing.T) {
			svc := newGoService(t)
			srv := svc.serve(t, format.textOnly)
			cfg := configWithTargets(srv.URL)
			cfg.Targets[0].ServiceName = "checkout"
			s := startedScraper(t, cfg)

			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			require.Equal(t, 1, md.ResourceMetrics().Len())
			rm := md.ResourceMetrics().At(0)
			name, _ := rm.Resource().Attributes().Get("service.name")
			assert.Equal(t, "checkout", name.Str())
			instance, _ := rm.Resource().Attributes().Get("service.instance.id")
			assert.Equal(t, srv.Listener.Addr().String(), instance.Str())
			assert.Equal(t, metadata.ScopeName, rm.ScopeMetrics().At(0).Scope().Name())

			byName := metricsByName(rm)
			requests := byName["http_requests_total"]
			require.Equal(t, pmetric.MetricTypeSum, requests.Type(), "counter")
			assert.True(t, requests.Sum().IsMonotonic())
			assert.Equal(t, pmetric.AggregationTemporalityCumulative, requests.Sum().AggregationTemporality())
			assert.Equal(t, "Requests served.", requests.Description())
			byCode := map[string]float64{}
			for i := 0; i < requests.Sum().DataPoints().Len(); i++ {
				dp := requests.Sum().DataPoints().At(i)
				code, _ := dp.Attributes().Get("code")
				byCode[code.Str()] = dp.DoubleValue()
				assert.NotZero(t, dp.StartTimestamp())
				assert.LessOrEqual(t, dp.StartTimestamp(), dp.Timestamp())
			}
			assert.Equal(t, map[string]float64{"200": 7, "500": 1}, byCode)

			require.Equal(t, pmetric.MetricTypeGauge, byName["http_in_flight"].Type())
			assert.Equal(t, 3.0, byName["http_in_flight"].Gauge().DataPoints().At(0).DoubleValue())

			latency := byName["http_latency_seconds"]
			require.Equal(t, pmetric.MetricTypeHistogram, latency.Type())
			hdp := latency.Histogram().DataPoints().At(0)
			assert.Equal(t, uint64(5), hdp.Count())
			assert.InDelta(t, 3.35, hdp.Sum(), 1e-9)
			assert.Equal(t, []float64{0.1, 0.5, 1}, hdp.ExplicitBounds().AsRaw())
			assert.Equal(t, []uint64{1, 2, 1, 1}, hdp.BucketCounts().AsRaw())

			sizes := byName["http_response_bytes"]
			require.Equal(t, pmetric.MetricTypeSummary, sizes.Type())
			sdp := sizes.Summary().DataPoints().At(0)
			assert.Equal(t, uint64(1), sdp.Count())
			require.Equal(t, 1, sdp.QuantileValues().Len())
			assert.Equal(t, 0.5, sdp.QuantileValues().At(0).Quantile())
			assert.Equal(t, 100.0, sdp.QuantileValues().At(0).Value())

			assert.Equal(t, 1.0, byName[upMetricName].Gauge().DataPoints().At(0).DoubleValue())
		})
	}
}

func TestStartTimeFromProcessCollector(t *testing.T) {
	svc := newGoService(t)
	// The text format carries no created timestamps: the process start time is the counters' start.
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	svc.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: processStartMetric, Help: "Start."},
		func() float64 { return float64(start.Unix()) }))
	srv := svc.serve(t, true)
	s := startedScraper(t, configWithTargets(srv.URL+"/metrics"))
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	requests := metricsByName(md.ResourceMetrics().At(0))["http_requests_total"]
	assert.Equal(t, pcommon.NewTimestampFromTime(start), requests.Sum().DataPoints().At(0).StartTimestamp())
}

func TestFailingTargetIsUpZeroAndOthersStillArrive(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	healthy := newGoService(t).serve(t, false)
	s := startedScraper(t, configWithTargets(broken.URL, healthy.URL))

	md, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err), "a failing target is a partial scrape error: %v", err)
	assert.ErrorContains(t, err, "500")
	require.Equal(t, 2, md.ResourceMetrics().Len())
	brokenMetrics := metricsByName(md.ResourceMetrics().At(0))
	assert.Len(t, brokenMetrics, 1, "only up for the failing target")
	assert.Equal(t, 0.0, brokenMetrics[upMetricName].Gauge().DataPoints().At(0).DoubleValue())
	healthyMetrics := metricsByName(md.ResourceMetrics().At(1))
	assert.Equal(t, 1.0, healthyMetrics[upMetricName].Gauge().DataPoints().At(0).DoubleValue())
	assert.Contains(t, healthyMetrics, "http_requests_total")
}

func TestBodyLargerThanLimitFails(t *testing.T) {
	srv := newGoService(t).serve(t, true)
	cfg := configWithTargets(srv.URL)
	cfg.MaxBodySize = 64
	s := startedScraper(t, cfg)
	_, err := s.scrape(context.Background())
	assert.ErrorContains(t, err, "max_body_size")
}

func TestReceiverDeliversOnEveryCollectionInterval(t *testing.T) {
	srv := newGoService(t).serve(t, false)
	cfg := configWithTargets(srv.URL)
	cfg.CollectionInterval = 50 * time.Millisecond
	sink := &consumertest.MetricsSink{}
	rcv, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	assert.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, rcv.Shutdown(context.Background()))
}

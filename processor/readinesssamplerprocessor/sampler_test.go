package readinesssamplerprocessor

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor/internal/metadatatest"
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

	cfg, err = loadConfig(t, "local")
	require.NoError(t, err)
	hub := component.MustNewIDWithName("readiness_hub", "main")
	assert.Equal(t, &Config{HubExtension: &hub, SamplingPercentage: 10, EpisodeSamplingPercentage: 100, EpisodeTail: 2 * time.Minute}, cfg)

	for name, want := range map[string]string{
		"bad_percentage":     "sampling_percentage: 150 is not a percentage",
		"episode_below_base": "episode_sampling_percentage: 20 is below sampling_percentage 50",
		"negative_tail":      "episode_tail: must not be negative",
	} {
		_, err := loadConfig(t, name)
		assert.ErrorContains(t, err, want, name)
	}
}

func TestThreshold(t *testing.T) {
	assert.Equal(t, uint64(0), threshold(100))
	assert.Equal(t, maxRandomness, threshold(0))
	assert.Equal(t, maxRandomness/2, threshold(50))
	assert.InDelta(t, float64(maxRandomness)*0.9, float64(threshold(10)), 2, "10 %% keeps the top tenth of the range")
	// A trace kept at a rate is kept at every higher rate (thresholds nest).
	assert.Less(t, threshold(20), threshold(10))
}

// The decision reads only the trace id's low 56 bits: the high half and the byte above them do not matter.
func TestRandomnessIsTheLow56Bits(t *testing.T) {
	var a, b pcommon.TraceID
	binary.BigEndian.PutUint64(a[8:], 0x00ABCDEF01234567)
	b = a
	b[0], b[7], b[8] = 0xFF, 0x11, 0x7F
	assert.Equal(t, uint64(0xABCDEF01234567), randomness(a))
	assert.Equal(t, randomness(a), randomness(b))
}

type fixture struct {
	hub  readinesshubextension.Hub
	sink *consumertest.TracesSink
	tel  *componenttest.Telemetry
	proc processor.Traces
}

type testHost struct {
	exts map[component.ID]component.Component
}

func (h *testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func newFixture(t *testing.T, cfg *Config) *fixture {
	t.Helper()
	require.NoError(t, confmap.Validate(cfg))
	hubFactory := readinesshubextension.NewFactory()
	hub, err := hubFactory.Create(context.Background(), extensiontest.NewNopSettings(hubFactory.Type()), hubFactory.CreateDefaultConfig())
	require.NoError(t, err)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	f := &fixture{hub: hub.(readinesshubextension.Hub), sink: new(consumertest.TracesSink), tel: tel}
	f.proc, err = NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg, f.sink)
	require.NoError(t, err)
	host := &testHost{exts: map[component.ID]component.Component{component.NewID(hubFactory.Type()): hub}}
	require.NoError(t, f.proc.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, f.proc.Shutdown(context.Background())) })
	return f
}

// traces builds one resource per service with n single-span traces each (random trace ids from a fixed seed),
// plus, for every trace, a second span of the same trace under a second scope.
func traces(rng *rand.Rand, n int, services ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, svc := range services {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		a, b := rs.ScopeSpans().AppendEmpty(), rs.ScopeSpans().AppendEmpty()
		for i := 0; i < n; i++ {
			var id pcommon.TraceID
			binary.BigEndian.PutUint64(id[:8], rng.Uint64())
			binary.BigEndian.PutUint64(id[8:], rng.Uint64())
			for _, ss := range []ptrace.ScopeSpans{a, b} {
				span := ss.Spans().AppendEmpty()
				span.SetTraceID(id)
				span.SetName("op")
			}
		}
	}
	return td
}

// kept counts the kept spans per service, checks that both spans of a trace got the same decision, and counts
// the spans marked as kept because of an episode.
func kept(t *testing.T, all []ptrace.Traces) (spans map[string]int, marked map[string]int) {
	t.Helper()
	spans, marked = map[string]int{}, map[string]int{}
	for _, td := range all {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			perTrace := map[pcommon.TraceID]int{}
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					span := ss.At(k)
					spans[svc.Str()]++
					perTrace[span.TraceID()]++
					if r, ok := span.Attributes().Get(AttrSamplingReason); ok {
						assert.Equal(t, "episode", r.Str())
						rule, _ := span.Attributes().Get(AttrSamplingRule)
						assert.Equal(t, "goroutine-leak", rule.Str())
						marked[svc.Str()]++
					}
				}
			}
			for id, n := range perTrace {
				assert.Equal(t, 2, n, "both spans of trace %s kept together", id)
			}
		}
	}
	return spans, marked
}

// within checks a kept share against the binomial spread (5 standard deviations: a failure is a real bias).
func within(t *testing.T, got, n int, p float64, msg string) {
	t.Helper()
	sd := math.Sqrt(float64(n) * p * (1 - p))
	assert.InDelta(t, float64(n)*p, float64(got), 5*sd+0.5, "%s: kept %d of %d, want %.0f%%", msg, got, n, p*100)
}

func startEpisode(hub readinesshubextension.Hub, service string) readinesshubextension.Episode {
	ep := readinesshubextension.Episode{ID: service + "-1", Rule: "goroutine-leak", Kind: "goroutine_growth",
		Target: pprofcaptureextension.TargetKey{ServiceName: service}, Start: time.Now()}
	hub.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: ep})
	return ep
}

func TestBaseAndEpisodeRates(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SamplingPercentage = 10
	cfg.EpisodeSamplingPercentage = 60
	cfg.EpisodeTail = time.Hour
	f := newFixture(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4000

	require.NoError(t, f.proc.ConsumeTraces(context.Background(), traces(rng, n, "flagged", "calm")))
	spans, marked := kept(t, f.sink.AllTraces())
	within(t, spans["flagged"]/2, n, 0.10, "flagged before its episode")
	within(t, spans["calm"]/2, n, 0.10, "calm")
	assert.Empty(t, marked)

	ep := startEpisode(f.hub, "flagged")
	f.sink.Reset()
	require.NoError(t, f.proc.ConsumeTraces(context.Background(), traces(rng, n, "flagged", "calm")))
	spans, marked = kept(t, f.sink.AllTraces())
	within(t, spans["flagged"]/2, n, 0.60, "flagged during its episode")
	within(t, spans["calm"]/2, n, 0.10, "calm while the other is flagged")
	within(t, marked["flagged"]/2, n, 0.50, "kept because of the episode (60 % - 10 %)")
	assert.Zero(t, marked["calm"])

	// Within the tail after the end the episode rate holds (tail 1h); a tail of 0 returns to the base rate.
	f.hub.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseEnd, Episode: readinesshubextension.Episode{ID: ep.ID}})
	f.sink.Reset()
	require.NoError(t, f.proc.ConsumeTraces(context.Background(), traces(rng, n, "flagged")))
	spans, _ = kept(t, f.sink.AllTraces())
	within(t, spans["flagged"]/2, n, 0.60, "flagged in the tail")

	metadatatest.AssertEqualProcessorReadinessSamplerSpansKept(t, f.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("reason", "base"))},
		{Attributes: attribute.NewSet(attribute.String("reason", "episode"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreValue())
	metadatatest.AssertEqualProcessorReadinessSamplerSpansDropped(t, f.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("reason", "base"))},
		{Attributes: attribute.NewSet(attribute.String("reason", "episode"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreValue())
}

func TestEpisodeEndsWithoutTail(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SamplingPercentage = 0
	cfg.EpisodeTail = 0
	f := newFixture(t, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	ep := startEpisode(f.hub, "svc")
	require.NoError(t, f.proc.ConsumeTraces(context.Background(), traces(rng, 100, "svc", "other")))
	spans, marked := kept(t, f.sink.AllTraces())
	assert.Equal(t, 200, spans["svc"], "episode rate 100 % keeps every span")
	assert.Equal(t, 200, marked["svc"])
	assert.Zero(t, spans["other"], "base rate 0 %")

	f.hub.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseEnd, Episode: readinesshubextension.Episode{ID: ep.ID}})
	f.sink.Reset()
	require.NoError(t, f.proc.ConsumeTraces(context.Background(), traces(rng, 100, "svc")))
	assert.Zero(t, f.sink.SpanCount(), "nothing left: the whole batch is skipped")
}

// Two samplers (two collectors) decide the same for every trace.
func TestConsistentAcrossCollectors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SamplingPercentage = 25
	a, b := newFixture(t, cfg), newFixture(t, cfg)
	td := traces(rand.New(rand.NewPCG(5, 6)), 1000, "svc")
	tdCopy := ptrace.NewTraces()
	td.CopyTo(tdCopy)
	require.NoError(t, a.proc.ConsumeTraces(context.Background(), td))
	require.NoError(t, b.proc.ConsumeTraces(context.Background(), tdCopy))
	ids := func(s *consumertest.TracesSink) map[pcommon.TraceID]bool {
		out := map[pcommon.TraceID]bool{}
		for _, td := range s.AllTraces() {
			ss := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for i := 0; i < ss.Len(); i++ {
				out[ss.At(i).TraceID()] = true
			}
		}
		return out
	}
	assert.Equal(t, ids(a.sink), ids(b.sink))
	assert.NotEmpty(t, ids(a.sink))
}

// Spans without service.name, or of a service the hub does not flag, get the base rate; nothing a client sends
// (an attribute that looks like the sampler's) changes that.
func TestClientDataDoesNotFlag(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.SamplingPercentage = 0
	f := newFixture(t, cfg)
	td := traces(rand.New(rand.NewPCG(7, 8)), 50, "svc")
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutStr(AttrSamplingReason, "episode")
	rs.ScopeSpans().At(0).Spans().At(0).Attributes().PutStr(AttrSamplingReason, "episode")
	noName := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	noName.SetTraceID(pcommon.TraceID{1})
	require.NoError(t, f.proc.ConsumeTraces(context.Background(), td))
	assert.Zero(t, f.sink.SpanCount())
}

func TestStartWithoutHub(t *testing.T) {
	p, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), &testHost{})
	assert.ErrorContains(t, err, "add readiness_hub to service.extensions")
	require.NoError(t, p.Shutdown(context.Background()))

	cfg := createDefaultConfig().(*Config)
	id := component.MustNewIDWithName("readiness_hub", "missing")
	cfg.HubExtension = &id
	p, err = NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.ErrorContains(t, p.Start(context.Background(), &testHost{}), "hub_extension")
	require.NoError(t, p.Shutdown(context.Background()))
}

func BenchmarkConsumeTraces(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.SamplingPercentage = 10
	s, err := newSampler(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(b, err)
	hubFactory := readinesshubextension.NewFactory()
	hub, err := hubFactory.Create(context.Background(), extensiontest.NewNopSettings(hubFactory.Type()), hubFactory.CreateDefaultConfig())
	require.NoError(b, err)
	s.hub = hub.(readinesshubextension.Hub)
	startEpisode(s.hub, "svc-3")
	rng := rand.New(rand.NewPCG(9, 10))
	batch := traces(rng, 100, "svc-1", "svc-2", "svc-3", "svc-4")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		td := ptrace.NewTraces()
		batch.CopyTo(td)
		_, _ = s.processTraces(context.Background(), td)
	}
	b.ReportMetric(float64(batch.SpanCount()), "spans/op")
}

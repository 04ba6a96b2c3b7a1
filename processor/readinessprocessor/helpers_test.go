package readinessprocessor

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// runtimeSample is one observation of a Go process's runtime: the format of the fault zoo's recordings
// (testbed/cmd/faultzoo/testdata/series) and of the synthetic series.
type runtimeSample struct {
	// OffsetMillis is the sample's time from the start of the series.
	OffsetMillis   int64   `json:"t_ms"`
	Goroutines     float64 `json:"goroutines"`
	GCCycles       float64 `json:"gc_cycles"`
	GCPauseSeconds float64 `json:"gc_pause_seconds"`
	GCCPUFraction  float64 `json:"gc_cpu_fraction"`
	HeapInuse      float64 `json:"heap_inuse"`
	HeapAlloc      float64 `json:"heap_alloc"`
	NextGC         float64 `json:"next_gc"`
	MemoryLimit    float64 `json:"memory_limit"`
	// Leaked is the goroutineleak profile total; negative when the profile is not served.
	Leaked float64 `json:"leaked"`
	// TotalAlloc is the cumulative bytes allocated (MemStats.TotalAlloc); 0 when not recorded.
	TotalAlloc float64 `json:"total_alloc,omitempty"`
	// Sites are goroutines per call site (read from the goroutine stacks), when read at this sample.
	Sites map[string]float64 `json:"sites,omitempty"`
}

func (s runtimeSample) at() time.Duration { return time.Duration(s.OffsetMillis) * time.Millisecond }

// recording is one fixture file.
// naming selects under which metric names a sample is sent.
type naming int

const (
	namingPprofscrape naming = iota
	namingPrometheus
	namingSemconv
	namingOldRuntime
)

func (n naming) String() string {
	return [...]string{"pprofscrape", "prometheus", "semconv", "process.runtime.go"}[n]
}

var epoch = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)

// toMetrics renders one sample as the given source would send it.
func toMetrics(n naming, resource map[string]string, processStart time.Time, s runtimeSample) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	for k, v := range resource {
		rm.Resource().Attributes().PutStr(k, v)
	}
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := pcommon.NewTimestampFromTime(epoch.Add(s.at()))
	start := pcommon.NewTimestampFromTime(processStart)
	gauge := func(name string, v float64) pmetric.NumberDataPoint {
		m := ms.AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(v)
		return dp
	}
	sum := func(name string, v float64, monotonic bool) pmetric.NumberDataPoint {
		m := ms.AppendEmpty()
		m.SetName(name)
		sm := m.SetEmptySum()
		sm.SetIsMonotonic(monotonic)
		sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sm.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(v))
		return dp
	}
	switch n {
	case namingPprofscrape:
		sum("go.goroutine.count", s.Goroutines, false)
		sum("go.memory.gc.cycles", s.GCCycles, true)
		sum("go.memory.gc.goal", s.NextGC, false)
		sum("pprofscrape.heap.inuse", s.HeapInuse, false)
		sum("pprofscrape.heap.alloc", s.HeapAlloc, false)
		gauge("pprofscrape.gc.cpu_fraction", s.GCCPUFraction)
		p := sum("pprofscrape.gc.pause.total", 0, true)
		p.SetDoubleValue(s.GCPauseSeconds)
		if s.Leaked >= 0 {
			sum("pprofscrape.goroutine.leaked", s.Leaked, false)
		}
		if s.TotalAlloc > 0 {
			sum("go.memory.allocated", s.TotalAlloc, true)
		}
		if len(s.Sites) > 0 {
			m := ms.AppendEmpty()
			m.SetName(metricGoroutineSites)
			dps := m.SetEmptyGauge().DataPoints()
			for name, n := range s.Sites {
				dp := dps.AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetIntValue(int64(n))
				dp.Attributes().PutStr(siteAttribute, name)
			}
		}
	case namingPrometheus:
		gauge("go_goroutines", s.Goroutines)
		m := ms.AppendEmpty()
		m.SetName("go_gc_duration_seconds")
		dp := m.SetEmptySummary().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetCount(uint64(s.GCCycles))
		dp.SetSum(s.GCPauseSeconds)
		gauge("go_memstats_heap_inuse_bytes", s.HeapInuse)
		gauge("go_memstats_heap_alloc_bytes", s.HeapAlloc)
		gauge("go_memstats_next_gc_bytes", s.NextGC)
		if s.MemoryLimit > 0 {
			gauge("go_gc_gomemlimit_bytes", s.MemoryLimit)
		}
		if s.TotalAlloc > 0 {
			sum("go_memstats_alloc_bytes_total", s.TotalAlloc, true)
		}
	case namingSemconv:
		sum("go.goroutine.count", s.Goroutines, false)
		m := ms.AppendEmpty()
		m.SetName("go.memory.used")
		sm := m.SetEmptySum()
		for typ, share := range map[string]float64{"stack": 0.1, "other": 0.9} {
			dp := sm.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(int64(s.HeapInuse * share))
			dp.Attributes().PutStr("go.memory.type", typ)
		}
		sum("go.memory.gc.goal", s.NextGC, false)
		if s.MemoryLimit > 0 {
			sum("go.memory.limit", s.MemoryLimit, false)
		}
		if s.TotalAlloc > 0 {
			sum("go.memory.allocated", s.TotalAlloc, true)
		}
	case namingOldRuntime:
		sum("process.runtime.go.goroutines", s.Goroutines, false)
		sum("process.runtime.go.gc.count", s.GCCycles, true)
		sum("process.runtime.go.gc.pause_total_ns", s.GCPauseSeconds*1e9, true)
		sum("process.runtime.go.mem.heap_inuse", s.HeapInuse, false)
		sum("process.runtime.go.mem.heap_alloc", s.HeapAlloc, false)
	}
	return md
}

func serviceResource(name, instance string) map[string]string {
	return map[string]string{"service.name": name, "service.instance.id": instance, "server.address": "127.0.0.1"}
}

// harness runs a processor built by the factory with an observed logger, a metrics sink and a recording broker.
type harness struct {
	t    testing.TB
	p    *readinessProcessor
	logs *observer.ObservedLogs
	tel  *componenttest.Telemetry
	// capturer is registered with a real pprofcapture extension, which the processor finds on the host.
	capturer *recordingCapturer
	// hub is a real readiness_hub extension on the host.
	hub   readinesshubextension.Hub
	clock time.Time
}

func newHarness(t testing.TB, cfg *Config) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	p, err := newReadinessProcessor(set, cfg)
	require.NoError(t, err)
	h := &harness{t: t, p: p, logs: logs, tel: tel, capturer: newRecordingCapturer(), clock: epoch}
	p.now = func() time.Time { return h.clock }
	ext := newCaptureExtension(t)
	t.Cleanup(ext.(pprofcaptureextension.Broker).Register(h.capturer))
	hub, err := readinesshubextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(hubType), readinesshubextension.NewFactory().CreateDefaultConfig())
	require.NoError(t, err)
	h.hub = hub.(readinesshubextension.Hub)
	host := &testHost{exts: map[component.ID]component.Component{component.NewID(captureType): ext, component.NewID(hubType): hub}}
	require.NoError(t, p.start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return h
}

func (h *harness) feed(md pmetric.Metrics) pmetric.Metrics {
	h.t.Helper()
	out, err := h.p.processMetrics(context.Background(), md)
	require.NoError(h.t, err)
	return out
}

// replay sends every sample under one naming and returns the offsets at which episodes started.
func (h *harness) replay(n naming, resource map[string]string, samples []runtimeSample) {
	h.t.Helper()
	for _, s := range samples {
		h.clock = epoch.Add(s.at())
		h.feed(toMetrics(n, resource, epoch.Add(-time.Hour), s))
	}
}

// episodes returns the logged starts of the rule.
func (h *harness) starts(ruleName string) []observer.LoggedEntry {
	return h.logs.FilterMessage("readiness anomaly started").FilterField(zap.String("rule", ruleName)).All()
}

func (h *harness) ends(ruleName string) []observer.LoggedEntry {
	return h.logs.FilterMessage("readiness anomaly ended").FilterField(zap.String("rule", ruleName)).All()
}

// startOffset is the data time of an episode start relative to the series start.
func startOffset(t testing.TB, e observer.LoggedEntry) time.Duration {
	t.Helper()
	for _, f := range e.Context {
		if f.Key == "data_time" {
			return time.Unix(0, f.Integer).Sub(epoch)
		}
	}
	t.Fatalf("no data_time in %v", e.Context)
	return 0
}

type testHost struct {
	exts map[component.ID]component.Component
}

func (h *testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// recordingCapturer registers with the real pprofcapture broker in place of a pprofscrape receiver and records
// what reaches it.
type recordingCapturer struct {
	mu       sync.Mutex
	requests []pprofcaptureextension.Request
	results  []pprofcaptureextension.Result
	err      error
	block    chan struct{}
	received chan pprofcaptureextension.Request
}

func newRecordingCapturer() *recordingCapturer {
	return &recordingCapturer{received: make(chan pprofcaptureextension.Request, 64)}
}

func (c *recordingCapturer) Owns(target pprofcaptureextension.TargetKey) bool {
	return target.ServiceName != "unowned"
}

func (c *recordingCapturer) Capture(ctx context.Context, req pprofcaptureextension.Request) ([]pprofcaptureextension.Result, error) {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	c.requests = append(c.requests, req)
	results, err := c.results, c.err
	c.mu.Unlock()
	c.received <- req
	return results, err
}

func (c *recordingCapturer) waitRequest(t testing.TB) pprofcaptureextension.Request {
	t.Helper()
	select {
	case req := <-c.received:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no capture request reached the capturer")
		return pprofcaptureextension.Request{}
	}
}

var (
	captureType = component.MustNewType("pprofcapture")
	hubType     = component.MustNewType("readiness_hub")
)

// newCaptureExtension creates the real pprofcapture extension.
func newCaptureExtension(t testing.TB) component.Component {
	t.Helper()
	ext, err := pprofcaptureextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(captureType), pprofcaptureextension.NewFactory().CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext
}

// Synthetic series. Every generator is seeded, so a run is reproducible.

type seriesSpec struct {
	duration time.Duration
	interval time.Duration
	seed     uint64
	// goroutines at offset t (before noise)
	goroutines func(t time.Duration, rng *rand.Rand) float64
	// GC cycles per minute at offset t
	gcPerMinute func(t time.Duration) float64
	// heap floor (live heap) at offset t
	heapFloor func(t time.Duration) float64
}

func (spec seriesSpec) generate() []runtimeSample {
	rng := rand.New(rand.NewPCG(spec.seed, spec.seed^0x9e3779b9))
	var out []runtimeSample
	var gc, pause float64
	for t := time.Duration(0); t <= spec.duration; t += spec.interval {
		s := runtimeSample{OffsetMillis: t.Milliseconds(), Leaked: -1}
		s.Goroutines = 0
		if spec.goroutines != nil {
			s.Goroutines = float64(int(spec.goroutines(t, rng)))
		}
		rate := 20.0
		if spec.gcPerMinute != nil {
			rate = spec.gcPerMinute(t - spec.interval/2) // the interval that ends at t
		}
		// Poisson-ish arrivals: the expected count with +-30% noise.
		gc += max(0, rate*spec.interval.Minutes()*(0.7+0.6*rng.Float64()))
		pause += rate * spec.interval.Minutes() * 0.0002
		s.GCCycles = float64(int(gc))
		s.GCPauseSeconds = pause
		floor := 40e6
		if spec.heapFloor != nil {
			floor = spec.heapFloor(t)
		}
		// Heap in use: the live floor plus garbage accumulated since the last GC (sawtooth).
		s.HeapInuse = floor * (1 + rng.Float64())
		s.HeapAlloc = s.HeapInuse * 0.9
		s.NextGC = floor * 2
		s.GCCPUFraction = 0.01
		out = append(out, s)
	}
	return out
}

func noisy(base, sd float64) func(time.Duration, *rand.Rand) float64 {
	return func(_ time.Duration, rng *rand.Rand) float64 { return max(1, base+rng.NormFloat64()*sd) }
}

func leaking(base, sd, perMinute float64, onset time.Duration) func(time.Duration, *rand.Rand) float64 {
	return func(t time.Duration, rng *rand.Rand) float64 {
		v := base + rng.NormFloat64()*sd
		if t > onset {
			v += perMinute * (t - onset).Minutes()
		}
		return max(1, v)
	}
}

func bursty(base, burst float64, probability float64) func(time.Duration, *rand.Rand) float64 {
	return func(_ time.Duration, rng *rand.Rand) float64 {
		v := base + rng.NormFloat64()*3
		if rng.Float64() < probability {
			v += burst * rng.Float64()
		}
		return max(1, v)
	}
}

func tsAt(at time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(epoch.Add(at)) }

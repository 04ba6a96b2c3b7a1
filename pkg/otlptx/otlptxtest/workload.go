// Package otlptxtest generates deterministic, realistic telemetry for OTLP-TX tests and
// benchmarks: a service's spans (HTTP server, database and cache client children), its
// runtime and HTTP metrics (sums, gauges, histograms) and its logs.
package otlptxtest // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// baseTime is the fixed start time of generated data, so output is byte-for-byte stable.
var baseTime = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)

// Generator produces telemetry; the same seed gives the same data.
type Generator struct {
	rng *rand.Rand
	// Service names the resource (service.name); Instance its service.instance.id.
	Service  string
	Instance string
	// Host is the resource's host.name.
	Host string
	// Epoch is when the generated spans and logs start and a minute before the metrics'
	// time; Stream advances it from batch to batch.
	Epoch time.Time
}

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		Service:  "checkout",
		Instance: fmt.Sprintf("checkout-%d", seed),
		Host:     "node-7.eu-west-1.internal",
		Epoch:    baseTime,
	}
}

func (g *Generator) fillResource(res pcommon.Resource) {
	attrs := res.Attributes()
	attrs.PutStr("service.name", g.Service)
	attrs.PutStr("service.instance.id", g.Instance)
	attrs.PutStr("service.version", "1.14.2")
	attrs.PutStr("deployment.environment.name", "production")
	attrs.PutStr("host.name", g.Host)
	attrs.PutStr("k8s.namespace.name", "shop")
	attrs.PutStr("k8s.pod.name", g.Instance+"-7d9c8b6f5-x2k4q")
	attrs.PutStr("telemetry.sdk.language", "go")
	attrs.PutStr("telemetry.sdk.version", "1.39.0")
}

var routes = []string{"/api/cart", "/api/checkout", "/api/products/{id}", "/api/orders", "/healthz"}

func (g *Generator) id(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], g.rng.Uint64())
		copy(b[i:], tmp[:])
	}
}

// Traces returns n spans, grouped in traces of one HTTP server span and its children.
func (g *Generator) Traces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	g.fillResource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	ss.Scope().SetVersion("0.64.0")
	var traceID pcommon.TraceID
	var parent pcommon.SpanID
	for i := range n {
		span := ss.Spans().AppendEmpty()
		start := g.Epoch.Add(time.Duration(i) * 3 * time.Millisecond)
		var spanID pcommon.SpanID
		g.id(spanID[:])
		span.SetSpanID(spanID)
		if i%5 == 0 {
			g.id(traceID[:])
			parent = spanID
			route := routes[g.rng.IntN(len(routes))]
			span.SetName("GET " + route)
			span.SetKind(ptrace.SpanKindServer)
			a := span.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("http.route", route)
			a.PutStr("url.scheme", "https")
			a.PutInt("http.response.status_code", []int64{200, 200, 200, 404, 500}[g.rng.IntN(5)])
			a.PutStr("server.address", "shop.example.com")
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
		} else {
			span.SetParentSpanID(parent)
			if i%2 == 0 {
				span.SetName("SELECT shop.orders")
				span.SetKind(ptrace.SpanKindClient)
				a := span.Attributes()
				a.PutStr("db.system.name", "postgresql")
				a.PutStr("db.namespace", "shop")
				a.PutStr("db.query.text", "SELECT id, total, status FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20")
				a.PutStr("server.address", "pg-primary.shop.svc")
				a.PutInt("server.port", 5432)
			} else {
				span.SetName("GET cache")
				span.SetKind(ptrace.SpanKindClient)
				a := span.Attributes()
				a.PutStr("db.system.name", "redis")
				a.PutStr("db.operation.name", "GET")
				a.PutStr("server.address", "redis.shop.svc")
				a.PutInt("server.port", 6379)
			}
		}
		span.SetTraceID(traceID)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(200+g.rng.IntN(40000)) * time.Microsecond)))
		if g.rng.IntN(20) == 0 {
			span.Status().SetCode(ptrace.StatusCodeError)
			span.Status().SetMessage("context deadline exceeded")
			ev := span.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(span.EndTimestamp())
			ev.Attributes().PutStr("exception.type", "*url.Error")
			ev.Attributes().PutStr("exception.message", "Get \"http://inventory:8080/stock\": context deadline exceeded")
		}
	}
	return td
}

// Metrics returns metrics with n data points in total: cumulative counters with
// attributes, gauges and explicit-bucket histograms.
func (g *Generator) Metrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	g.fillResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/runtime")
	start := pcommon.NewTimestampFromTime(baseTime)
	now := pcommon.NewTimestampFromTime(g.Epoch.Add(time.Minute))
	kinds := []string{"sum", "gauge", "histogram"}
	for i := 0; i < n; {
		kind := kinds[(i/4)%len(kinds)]
		m := sm.Metrics().AppendEmpty()
		points := min(4, n-i)
		switch kind {
		case "sum":
			m.SetName("http.server.request.count")
			m.SetUnit("{request}")
			m.SetDescription("Number of HTTP requests handled")
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for j := range points {
				dp := sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.SetIntValue(int64(g.rng.IntN(100000)))
				dp.Attributes().PutStr("http.route", routes[j%len(routes)])
				dp.Attributes().PutStr("http.request.method", "GET")
				dp.Attributes().PutInt("http.response.status_code", 200)
			}
		case "gauge":
			m.SetName("go.memory.used")
			m.SetUnit("By")
			gauge := m.SetEmptyGauge()
			for j := range points {
				dp := gauge.DataPoints().AppendEmpty()
				dp.SetTimestamp(now)
				dp.SetDoubleValue(float64(100<<20) + g.rng.Float64()*float64(50<<20))
				dp.Attributes().PutStr("go.memory.type", []string{"stack", "other", "heap", "gc"}[j])
			}
		default:
			m.SetName("http.server.request.duration")
			m.SetUnit("s")
			hist := m.SetEmptyHistogram()
			hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for j := range points {
				dp := hist.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.Attributes().PutStr("http.route", routes[j%len(routes)])
				bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
				dp.ExplicitBounds().FromRaw(bounds)
				var count uint64
				buckets := make([]uint64, len(bounds)+1)
				for k := range buckets {
					buckets[k] = uint64(g.rng.IntN(500))
					count += buckets[k]
				}
				dp.BucketCounts().FromRaw(buckets)
				dp.SetCount(count)
				dp.SetSum(float64(count) * 0.042)
			}
		}
		i += points
	}
	return md
}

var logMessages = []string{
	"request completed",
	"cache miss, loading from database",
	"payment provider responded slowly",
	"retrying inventory reservation",
	"order placed",
}

// Logs returns n structured log records, some correlated with a trace.
func (g *Generator) Logs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	g.fillResource(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("log/slog")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		ts := pcommon.NewTimestampFromTime(g.Epoch.Add(time.Duration(i) * 7 * time.Millisecond))
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts)
		sev := g.rng.IntN(10)
		switch {
		case sev < 7:
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		case sev < 9:
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		default:
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("ERROR")
		}
		lr.Body().SetStr(logMessages[g.rng.IntN(len(logMessages))])
		a := lr.Attributes()
		a.PutStr("http.route", routes[g.rng.IntN(len(routes))])
		a.PutInt("order.items", int64(1+g.rng.IntN(9)))
		a.PutStr("customer.tier", []string{"free", "plus", "business"}[g.rng.IntN(3)])
		if g.rng.IntN(2) == 0 {
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			g.id(tid[:])
			g.id(sid[:])
			lr.SetTraceID(tid)
			lr.SetSpanID(sid)
		}
	}
	return ld
}

package testbed

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// IDAttribute is the attribute that carries each item's unique id (span, metric data point, log record).
const IDAttribute = "testbed.id"

// Signal names a telemetry signal.
type Signal string

// The signals the load generator produces.
const (
	Traces  Signal = "traces"
	Metrics Signal = "metrics"
	Logs    Signal = "logs"
)

// AllSignals lists traces, metrics and logs.
var AllSignals = []Signal{Traces, Metrics, Logs}

// sourceShift puts the source index into the high bits of an id, so several generators never collide.
const sourceShift = 40

// MakeID returns the id of the seq-th item of a source.
func MakeID(source int, seq int64) int64 { return int64(source)<<sourceShift | seq }

// SourceOf returns the source index of an id.
func SourceOf(id int64) int { return int(id >> sourceShift) }

// Batch is one request's worth of items of one signal.
type Batch struct {
	Signal  Signal
	IDs     []int64
	Traces  ptrace.Traces
	Metrics pmetric.Metrics
	Logs    plog.Logs
}

// Len returns the number of items.
func (b Batch) Len() int { return len(b.IDs) }

// NewBatch builds a batch of signal with one item per id. Each item has a few realistic attributes, so sizes and
// CPU costs resemble application telemetry rather than empty records.
func NewBatch(signal Signal, source int, ids []int64) Batch {
	b := Batch{Signal: signal, IDs: ids}
	now := pcommon.NewTimestampFromTime(time.Now())
	service := "testbed-source-" + strconv.Itoa(source)
	switch signal {
	case Traces:
		b.Traces = ptrace.NewTraces()
		rs := b.Traces.ResourceSpans().AppendEmpty()
		fillResource(rs.Resource(), service)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("otelcol-ready/testbed")
		spans := ss.Spans()
		spans.EnsureCapacity(len(ids))
		for _, id := range ids {
			sp := spans.AppendEmpty()
			sp.SetTraceID(traceIDOf(id))
			sp.SetSpanID(spanIDOf(id))
			sp.SetName("GET /api/orders/{id}")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(now - 1_500_000)
			sp.SetEndTimestamp(now)
			attrs := sp.Attributes()
			attrs.PutInt(IDAttribute, id)
			attrs.PutStr("http.request.method", "GET")
			attrs.PutStr("url.path", "/api/orders/"+strconv.FormatInt(id&0xffff, 10))
			attrs.PutInt("http.response.status_code", 200)
			sp.Status().SetCode(ptrace.StatusCodeOk)
		}
	case Metrics:
		b.Metrics = pmetric.NewMetrics()
		rm := b.Metrics.ResourceMetrics().AppendEmpty()
		fillResource(rm.Resource(), service)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("otelcol-ready/testbed")
		m := sm.Metrics().AppendEmpty()
		m.SetName("testbed.request.duration")
		m.SetUnit("s")
		dps := m.SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(len(ids))
		for _, id := range ids {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(now)
			dp.SetDoubleValue(float64(id%997) / 1000)
			dp.Attributes().PutInt(IDAttribute, id)
			dp.Attributes().PutStr("http.route", "/api/orders/{id}")
		}
	case Logs:
		b.Logs = plog.NewLogs()
		rl := b.Logs.ResourceLogs().AppendEmpty()
		fillResource(rl.Resource(), service)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("otelcol-ready/testbed")
		recs := sl.LogRecords()
		recs.EnsureCapacity(len(ids))
		for _, id := range ids {
			lr := recs.AppendEmpty()
			lr.SetTimestamp(now)
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr("order " + strconv.FormatInt(id, 10) + " shipped to warehouse 7 after payment check")
			lr.Attributes().PutInt(IDAttribute, id)
			lr.Attributes().PutStr("code.function", "main.shipOrder")
		}
	default:
		panic(fmt.Sprintf("testbed: unknown signal %q", signal))
	}
	return b
}

func fillResource(r pcommon.Resource, service string) {
	r.Attributes().PutStr("service.name", service)
	r.Attributes().PutStr("service.version", "1.0.0")
	r.Attributes().PutStr("deployment.environment.name", "testbed")
}

func traceIDOf(id int64) pcommon.TraceID {
	var t pcommon.TraceID
	binary.BigEndian.PutUint64(t[:8], 0x7e57bed)
	binary.BigEndian.PutUint64(t[8:], uint64(id))
	return t
}

func spanIDOf(id int64) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], uint64(id)|1<<63)
	return s
}

// idOf reads the id attribute; ok is false when the item has none (telemetry not made by the generator, such as
// scraped metrics).
func idOf(attrs pcommon.Map) (int64, bool) {
	v, ok := attrs.Get(IDAttribute)
	if !ok || v.Type() != pcommon.ValueTypeInt {
		return 0, false
	}
	return v.Int(), true
}

// TraceIDs calls fn for the id of each span; it returns the number of spans without an id.
func TraceIDs(td ptrace.Traces, fn func(int64)) (untracked int) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if id, ok := idOf(spans.At(k).Attributes()); ok {
					fn(id)
				} else {
					untracked++
				}
			}
		}
	}
	return untracked
}

// MetricIDs calls fn for the id of each data point; it returns the number of data points without an id.
func MetricIDs(md pmetric.Metrics, fn func(int64)) (untracked int) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				each := func(attrs pcommon.Map) {
					if id, ok := idOf(attrs); ok {
						fn(id)
					} else {
						untracked++
					}
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for d := 0; d < m.Gauge().DataPoints().Len(); d++ {
						each(m.Gauge().DataPoints().At(d).Attributes())
					}
				case pmetric.MetricTypeSum:
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						each(m.Sum().DataPoints().At(d).Attributes())
					}
				case pmetric.MetricTypeHistogram:
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						each(m.Histogram().DataPoints().At(d).Attributes())
					}
				case pmetric.MetricTypeExponentialHistogram:
					for d := 0; d < m.ExponentialHistogram().DataPoints().Len(); d++ {
						each(m.ExponentialHistogram().DataPoints().At(d).Attributes())
					}
				case pmetric.MetricTypeSummary:
					for d := 0; d < m.Summary().DataPoints().Len(); d++ {
						each(m.Summary().DataPoints().At(d).Attributes())
					}
				}
			}
		}
	}
	return untracked
}

// LogIDs calls fn for the id of each log record; it returns the number of records without an id.
func LogIDs(ld plog.Logs, fn func(int64)) (untracked int) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				if id, ok := idOf(recs.At(k).Attributes()); ok {
					fn(id)
				} else {
					untracked++
				}
			}
		}
	}
	return untracked
}

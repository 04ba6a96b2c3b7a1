package otlptxtest // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"

import (
	"bytes"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fillEveryValue puts one attribute of every AnyValue type into m, nested ones included,
// with edge values (negative zero, NaN, invalid UTF-8, empty strings and keys).
func fillEveryValue(m pcommon.Map) {
	m.PutStr("str", "value")
	m.PutStr("", "empty key")
	m.PutStr("empty", "")
	m.PutStr("invalid-utf8", "\xff\xfe")
	m.PutInt("int", -42)
	m.PutInt("max", math.MaxInt64)
	m.PutDouble("double", 3.25)
	m.PutDouble("negzero", math.Copysign(0, -1))
	m.PutDouble("nan", math.NaN())
	m.PutBool("true", true)
	m.PutBool("false", false)
	m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2, 0xff})
	m.PutEmptyBytes("nobytes")
	m.PutEmpty("empty-value")
	s := m.PutEmptySlice("slice")
	s.AppendEmpty().SetStr("a")
	s.AppendEmpty().SetInt(1)
	s.AppendEmpty()
	inner := s.AppendEmpty().SetEmptyMap()
	inner.PutStr("k", "v")
	inner.PutEmptySlice("deeper").AppendEmpty().SetEmptySlice().AppendEmpty().SetDouble(1.5)
	m.PutEmptyMap("emptymap")
	m.PutEmptySlice("emptyslice")
}

func fillResourceAndScope(res pcommon.Resource, scope pcommon.InstrumentationScope) {
	res.Attributes().PutStr("service.name", "every-feature")
	fillEveryValue(res.Attributes())
	res.SetDroppedAttributesCount(3)
	scope.SetName("scope")
	scope.SetVersion("v9")
	scope.Attributes().PutStr("scope.attr", "x")
	scope.SetDroppedAttributesCount(1)
}

func ids(seed byte) (pcommon.TraceID, pcommon.SpanID) {
	var t pcommon.TraceID
	var s pcommon.SpanID
	for i := range t {
		t[i] = seed + byte(i)
	}
	for i := range s {
		s[i] = seed ^ byte(i*7+1)
	}
	return t, s
}

// EveryFeatureTraces returns traces that use every field of the OTLP trace model: two
// resources (one without scopes), schema URLs, trace state, flags, all span kinds, status
// codes, events, links, dropped counts, parents inside and outside the batch, spans of
// one trace interleaved with another, and an end time before the start time.
func EveryFeatureTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.29.0")
	fillResourceAndScope(rs.Resource(), ss.Scope())
	for i := range 8 {
		span := ss.Spans().AppendEmpty()
		tid, sid := ids(byte(i/3) + 1)
		sid[7] = byte(i)
		span.SetTraceID(tid)
		span.SetSpanID(sid)
		switch i % 4 {
		case 1:
			_, parent := ids(byte(i/3) + 1)
			parent[7] = byte(i - 1)
			span.SetParentSpanID(parent) // the previous span: a back-reference
		case 2:
			span.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, byte(i)}) // outside the batch
		}
		span.SetName("span")
		span.SetKind(ptrace.SpanKind(i % 6))
		span.SetStartTimestamp(pcommon.Timestamp(1764000000000000000 + uint64(i)*1000))
		span.SetEndTimestamp(span.StartTimestamp() + pcommon.Timestamp(500*i))
		if i == 5 {
			span.SetEndTimestamp(span.StartTimestamp() - 1)
		}
		span.Attributes().PutInt("i", int64(i))
		if i%2 == 0 {
			span.TraceState().FromRaw("vendor=x,other=y")
			span.SetFlags(0x301)
			span.SetDroppedAttributesCount(1)
			span.SetDroppedEventsCount(2)
			span.SetDroppedLinksCount(3)
			span.Status().SetCode(ptrace.StatusCode(i % 3))
			span.Status().SetMessage("status message")
			ev := span.Events().AppendEmpty()
			ev.SetName("event")
			ev.SetTimestamp(span.StartTimestamp() + 10)
			fillEveryValue(ev.Attributes())
			ev.SetDroppedAttributesCount(4)
			span.Events().AppendEmpty() // an empty event
			link := span.Links().AppendEmpty()
			ltid, lsid := ids(200)
			link.SetTraceID(ltid)
			link.SetSpanID(lsid)
			link.TraceState().FromRaw("link=state")
			link.Attributes().PutStr("link.attr", "y")
			link.SetDroppedAttributesCount(5)
			link.SetFlags(1)
			span.Links().AppendEmpty()
		}
	}
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty() // an all-empty span
	td.ResourceSpans().AppendEmpty()                    // a resource without scopes
	return td
}

// EveryFeatureMetrics returns metrics of every type and value kind, with exemplars,
// optional sum/min/max present and absent, flags, metadata and an empty metric.
func EveryFeatureMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.SetSchemaUrl("scope-schema")
	fillResourceAndScope(rm.Resource(), sm.Scope())
	ts := pcommon.Timestamp(1764000000000000000)
	exemplar := func(ex pmetric.ExemplarSlice, kind int) {
		x := ex.AppendEmpty()
		x.SetTimestamp(ts - 5)
		x.FilteredAttributes().PutStr("filtered", "a")
		switch kind {
		case 1:
			x.SetIntValue(7)
		case 2:
			x.SetDoubleValue(0.5)
		}
		tid, sid := ids(77)
		if kind != 0 {
			x.SetTraceID(tid)
			x.SetSpanID(sid)
		}
	}

	g := sm.Metrics().AppendEmpty()
	g.SetName("gauge")
	g.SetDescription("a gauge")
	g.SetUnit("1")
	g.Metadata().PutStr("meta", "data")
	for i, v := range []float64{1.5, 1.5, -2, math.Inf(1), math.NaN()} {
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		_ = dp
		p := g.Gauge().DataPoints().At(g.Gauge().DataPoints().Len() - 1)
		p.SetTimestamp(ts + pcommon.Timestamp(i))
		p.SetDoubleValue(v)
		p.Attributes().PutInt("i", int64(i))
		if i == 1 {
			p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		exemplar(p.Exemplars(), i%3)
	}
	sum := sm.Metrics().AppendEmpty()
	sum.SetName("sum")
	s := sum.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i := range 3 {
		p := s.DataPoints().AppendEmpty()
		p.SetStartTimestamp(ts - 60)
		p.SetTimestamp(ts)
		switch i {
		case 0:
			p.SetIntValue(-5)
		case 1:
			p.SetDoubleValue(2.5)
		}
	}
	h := sm.Metrics().AppendEmpty()
	h.SetName("histogram")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range 3 {
		p := hist.DataPoints().AppendEmpty()
		p.SetStartTimestamp(ts - 60)
		p.SetTimestamp(ts)
		p.SetCount(uint64(10 * i))
		if i != 1 {
			p.SetSum(1.25 * float64(i))
			p.SetMin(0.1)
			p.SetMax(9)
		}
		if i < 2 {
			p.ExplicitBounds().FromRaw([]float64{0.1, 1, 10})
		}
		p.BucketCounts().FromRaw([]uint64{1, 2, 3, uint64(i)})
		exemplar(p.Exemplars(), 2)
	}
	eh := sm.Metrics().AppendEmpty()
	eh.SetName("exponential")
	exp := eh.SetEmptyExponentialHistogram()
	exp.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i := range 2 {
		p := exp.DataPoints().AppendEmpty()
		p.SetTimestamp(ts)
		p.SetCount(12)
		if i == 0 {
			p.SetSum(3.5)
			p.SetMin(-1)
			p.SetMax(4)
		}
		p.SetScale(int32(3 - 5*i))
		p.SetZeroCount(2)
		p.SetZeroThreshold(1e-9)
		p.Positive().SetOffset(-3)
		p.Positive().BucketCounts().FromRaw([]uint64{1, 0, 5})
		p.Negative().SetOffset(2)
		p.Negative().BucketCounts().FromRaw([]uint64{4})
		exemplar(p.Exemplars(), 1)
	}
	sy := sm.Metrics().AppendEmpty()
	sy.SetName("summary")
	summary := sy.SetEmptySummary()
	p := summary.DataPoints().AppendEmpty()
	p.SetStartTimestamp(ts - 60)
	p.SetTimestamp(ts)
	p.SetCount(100)
	p.SetSum(42.5)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		qv := p.QuantileValues().AppendEmpty()
		qv.SetQuantile(q)
		qv.SetValue(q * 10)
	}
	summary.DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetName("no data")
	sm.Metrics().AppendEmpty().SetEmptyGauge()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	return md
}

// EveryFeatureLogs returns log records using every field: bodies of every type, severity,
// flags, trace context, event names, dropped counts and an empty record.
func EveryFeatureLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("scope-schema")
	fillResourceAndScope(rl.Resource(), sl.Scope())
	bodies := pcommon.NewMap()
	fillEveryValue(bodies)
	i := 0
	for _, v := range bodies.All() {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(1764000000000000000 + uint64(i)*7))
		if i%3 != 0 {
			lr.SetObservedTimestamp(lr.Timestamp() + 3)
		}
		lr.SetSeverityNumber(plog.SeverityNumber(i % 25))
		lr.SetSeverityText("SEV")
		v.CopyTo(lr.Body())
		lr.Attributes().PutInt("i", int64(i))
		if i%2 == 0 {
			tid, sid := ids(byte(i))
			lr.SetTraceID(tid)
			lr.SetSpanID(sid)
			lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
			lr.SetDroppedAttributesCount(2)
			lr.SetEventName("event.name")
		}
		i++
	}
	sl.LogRecords().AppendEmpty()
	return ld
}

// DeeplyNested returns a log whose body nests arrays depth levels deep: deeper than the
// columnar encoding goes, so it exercises the fallback to OTLP bytes.
func DeeplyNested(depth int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "deep")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	v := lr.Body()
	for range depth {
		v = v.SetEmptySlice().AppendEmpty()
	}
	v.SetStr("bottom")
	// A normal resource after it must still be encoded columnar.
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("normal")
	return ld
}

// DuplicateKeys returns logs whose attributes hold a key twice: OTLP forbids it, pdata
// keeps it, and OTLP-TX must deliver it unchanged (it falls back to OTLP bytes).
func DuplicateKeys() plog.Logs {
	raw := plog.NewLogs()
	lr := raw.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutStr("a", "1")
	lr.Attributes().PutStr("b", "2")
	// pdata's Put* refuse duplicates; OTLP bytes with a repeated key keep both.
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(raw)
	if err != nil {
		panic(err)
	}
	b = bytes.Replace(b, []byte{0x0a, 0x01, 'b'}, []byte{0x0a, 0x01, 'a'}, 1)
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	if err != nil {
		panic(err)
	}
	return ld
}

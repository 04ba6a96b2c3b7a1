package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// MaxValueDepth caps the nesting of AnyValue arrays and maps in the columnar encoding.
// The decoder refuses deeper input (its recursion is bounded); the encoder sends a
// resource holding a deeper value as plain OTLP bytes in the fallback column instead.
const MaxValueDepth = 32

// AnyValue type tags of colType.
const (
	tagEmpty byte = iota
	tagString
	tagBoolFalse
	tagBoolTrue
	tagInt
	tagDouble
	tagBytes
	tagArray
	tagMap
)

// Resource modes of colShape: how one ResourceSpans/ResourceMetrics/ResourceLogs travels.
const (
	resourceColumnar uint64 = 0
	resourceFallback uint64 = 1
)

var errTooDeep = errors.New("value nested deeper than MaxValueDepth")

// encodeState is the delta and XOR state of a section; it is saved before a resource so
// a resource that falls back to OTLP bytes can be undone.
type encodeState struct {
	prevTime        int64  // previous span start, data point time or log time
	prevStart       int64  // previous data point start time
	prevAttrDouble  uint64 // previous double attribute value (bits)
	prevValueDouble uint64 // previous double metric value of the current metric (bits)
	prevBounds      pcommon.Float64Slice
}

// v2Encoder writes one v2 envelope body. It is reused through a pool; it is not safe for
// concurrent use itself.
type v2Encoder struct {
	strs      stringTable
	w         columnWriter
	st        encodeState
	sections  []byte
	spanIndex map[pcommon.SpanID]int32
	// needsFallback is set when the resource being encoded cannot be represented
	// columnar exactly: a value nested deeper than MaxValueDepth or a map with a key
	// twice (OTLP forbids it, but pdata keeps it and so must we).
	needsFallback bool
	// keySeen[string index] == mapGeneration marks a key already seen in the current map.
	keySeen       []uint32
	mapGeneration uint32
}

func newV2Encoder() *v2Encoder {
	return &v2Encoder{
		strs:      stringTable{index: make(map[string]uint32, 256)},
		spanIndex: make(map[pcommon.SpanID]int32, 256),
	}
}

// Section presence bits of the body.
const (
	sectionTraces  = 1 << 0
	sectionMetrics = 1 << 1
	sectionLogs    = 1 << 2
)

// encodeBody appends the columnar body of the given signals to b: the string table, the
// section mask and the sections (traces, metrics, logs, in that order).
func (e *v2Encoder) encodeBody(b []byte, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs) ([]byte, error) {
	e.strs.reset()
	e.sections = e.sections[:0]
	mask := uint64(0)
	if td != (ptrace.Traces{}) && td.ResourceSpans().Len() > 0 {
		mask |= sectionTraces
		if err := e.section(func() error { return e.traces(td) }); err != nil {
			return nil, err
		}
	}
	if md != (pmetric.Metrics{}) && md.ResourceMetrics().Len() > 0 {
		mask |= sectionMetrics
		if err := e.section(func() error { return e.metrics(md) }); err != nil {
			return nil, err
		}
	}
	if ld != (plog.Logs{}) && ld.ResourceLogs().Len() > 0 {
		mask |= sectionLogs
		if err := e.section(func() error { return e.logs(ld) }); err != nil {
			return nil, err
		}
	}
	// One allocation for the body: string lengths take at most 5 bytes each here.
	need := len(b) + 10 + 5*len(e.strs.strings) + e.strs.size + 10 + len(e.sections)
	if cap(b) < need {
		b = append(make([]byte, 0, need), b...)
	}
	b = e.strs.appendTo(b)
	b = binary.AppendUvarint(b, mask)
	return append(b, e.sections...), nil
}

func (e *v2Encoder) section(encode func() error) error {
	e.w.reset()
	e.st = encodeState{}
	if err := encode(); err != nil {
		return err
	}
	e.sections = e.w.appendTo(e.sections)
	return nil
}

// savepoint is the encoder position before a resource.
type savepoint struct {
	lens    [numColumns]int
	strings int
	st      encodeState
}

func (e *v2Encoder) save() savepoint {
	sp := savepoint{strings: len(e.strs.strings), st: e.st}
	for i, c := range e.w.cols {
		sp.lens[i] = len(c)
	}
	e.needsFallback = false
	return sp
}

func (e *v2Encoder) restore(sp savepoint) {
	for i := range e.w.cols {
		e.w.cols[i] = e.w.cols[i][:sp.lens[i]]
	}
	e.strs.truncate(sp.strings)
	e.st = sp.st
	e.needsFallback = false
}

// resource encodes one resource columnar, or, when it holds something the columnar form
// cannot carry exactly (see needsFallback), as an OTLP message with that resource alone.
func (e *v2Encoder) resource(columnar func(), fallback func() ([]byte, error)) error {
	sp := e.save()
	e.w.uvarint(colShape, resourceColumnar)
	columnar()
	if !e.needsFallback {
		return nil
	}
	e.restore(sp)
	raw, err := fallback()
	if err != nil {
		return fmt.Errorf("encode fallback resource: %w", err)
	}
	e.w.uvarint(colShape, resourceFallback)
	e.w.bytes(colBytes, raw)
	return nil
}

func (e *v2Encoder) str(col int, s string) { e.w.uvarint(col, e.strs.ref(s)) }

// attrs writes a map: the count, then all keys, then all values. Keys go first so that
// duplicate keys are found before any value is written, without a second lookup; the
// keys of nested maps follow in colKey after those of their parent.
func (e *v2Encoder) attrs(m pcommon.Map, depth int) {
	n := m.Len()
	e.w.uvarint(colShape, uint64(n))
	if n == 0 {
		return
	}
	e.mapGeneration++
	if e.mapGeneration == 0 { // wrapped: forget every mark
		clear(e.keySeen)
		e.mapGeneration = 1
	}
	for k := range m.All() {
		idx := e.strs.ref(k)
		for uint64(len(e.keySeen)) <= idx {
			e.keySeen = append(e.keySeen, 0)
		}
		if e.keySeen[idx] == e.mapGeneration {
			e.needsFallback = true
		}
		e.keySeen[idx] = e.mapGeneration
		e.w.uvarint(colKey, idx)
	}
	for _, v := range m.All() {
		e.value(v, depth)
	}
}

func (e *v2Encoder) value(v pcommon.Value, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		e.w.byte(colType, tagString)
		e.str(colString, v.Str())
	case pcommon.ValueTypeInt:
		e.w.byte(colType, tagInt)
		e.w.varint(colInt, v.Int())
	case pcommon.ValueTypeDouble:
		e.w.byte(colType, tagDouble)
		e.w.xorDouble(colDouble, &e.st.prevAttrDouble, v.Double())
	case pcommon.ValueTypeBool:
		if v.Bool() {
			e.w.byte(colType, tagBoolTrue)
		} else {
			e.w.byte(colType, tagBoolFalse)
		}
	case pcommon.ValueTypeBytes:
		e.w.byte(colType, tagBytes)
		e.w.bytes(colBytes, v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		if depth >= MaxValueDepth {
			e.needsFallback = true
			return
		}
		e.w.byte(colType, tagArray)
		s := v.Slice()
		e.w.uvarint(colShape, uint64(s.Len()))
		for i := range s.Len() {
			e.value(s.At(i), depth+1)
		}
	case pcommon.ValueTypeMap:
		if depth >= MaxValueDepth {
			e.needsFallback = true
			return
		}
		e.w.byte(colType, tagMap)
		e.attrs(v.Map(), depth+1)
	default:
		e.w.byte(colType, tagEmpty)
	}
}

func (e *v2Encoder) resourceFields(r pcommon.Resource, schemaURL string) {
	e.attrs(r.Attributes(), 0)
	e.w.uvarint(colShape, uint64(r.DroppedAttributesCount()))
	e.str(colString, schemaURL)
}

func (e *v2Encoder) scope(s pcommon.InstrumentationScope, schemaURL string) {
	e.str(colString, s.Name())
	e.str(colString, s.Version())
	e.attrs(s.Attributes(), 0)
	e.w.uvarint(colShape, uint64(s.DroppedAttributesCount()))
	e.str(colString, schemaURL)
}

// time appends a timestamp as a delta against *prev.
func (e *v2Encoder) time(col int, prev *int64, t pcommon.Timestamp) {
	e.w.varint(col, int64(t)-*prev)
	*prev = int64(t)
}

// Span shape bits (colShape, one uvarint per span).
const (
	spanNewTrace      = 1 << 0 // trace id differs from the previous span's: 16 bytes in colTraceID
	spanParentBackref = 1 << 1 // parent is an earlier span of the scope: distance in colShape
	spanParentID      = 1 << 2 // parent written as 8 bytes in colSpanID
	spanTraceState    = 1 << 3
	spanStatus        = 1 << 4
	spanEvents        = 1 << 5
	spanLinks         = 1 << 6
	spanFlags         = 1 << 7
	spanDropped       = 1 << 8 // dropped attributes, events and links counts follow
)

func (e *v2Encoder) traces(td ptrace.Traces) error {
	rss := td.ResourceSpans()
	e.w.uvarint(colShape, uint64(rss.Len()))
	for i := range rss.Len() {
		rs := rss.At(i)
		err := e.resource(func() {
			e.resourceFields(rs.Resource(), rs.SchemaUrl())
			sss := rs.ScopeSpans()
			e.w.uvarint(colShape, uint64(sss.Len()))
			for j := range sss.Len() {
				ss := sss.At(j)
				e.scope(ss.Scope(), ss.SchemaUrl())
				e.spans(ss.Spans())
			}
		}, func() ([]byte, error) {
			one := ptrace.NewTraces()
			rs.CopyTo(one.ResourceSpans().AppendEmpty())
			return (&ptrace.ProtoMarshaler{}).MarshalTraces(one)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *v2Encoder) spans(spans ptrace.SpanSlice) {
	e.w.uvarint(colShape, uint64(spans.Len()))
	clear(e.spanIndex)
	var prevTrace pcommon.TraceID
	for i := range spans.Len() {
		s := spans.At(i)
		traceID := s.TraceID()
		parent := s.ParentSpanID()
		var shape uint64
		if i == 0 || traceID != prevTrace {
			shape |= spanNewTrace
		}
		parentPos, parentKnown := int32(0), false
		if !parent.IsEmpty() {
			parentPos, parentKnown = e.spanIndex[parent]
			if parentKnown {
				shape |= spanParentBackref
			} else {
				shape |= spanParentID
			}
		}
		if s.TraceState().AsRaw() != "" {
			shape |= spanTraceState
		}
		st := s.Status()
		if st.Code() != 0 || st.Message() != "" {
			shape |= spanStatus
		}
		if s.Events().Len() > 0 {
			shape |= spanEvents
		}
		if s.Links().Len() > 0 {
			shape |= spanLinks
		}
		if s.Flags() != 0 {
			shape |= spanFlags
		}
		if s.DroppedAttributesCount() != 0 || s.DroppedEventsCount() != 0 || s.DroppedLinksCount() != 0 {
			shape |= spanDropped
		}
		e.w.uvarint(colShape, shape)
		if shape&spanNewTrace != 0 {
			e.w.raw(colTraceID, traceID[:])
			prevTrace = traceID
		}
		spanID := s.SpanID()
		e.w.raw(colSpanID, spanID[:])
		switch {
		case shape&spanParentBackref != 0:
			e.w.uvarint(colShape, uint64(int32(i)-parentPos))
		case shape&spanParentID != 0:
			e.w.raw(colSpanID, parent[:])
		}
		if _, dup := e.spanIndex[spanID]; !dup {
			e.spanIndex[spanID] = int32(i)
		}
		if shape&spanTraceState != 0 {
			e.str(colString, s.TraceState().AsRaw())
		}
		if shape&spanFlags != 0 {
			e.w.uvarint(colShape, uint64(s.Flags()))
		}
		e.str(colString, s.Name())
		e.w.uvarint(colShape, uint64(uint32(s.Kind())))
		start := s.StartTimestamp()
		e.time(colTime, &e.st.prevTime, start)
		e.w.varint(colDuration, int64(s.EndTimestamp())-int64(start))
		e.attrs(s.Attributes(), 0)
		if shape&spanDropped != 0 {
			e.w.uvarint(colShape, uint64(s.DroppedAttributesCount()))
			e.w.uvarint(colShape, uint64(s.DroppedEventsCount()))
			e.w.uvarint(colShape, uint64(s.DroppedLinksCount()))
		}
		if shape&spanEvents != 0 {
			events := s.Events()
			e.w.uvarint(colShape, uint64(events.Len()))
			for k := range events.Len() {
				ev := events.At(k)
				e.w.varint(colDuration, int64(ev.Timestamp())-int64(start))
				e.str(colString, ev.Name())
				e.attrs(ev.Attributes(), 0)
				e.w.uvarint(colShape, uint64(ev.DroppedAttributesCount()))
			}
		}
		if shape&spanLinks != 0 {
			links := s.Links()
			e.w.uvarint(colShape, uint64(links.Len()))
			for k := range links.Len() {
				l := links.At(k)
				tid, sid := l.TraceID(), l.SpanID()
				e.w.raw(colTraceID, tid[:])
				e.w.raw(colSpanID, sid[:])
				e.str(colString, l.TraceState().AsRaw())
				e.attrs(l.Attributes(), 0)
				e.w.uvarint(colShape, uint64(l.DroppedAttributesCount()))
				e.w.uvarint(colShape, uint64(l.Flags()))
			}
		}
		if shape&spanStatus != 0 {
			e.w.uvarint(colShape, uint64(uint32(st.Code())))
			e.str(colString, st.Message())
		}
	}
}

// Metric data types (colShape).
const (
	metricEmpty uint64 = iota
	metricGauge
	metricSum
	metricHistogram
	metricExponentialHistogram
	metricSummary
)

func (e *v2Encoder) metrics(md pmetric.Metrics) error {
	rms := md.ResourceMetrics()
	e.w.uvarint(colShape, uint64(rms.Len()))
	for i := range rms.Len() {
		rm := rms.At(i)
		err := e.resource(func() {
			e.resourceFields(rm.Resource(), rm.SchemaUrl())
			sms := rm.ScopeMetrics()
			e.w.uvarint(colShape, uint64(sms.Len()))
			for j := range sms.Len() {
				sm := sms.At(j)
				e.scope(sm.Scope(), sm.SchemaUrl())
				ms := sm.Metrics()
				e.w.uvarint(colShape, uint64(ms.Len()))
				for k := range ms.Len() {
					e.metric(ms.At(k))
				}
			}
		}, func() ([]byte, error) {
			one := pmetric.NewMetrics()
			rm.CopyTo(one.ResourceMetrics().AppendEmpty())
			return (&pmetric.ProtoMarshaler{}).MarshalMetrics(one)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *v2Encoder) metric(m pmetric.Metric) {
	e.str(colString, m.Name())
	e.str(colString, m.Description())
	e.str(colString, m.Unit())
	e.attrs(m.Metadata(), 0)
	// Values of one metric are one series for the XOR encoding of doubles.
	e.st.prevValueDouble = 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		e.w.uvarint(colShape, metricGauge)
		e.numberPoints(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		e.w.uvarint(colShape, metricSum)
		sum := m.Sum()
		e.w.uvarint(colShape, uint64(uint32(sum.AggregationTemporality())))
		monotonic := uint64(0)
		if sum.IsMonotonic() {
			monotonic = 1
		}
		e.w.uvarint(colShape, monotonic)
		e.numberPoints(sum.DataPoints())
	case pmetric.MetricTypeHistogram:
		e.w.uvarint(colShape, metricHistogram)
		h := m.Histogram()
		e.w.uvarint(colShape, uint64(uint32(h.AggregationTemporality())))
		e.histogramPoints(h.DataPoints())
	case pmetric.MetricTypeExponentialHistogram:
		e.w.uvarint(colShape, metricExponentialHistogram)
		h := m.ExponentialHistogram()
		e.w.uvarint(colShape, uint64(uint32(h.AggregationTemporality())))
		e.exponentialPoints(h.DataPoints())
	case pmetric.MetricTypeSummary:
		e.w.uvarint(colShape, metricSummary)
		e.summaryPoints(m.Summary().DataPoints())
	default:
		e.w.uvarint(colShape, metricEmpty)
	}
}

// pointHeader writes what every data point kind has: attributes, start time, time and
// flags. The start time is a delta against the previous point's start time (usually 0
// for cumulative series), the time a delta against the previous point's time.
func (e *v2Encoder) pointHeader(attrs pcommon.Map, start, ts pcommon.Timestamp, flags pmetric.DataPointFlags) {
	e.attrs(attrs, 0)
	e.time(colTime, &e.st.prevStart, start)
	e.time(colTime, &e.st.prevTime, ts)
	e.w.uvarint(colShape, uint64(flags))
}

// Number value kinds (colShape).
const (
	numberEmpty uint64 = iota
	numberInt
	numberDouble
)

func (e *v2Encoder) numberValue(kind pmetric.NumberDataPointValueType, i int64, d float64) {
	switch kind {
	case pmetric.NumberDataPointValueTypeInt:
		e.w.uvarint(colShape, numberInt)
		e.w.varint(colInt, i)
	case pmetric.NumberDataPointValueTypeDouble:
		e.w.uvarint(colShape, numberDouble)
		e.w.xorDouble(colDouble, &e.st.prevValueDouble, d)
	default:
		e.w.uvarint(colShape, numberEmpty)
	}
}

func (e *v2Encoder) numberPoints(points pmetric.NumberDataPointSlice) {
	e.w.uvarint(colShape, uint64(points.Len()))
	for i := range points.Len() {
		p := points.At(i)
		e.pointHeader(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
		e.numberValue(p.ValueType(), p.IntValue(), p.DoubleValue())
		e.exemplars(p.Exemplars(), p.Timestamp())
	}
}

// Exemplar shape bits (colShape).
const (
	exemplarTraceID = 1 << 2 // the low two bits hold the number kind
	exemplarSpanID  = 1 << 3
)

func (e *v2Encoder) exemplars(ex pmetric.ExemplarSlice, pointTime pcommon.Timestamp) {
	e.w.uvarint(colShape, uint64(ex.Len()))
	for i := range ex.Len() {
		x := ex.At(i)
		var kind uint64
		switch x.ValueType() {
		case pmetric.ExemplarValueTypeInt:
			kind = numberInt
		case pmetric.ExemplarValueTypeDouble:
			kind = numberDouble
		}
		shape := kind
		tid, sid := x.TraceID(), x.SpanID()
		if !tid.IsEmpty() {
			shape |= exemplarTraceID
		}
		if !sid.IsEmpty() {
			shape |= exemplarSpanID
		}
		e.w.uvarint(colShape, shape)
		e.attrs(x.FilteredAttributes(), 0)
		e.w.varint(colDuration, int64(x.Timestamp())-int64(pointTime))
		switch kind {
		case numberInt:
			e.w.varint(colInt, x.IntValue())
		case numberDouble:
			prev := uint64(0)
			e.w.xorDouble(colDouble, &prev, x.DoubleValue())
		}
		if shape&exemplarTraceID != 0 {
			e.w.raw(colTraceID, tid[:])
		}
		if shape&exemplarSpanID != 0 {
			e.w.raw(colSpanID, sid[:])
		}
	}
}

// Histogram shape bits (colShape).
const (
	histSum        = 1 << 0
	histMin        = 1 << 1
	histMax        = 1 << 2
	histSameBounds = 1 << 3 // explicit bounds equal the previous point's of the metric
	// histCountIsSum: the count equals the sum of the bucket counts (plus the zero count
	// of exponential histograms), as it should; it is then not written.
	histCountIsSum = 1 << 4
)

func sumCounts(s pcommon.UInt64Slice) uint64 {
	var total uint64
	for i := range s.Len() {
		total += s.At(i)
	}
	return total
}

func (e *v2Encoder) histogramShape(hasSum, hasMin, hasMax bool) uint64 {
	var shape uint64
	if hasSum {
		shape |= histSum
	}
	if hasMin {
		shape |= histMin
	}
	if hasMax {
		shape |= histMax
	}
	return shape
}

func (e *v2Encoder) sumMinMax(shape uint64, sum, minimum, maximum float64) {
	if shape&histSum != 0 {
		e.w.xorDouble(colDouble, &e.st.prevValueDouble, sum)
	}
	if shape&histMin != 0 {
		e.w.xorDouble(colDouble, &e.st.prevValueDouble, minimum)
	}
	if shape&histMax != 0 {
		e.w.xorDouble(colDouble, &e.st.prevValueDouble, maximum)
	}
}

func (e *v2Encoder) histogramPoints(points pmetric.HistogramDataPointSlice) {
	e.w.uvarint(colShape, uint64(points.Len()))
	e.st.prevBounds = pcommon.Float64Slice{}
	for i := range points.Len() {
		p := points.At(i)
		e.pointHeader(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
		shape := e.histogramShape(p.HasSum(), p.HasMin(), p.HasMax())
		bounds := p.ExplicitBounds()
		if e.st.prevBounds != (pcommon.Float64Slice{}) && bounds.Equal(e.st.prevBounds) {
			shape |= histSameBounds
		}
		if p.Count() == sumCounts(p.BucketCounts()) {
			shape |= histCountIsSum
		}
		e.w.uvarint(colShape, shape)
		if shape&histCountIsSum == 0 {
			e.w.uvarint(colCount, p.Count())
		}
		e.sumMinMax(shape, p.Sum(), p.Min(), p.Max())
		if shape&histSameBounds == 0 {
			e.w.uvarint(colShape, uint64(bounds.Len()))
			prev := uint64(0)
			for k := range bounds.Len() {
				e.w.xorDouble(colDouble, &prev, bounds.At(k))
			}
			e.st.prevBounds = bounds
		}
		counts := p.BucketCounts()
		e.w.uvarint(colShape, uint64(counts.Len()))
		for k := range counts.Len() {
			e.w.uvarint(colCount, counts.At(k))
		}
		e.exemplars(p.Exemplars(), p.Timestamp())
	}
}

func (e *v2Encoder) buckets(b pmetric.ExponentialHistogramDataPointBuckets) {
	e.w.varint(colInt, int64(b.Offset()))
	counts := b.BucketCounts()
	e.w.uvarint(colShape, uint64(counts.Len()))
	for k := range counts.Len() {
		e.w.uvarint(colCount, counts.At(k))
	}
}

func (e *v2Encoder) exponentialPoints(points pmetric.ExponentialHistogramDataPointSlice) {
	e.w.uvarint(colShape, uint64(points.Len()))
	for i := range points.Len() {
		p := points.At(i)
		e.pointHeader(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
		shape := e.histogramShape(p.HasSum(), p.HasMin(), p.HasMax())
		if p.Count() == p.ZeroCount()+sumCounts(p.Positive().BucketCounts())+sumCounts(p.Negative().BucketCounts()) {
			shape |= histCountIsSum
		}
		e.w.uvarint(colShape, shape)
		if shape&histCountIsSum == 0 {
			e.w.uvarint(colCount, p.Count())
		}
		e.sumMinMax(shape, p.Sum(), p.Min(), p.Max())
		e.w.varint(colInt, int64(p.Scale()))
		e.w.uvarint(colCount, p.ZeroCount())
		prev := uint64(0)
		e.w.xorDouble(colDouble, &prev, p.ZeroThreshold())
		e.buckets(p.Positive())
		e.buckets(p.Negative())
		e.exemplars(p.Exemplars(), p.Timestamp())
	}
}

func (e *v2Encoder) summaryPoints(points pmetric.SummaryDataPointSlice) {
	e.w.uvarint(colShape, uint64(points.Len()))
	for i := range points.Len() {
		p := points.At(i)
		e.pointHeader(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
		e.w.uvarint(colCount, p.Count())
		e.w.xorDouble(colDouble, &e.st.prevValueDouble, p.Sum())
		qs := p.QuantileValues()
		e.w.uvarint(colShape, uint64(qs.Len()))
		prevQ, prevV := uint64(0), uint64(0)
		for k := range qs.Len() {
			q := qs.At(k)
			e.w.xorDouble(colDouble, &prevQ, q.Quantile())
			e.w.xorDouble(colDouble, &prevV, q.Value())
		}
	}
}

// Log record shape bits (colShape).
const (
	logTraceID      = 1 << 0
	logSpanID       = 1 << 1
	logFlags        = 1 << 2
	logDropped      = 1 << 3
	logEventName    = 1 << 4
	logSeverityText = 1 << 5
)

func (e *v2Encoder) logs(ld plog.Logs) error {
	rls := ld.ResourceLogs()
	e.w.uvarint(colShape, uint64(rls.Len()))
	for i := range rls.Len() {
		rl := rls.At(i)
		err := e.resource(func() {
			e.resourceFields(rl.Resource(), rl.SchemaUrl())
			sls := rl.ScopeLogs()
			e.w.uvarint(colShape, uint64(sls.Len()))
			for j := range sls.Len() {
				sl := sls.At(j)
				e.scope(sl.Scope(), sl.SchemaUrl())
				e.logRecords(sl.LogRecords())
			}
		}, func() ([]byte, error) {
			one := plog.NewLogs()
			rl.CopyTo(one.ResourceLogs().AppendEmpty())
			return (&plog.ProtoMarshaler{}).MarshalLogs(one)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *v2Encoder) logRecords(records plog.LogRecordSlice) {
	e.w.uvarint(colShape, uint64(records.Len()))
	for i := range records.Len() {
		lr := records.At(i)
		tid, sid := lr.TraceID(), lr.SpanID()
		var shape uint64
		if !tid.IsEmpty() {
			shape |= logTraceID
		}
		if !sid.IsEmpty() {
			shape |= logSpanID
		}
		if lr.Flags() != 0 {
			shape |= logFlags
		}
		if lr.DroppedAttributesCount() != 0 {
			shape |= logDropped
		}
		if lr.EventName() != "" {
			shape |= logEventName
		}
		if lr.SeverityText() != "" {
			shape |= logSeverityText
		}
		e.w.uvarint(colShape, shape)
		ts := lr.Timestamp()
		e.time(colTime, &e.st.prevTime, ts)
		e.w.varint(colDuration, int64(lr.ObservedTimestamp())-int64(ts))
		e.w.uvarint(colShape, uint64(uint32(lr.SeverityNumber())))
		if shape&logSeverityText != 0 {
			e.str(colString, lr.SeverityText())
		}
		e.value(lr.Body(), 0)
		e.attrs(lr.Attributes(), 0)
		if shape&logDropped != 0 {
			e.w.uvarint(colShape, uint64(lr.DroppedAttributesCount()))
		}
		if shape&logFlags != 0 {
			e.w.uvarint(colShape, uint64(lr.Flags()))
		}
		if shape&logTraceID != 0 {
			e.w.raw(colTraceID, tid[:])
		}
		if shape&logSpanID != 0 {
			e.w.raw(colSpanID, sid[:])
		}
		if shape&logEventName != 0 {
			e.str(colString, lr.EventName())
		}
	}
}

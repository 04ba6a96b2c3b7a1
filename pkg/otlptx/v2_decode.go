package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"encoding/binary"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decodeState mirrors encodeState on the decoding side.
type decodeState struct {
	prevTime        int64
	prevStart       int64
	prevAttrDouble  uint64
	prevValueDouble uint64
	prevBounds      pcommon.Float64Slice
}

// v2Decoder builds pdata from one v2 body. It is reused through a pool; it is not safe
// for concurrent use itself. Decoded pdata never aliases the input or the decoder.
type v2Decoder struct {
	strings []string
	r       columnReader
	st      decodeState
	spanIDs []pcommon.SpanID
	keys    []string // keys of the maps being decoded, innermost last
}

// decodedSignals is what a v2 body holds.
type decodedSignals struct {
	traces  ptrace.Traces
	metrics pmetric.Metrics
	logs    plog.Logs
	mask    uint64
}

func (d *v2Decoder) decodeBody(b []byte) (decodedSignals, error) {
	var out decodedSignals
	var err error
	d.r.err = nil
	d.r.budget = len(b)
	d.strings, b, err = readStringTable(b, d.strings)
	if err != nil {
		return out, err
	}
	mask, m := binary.Uvarint(b)
	if m <= 0 || mask&^(sectionTraces|sectionMetrics|sectionLogs) != 0 {
		return out, fmt.Errorf("%w: section mask", ErrMalformed)
	}
	b = b[m:]
	out.mask = mask
	sections := []struct {
		bit    uint64
		name   string
		decode func() error
	}{
		{sectionTraces, "traces", func() error { out.traces = ptrace.NewTraces(); return d.traces(out.traces) }},
		{sectionMetrics, "metrics", func() error { out.metrics = pmetric.NewMetrics(); return d.metrics(out.metrics) }},
		{sectionLogs, "logs", func() error { out.logs = plog.NewLogs(); return d.logs(out.logs) }},
	}
	for _, s := range sections {
		if mask&s.bit == 0 {
			continue
		}
		if b, err = d.r.load(b); err != nil {
			return out, fmt.Errorf("%s section: %w", s.name, err)
		}
		d.st = decodeState{}
		if err := s.decode(); err != nil {
			return out, fmt.Errorf("%s section: %w", s.name, err)
		}
		if d.r.err != nil {
			return out, fmt.Errorf("%s section: %w", s.name, d.r.err)
		}
		for i, c := range d.r.cols {
			if len(c) != 0 {
				return out, fmt.Errorf("%w: %s section: %d unread bytes in column %d", ErrMalformed, s.name, len(c), i)
			}
		}
	}
	if len(b) != 0 {
		return out, fmt.Errorf("%w: %d bytes after the last section", ErrMalformed, len(b))
	}
	return out, nil
}

// resources decodes the resource list of a section: per resource, either the columnar
// form (columnar is called) or a fallback OTLP message (fallback is called with its bytes).
func (d *v2Decoder) resources(columnar func() error, fallback func([]byte) error) error {
	// Each resource takes at least its mode byte in colShape.
	n := d.r.count(colShape, 1, "resource")
	for range n {
		if d.r.err != nil {
			return d.r.err
		}
		switch mode := d.r.uvarint(colShape); mode {
		case resourceColumnar:
			if err := columnar(); err != nil {
				return err
			}
		case resourceFallback:
			raw := d.r.bytes(colBytes)
			if d.r.err != nil {
				return d.r.err
			}
			if err := fallback(raw); err != nil {
				return fmt.Errorf("%w: fallback resource: %w", ErrMalformed, err)
			}
		default:
			return fmt.Errorf("%w: resource mode %d", ErrMalformed, mode)
		}
	}
	return d.r.err
}

func (d *v2Decoder) attrs(m pcommon.Map, depth int) {
	// Each attribute takes at least one byte of colKey.
	n := d.r.count(colKey, 1, "attribute")
	if n == 0 {
		return
	}
	m.EnsureCapacity(n)
	start := len(d.keys)
	for range n {
		d.keys = append(d.keys, d.str(colKey))
	}
	for i := range n {
		if d.r.err != nil {
			break
		}
		d.value(m.PutEmpty(d.keys[start+i]), depth)
	}
	clear(d.keys[start:])
	d.keys = d.keys[:start]
}

func (d *v2Decoder) value(v pcommon.Value, depth int) {
	switch tag := d.r.byte(colType); tag {
	case tagEmpty:
	case tagString:
		v.SetStr(d.str(colString))
	case tagBoolFalse:
		v.SetBool(false)
	case tagBoolTrue:
		v.SetBool(true)
	case tagInt:
		v.SetInt(d.r.varint(colInt))
	case tagDouble:
		v.SetDouble(d.r.xorDouble(colDouble, &d.st.prevAttrDouble))
	case tagBytes:
		v.SetEmptyBytes().FromRaw(d.r.bytes(colBytes))
	case tagArray:
		if depth >= MaxValueDepth {
			d.r.fail("values nested deeper than %d", MaxValueDepth)
			return
		}
		s := v.SetEmptySlice()
		n := d.r.count(colType, 1, "array element")
		s.EnsureCapacity(n)
		for range n {
			if d.r.err != nil {
				return
			}
			d.value(s.AppendEmpty(), depth+1)
		}
	case tagMap:
		if depth >= MaxValueDepth {
			d.r.fail("values nested deeper than %d", MaxValueDepth)
			return
		}
		d.attrs(v.SetEmptyMap(), depth+1)
	default:
		d.r.fail("value type tag %d", tag)
	}
}

func (d *v2Decoder) resourceFields(r pcommon.Resource) (schemaURL string) {
	d.attrs(r.Attributes(), 0)
	r.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
	return d.str(colString)
}

func (d *v2Decoder) scope(s pcommon.InstrumentationScope) (schemaURL string) {
	s.SetName(d.str(colString))
	s.SetVersion(d.str(colString))
	d.attrs(s.Attributes(), 0)
	s.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
	return d.str(colString)
}

func (d *v2Decoder) time(col int, prev *int64) pcommon.Timestamp {
	*prev += d.r.varint(col)
	return pcommon.Timestamp(*prev)
}

func (d *v2Decoder) traceID(col int) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:], d.r.raw(col, len(id)))
	return id
}

func (d *v2Decoder) spanID(col int) pcommon.SpanID {
	var id pcommon.SpanID
	copy(id[:], d.r.raw(col, len(id)))
	return id
}

func (d *v2Decoder) traces(td ptrace.Traces) error {
	rss := td.ResourceSpans()
	return d.resources(func() error {
		rs := rss.AppendEmpty()
		rs.SetSchemaUrl(d.resourceFields(rs.Resource()))
		// Each scope takes at least its name reference in colString.
		n := d.r.count(colString, 1, "scope")
		sss := rs.ScopeSpans()
		sss.EnsureCapacity(n)
		for range n {
			if d.r.err != nil {
				return d.r.err
			}
			ss := sss.AppendEmpty()
			ss.SetSchemaUrl(d.scope(ss.Scope()))
			d.spans(ss.Spans())
		}
		return d.r.err
	}, func(raw []byte) error {
		one, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			return err
		}
		if one.ResourceSpans().Len() != 1 {
			return fmt.Errorf("%d resources, want 1", one.ResourceSpans().Len())
		}
		one.ResourceSpans().At(0).MoveTo(rss.AppendEmpty())
		return nil
	})
}

func (d *v2Decoder) spans(spans ptrace.SpanSlice) {
	// Each span takes at least 8 bytes of colSpanID.
	n := d.r.count(colSpanID, 8, "span")
	spans.EnsureCapacity(n)
	d.spanIDs = d.spanIDs[:0]
	var traceID pcommon.TraceID
	for i := range n {
		if d.r.err != nil {
			return
		}
		s := spans.AppendEmpty()
		shape := d.r.uvarint(colShape)
		if shape&spanNewTrace != 0 {
			traceID = d.traceID(colTraceID)
		} else if i == 0 {
			d.r.fail("first span of a scope without a trace id")
			return
		}
		s.SetTraceID(traceID)
		spanID := d.spanID(colSpanID)
		s.SetSpanID(spanID)
		switch {
		case shape&spanParentBackref != 0 && shape&spanParentID != 0:
			d.r.fail("span parent both back-reference and id")
			return
		case shape&spanParentBackref != 0:
			dist := d.r.uvarint(colShape)
			if dist == 0 || dist > uint64(i) {
				d.r.fail("span parent back-reference %d at span %d", dist, i)
				return
			}
			s.SetParentSpanID(d.spanIDs[i-int(dist)])
		case shape&spanParentID != 0:
			s.SetParentSpanID(d.spanID(colSpanID))
		}
		d.spanIDs = append(d.spanIDs, spanID)
		if shape&spanTraceState != 0 {
			s.TraceState().FromRaw(d.str(colString))
		}
		if shape&spanFlags != 0 {
			s.SetFlags(d.r.uint32(colShape, "span flags"))
		}
		s.SetName(d.str(colString))
		s.SetKind(ptrace.SpanKind(int32(d.r.uint32(colShape, "span kind"))))
		start := d.time(colTime, &d.st.prevTime)
		s.SetStartTimestamp(start)
		s.SetEndTimestamp(pcommon.Timestamp(int64(start) + d.r.varint(colDuration)))
		d.attrs(s.Attributes(), 0)
		if shape&spanDropped != 0 {
			s.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
			s.SetDroppedEventsCount(d.r.uint32(colShape, "dropped events count"))
			s.SetDroppedLinksCount(d.r.uint32(colShape, "dropped links count"))
		}
		if shape&spanEvents != 0 {
			// Each event takes at least its name reference in colString.
			m := d.r.count(colString, 1, "event")
			events := s.Events()
			events.EnsureCapacity(m)
			for range m {
				if d.r.err != nil {
					return
				}
				ev := events.AppendEmpty()
				ev.SetTimestamp(pcommon.Timestamp(int64(start) + d.r.varint(colDuration)))
				ev.SetName(d.str(colString))
				d.attrs(ev.Attributes(), 0)
				ev.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
			}
		}
		if shape&spanLinks != 0 {
			// Each link takes 16 bytes of colTraceID.
			m := d.r.count(colTraceID, 16, "link")
			links := s.Links()
			links.EnsureCapacity(m)
			for range m {
				if d.r.err != nil {
					return
				}
				l := links.AppendEmpty()
				l.SetTraceID(d.traceID(colTraceID))
				l.SetSpanID(d.spanID(colSpanID))
				l.TraceState().FromRaw(d.str(colString))
				d.attrs(l.Attributes(), 0)
				l.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
				l.SetFlags(d.r.uint32(colShape, "link flags"))
			}
		}
		if shape&spanStatus != 0 {
			s.Status().SetCode(ptrace.StatusCode(int32(d.r.uint32(colShape, "status code"))))
			s.Status().SetMessage(d.str(colString))
		}
	}
}

func (d *v2Decoder) metrics(md pmetric.Metrics) error {
	rms := md.ResourceMetrics()
	return d.resources(func() error {
		rm := rms.AppendEmpty()
		rm.SetSchemaUrl(d.resourceFields(rm.Resource()))
		n := d.r.count(colString, 1, "scope")
		sms := rm.ScopeMetrics()
		sms.EnsureCapacity(n)
		for range n {
			if d.r.err != nil {
				return d.r.err
			}
			sm := sms.AppendEmpty()
			sm.SetSchemaUrl(d.scope(sm.Scope()))
			// Each metric takes at least three string references (name, description, unit).
			m := d.r.count(colString, 3, "metric")
			ms := sm.Metrics()
			ms.EnsureCapacity(m)
			for range m {
				if d.r.err != nil {
					return d.r.err
				}
				d.metric(ms.AppendEmpty())
			}
		}
		return d.r.err
	}, func(raw []byte) error {
		one, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(raw)
		if err != nil {
			return err
		}
		if one.ResourceMetrics().Len() != 1 {
			return fmt.Errorf("%d resources, want 1", one.ResourceMetrics().Len())
		}
		one.ResourceMetrics().At(0).MoveTo(rms.AppendEmpty())
		return nil
	})
}

func (d *v2Decoder) metric(m pmetric.Metric) {
	m.SetName(d.str(colString))
	m.SetDescription(d.str(colString))
	m.SetUnit(d.str(colString))
	d.attrs(m.Metadata(), 0)
	d.st.prevValueDouble = 0
	switch kind := d.r.uvarint(colShape); kind {
	case metricEmpty:
	case metricGauge:
		d.numberPoints(m.SetEmptyGauge().DataPoints())
	case metricSum:
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporality(int32(d.r.uint32(colShape, "temporality"))))
		sum.SetIsMonotonic(d.r.uvarint(colShape) != 0)
		d.numberPoints(sum.DataPoints())
	case metricHistogram:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporality(int32(d.r.uint32(colShape, "temporality"))))
		d.histogramPoints(h.DataPoints())
	case metricExponentialHistogram:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporality(int32(d.r.uint32(colShape, "temporality"))))
		d.exponentialPoints(h.DataPoints())
	case metricSummary:
		d.summaryPoints(m.SetEmptySummary().DataPoints())
	default:
		d.r.fail("metric type %d", kind)
	}
}

// pointCount reads a data point count: each point takes at least its two time deltas in
// colTime.
func (d *v2Decoder) pointCount() int { return d.r.count(colTime, 2, "data point") }

func (d *v2Decoder) pointHeader(attrs pcommon.Map) (start, ts pcommon.Timestamp, flags pmetric.DataPointFlags) {
	d.attrs(attrs, 0)
	start = d.time(colTime, &d.st.prevStart)
	ts = d.time(colTime, &d.st.prevTime)
	flags = pmetric.DataPointFlags(d.r.uint32(colShape, "data point flags"))
	return start, ts, flags
}

func (d *v2Decoder) numberPoints(points pmetric.NumberDataPointSlice) {
	n := d.pointCount()
	points.EnsureCapacity(n)
	for range n {
		if d.r.err != nil {
			return
		}
		p := points.AppendEmpty()
		start, ts, flags := d.pointHeader(p.Attributes())
		p.SetStartTimestamp(start)
		p.SetTimestamp(ts)
		p.SetFlags(flags)
		switch kind := d.r.uvarint(colShape); kind {
		case numberEmpty:
		case numberInt:
			p.SetIntValue(d.r.varint(colInt))
		case numberDouble:
			p.SetDoubleValue(d.r.xorDouble(colDouble, &d.st.prevValueDouble))
		default:
			d.r.fail("number kind %d", kind)
		}
		d.exemplars(p.Exemplars(), ts)
	}
}

func (d *v2Decoder) exemplars(ex pmetric.ExemplarSlice, pointTime pcommon.Timestamp) {
	// Each exemplar takes at least its time delta in colDuration.
	n := d.r.count(colDuration, 1, "exemplar")
	if n == 0 {
		return
	}
	ex.EnsureCapacity(n)
	for range n {
		if d.r.err != nil {
			return
		}
		x := ex.AppendEmpty()
		shape := d.r.uvarint(colShape)
		d.attrs(x.FilteredAttributes(), 0)
		x.SetTimestamp(pcommon.Timestamp(int64(pointTime) + d.r.varint(colDuration)))
		switch kind := shape & 3; kind {
		case numberEmpty:
		case numberInt:
			x.SetIntValue(d.r.varint(colInt))
		case numberDouble:
			prev := uint64(0)
			x.SetDoubleValue(d.r.xorDouble(colDouble, &prev))
		default:
			d.r.fail("exemplar number kind %d", kind)
		}
		if shape&exemplarTraceID != 0 {
			x.SetTraceID(d.traceID(colTraceID))
		}
		if shape&exemplarSpanID != 0 {
			x.SetSpanID(d.spanID(colSpanID))
		}
	}
}

type sumMinMaxSetter interface {
	SetSum(float64)
	SetMin(float64)
	SetMax(float64)
}

func (d *v2Decoder) sumMinMax(shape uint64, p sumMinMaxSetter) {
	if shape&histSum != 0 {
		p.SetSum(d.r.xorDouble(colDouble, &d.st.prevValueDouble))
	}
	if shape&histMin != 0 {
		p.SetMin(d.r.xorDouble(colDouble, &d.st.prevValueDouble))
	}
	if shape&histMax != 0 {
		p.SetMax(d.r.xorDouble(colDouble, &d.st.prevValueDouble))
	}
}

func (d *v2Decoder) counts(dst pcommon.UInt64Slice) {
	n := d.r.count(colCount, 1, "bucket")
	if n == 0 {
		return
	}
	dst.EnsureCapacity(n)
	for range n {
		dst.Append(d.r.uvarint(colCount))
	}
}

func (d *v2Decoder) histogramPoints(points pmetric.HistogramDataPointSlice) {
	n := d.pointCount()
	points.EnsureCapacity(n)
	d.st.prevBounds = pcommon.Float64Slice{}
	for range n {
		if d.r.err != nil {
			return
		}
		p := points.AppendEmpty()
		start, ts, flags := d.pointHeader(p.Attributes())
		p.SetStartTimestamp(start)
		p.SetTimestamp(ts)
		p.SetFlags(flags)
		shape := d.r.uvarint(colShape)
		if shape&histCountIsSum == 0 {
			p.SetCount(d.r.uvarint(colCount))
		}
		d.sumMinMax(shape, p)
		if shape&histSameBounds != 0 {
			if d.st.prevBounds == (pcommon.Float64Slice{}) {
				d.r.fail("histogram bounds refer to a missing previous point")
				return
			}
			d.st.prevBounds.CopyTo(p.ExplicitBounds())
		} else {
			m := d.r.count(colDouble, 1, "bound")
			bounds := p.ExplicitBounds()
			bounds.EnsureCapacity(m)
			prev := uint64(0)
			for range m {
				bounds.Append(d.r.xorDouble(colDouble, &prev))
			}
			d.st.prevBounds = bounds
		}
		d.counts(p.BucketCounts())
		if shape&histCountIsSum != 0 {
			p.SetCount(sumCounts(p.BucketCounts()))
		}
		d.exemplars(p.Exemplars(), ts)
	}
}

func (d *v2Decoder) buckets(b pmetric.ExponentialHistogramDataPointBuckets) {
	off := d.r.varint(colInt)
	if off != int64(int32(off)) {
		d.r.fail("bucket offset %d overflows 32 bits", off)
		return
	}
	b.SetOffset(int32(off))
	d.counts(b.BucketCounts())
}

func (d *v2Decoder) exponentialPoints(points pmetric.ExponentialHistogramDataPointSlice) {
	n := d.pointCount()
	points.EnsureCapacity(n)
	for range n {
		if d.r.err != nil {
			return
		}
		p := points.AppendEmpty()
		start, ts, flags := d.pointHeader(p.Attributes())
		p.SetStartTimestamp(start)
		p.SetTimestamp(ts)
		p.SetFlags(flags)
		shape := d.r.uvarint(colShape)
		if shape&histCountIsSum == 0 {
			p.SetCount(d.r.uvarint(colCount))
		}
		d.sumMinMax(shape, p)
		scale := d.r.varint(colInt)
		if scale != int64(int32(scale)) {
			d.r.fail("scale %d overflows 32 bits", scale)
			return
		}
		p.SetScale(int32(scale))
		p.SetZeroCount(d.r.uvarint(colCount))
		prev := uint64(0)
		p.SetZeroThreshold(d.r.xorDouble(colDouble, &prev))
		d.buckets(p.Positive())
		d.buckets(p.Negative())
		if shape&histCountIsSum != 0 {
			p.SetCount(p.ZeroCount() + sumCounts(p.Positive().BucketCounts()) + sumCounts(p.Negative().BucketCounts()))
		}
		d.exemplars(p.Exemplars(), ts)
	}
}

func (d *v2Decoder) summaryPoints(points pmetric.SummaryDataPointSlice) {
	n := d.pointCount()
	points.EnsureCapacity(n)
	for range n {
		if d.r.err != nil {
			return
		}
		p := points.AppendEmpty()
		start, ts, flags := d.pointHeader(p.Attributes())
		p.SetStartTimestamp(start)
		p.SetTimestamp(ts)
		p.SetFlags(flags)
		p.SetCount(d.r.uvarint(colCount))
		p.SetSum(d.r.xorDouble(colDouble, &d.st.prevValueDouble))
		// Each quantile takes at least two header bytes in colDouble.
		m := d.r.count(colDouble, 2, "quantile")
		qs := p.QuantileValues()
		qs.EnsureCapacity(m)
		prevQ, prevV := uint64(0), uint64(0)
		for range m {
			q := qs.AppendEmpty()
			q.SetQuantile(d.r.xorDouble(colDouble, &prevQ))
			q.SetValue(d.r.xorDouble(colDouble, &prevV))
		}
	}
}

func (d *v2Decoder) logs(ld plog.Logs) error {
	rls := ld.ResourceLogs()
	return d.resources(func() error {
		rl := rls.AppendEmpty()
		rl.SetSchemaUrl(d.resourceFields(rl.Resource()))
		n := d.r.count(colString, 1, "scope")
		sls := rl.ScopeLogs()
		sls.EnsureCapacity(n)
		for range n {
			if d.r.err != nil {
				return d.r.err
			}
			sl := sls.AppendEmpty()
			sl.SetSchemaUrl(d.scope(sl.Scope()))
			d.logRecords(sl.LogRecords())
		}
		return d.r.err
	}, func(raw []byte) error {
		one, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(raw)
		if err != nil {
			return err
		}
		if one.ResourceLogs().Len() != 1 {
			return fmt.Errorf("%d resources, want 1", one.ResourceLogs().Len())
		}
		one.ResourceLogs().At(0).MoveTo(rls.AppendEmpty())
		return nil
	})
}

func (d *v2Decoder) logRecords(records plog.LogRecordSlice) {
	// Each record takes at least one byte of colTime.
	n := d.r.count(colTime, 1, "log record")
	records.EnsureCapacity(n)
	for range n {
		if d.r.err != nil {
			return
		}
		lr := records.AppendEmpty()
		shape := d.r.uvarint(colShape)
		ts := d.time(colTime, &d.st.prevTime)
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(pcommon.Timestamp(int64(ts) + d.r.varint(colDuration)))
		lr.SetSeverityNumber(plog.SeverityNumber(int32(d.r.uint32(colShape, "severity number"))))
		if shape&logSeverityText != 0 {
			lr.SetSeverityText(d.str(colString))
		}
		d.value(lr.Body(), 0)
		d.attrs(lr.Attributes(), 0)
		if shape&logDropped != 0 {
			lr.SetDroppedAttributesCount(d.r.uint32(colShape, "dropped attributes count"))
		}
		if shape&logFlags != 0 {
			lr.SetFlags(plog.LogRecordFlags(d.r.uint32(colShape, "log flags")))
		}
		if shape&logTraceID != 0 {
			lr.SetTraceID(d.traceID(colTraceID))
		}
		if shape&logSpanID != 0 {
			lr.SetSpanID(d.spanID(colSpanID))
		}
		if shape&logEventName != 0 {
			lr.SetEventName(d.str(colString))
		}
	}
}

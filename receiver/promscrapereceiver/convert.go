package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"

import (
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// processStartMetric is client_golang's process collector gauge; when the target serves it, it is the start time
// of every cumulative series that carries no created timestamp of its own.
const processStartMetric = "process_start_time_seconds"

// startTimeOf returns the target's process start time if it exposes one, else fallback (the receiver's start).
func startTimeOf(families []*dto.MetricFamily, fallback pcommon.Timestamp) pcommon.Timestamp {
	for _, mf := range families {
		if mf.GetName() != processStartMetric || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		var secs float64
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			secs = m.GetGauge().GetValue()
		case dto.MetricType_UNTYPED:
			secs = m.GetUntyped().GetValue()
		default:
			return fallback
		}
		if secs > 0 && !math.IsInf(secs, 0) && !math.IsNaN(secs) {
			return pcommon.Timestamp(uint64(secs * 1e9))
		}
	}
	return fallback
}

// appendFamilies converts Prometheus metric families the way the prometheus receiver does for the classic types:
// counter → monotonic cumulative sum, gauge and untyped → gauge, histogram → explicit-bucket histogram, summary →
// summary. Names, help and labels are kept as they are; native histogram buckets are not converted (client_golang
// exposes classic buckets unless told otherwise), only their count and sum.
func appendFamilies(dest pmetric.MetricSlice, families []*dto.MetricFamily, now, start pcommon.Timestamp) {
	for _, mf := range families {
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			sum := appendMetric(dest, mf).SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, m := range mf.GetMetric() {
				dp := sum.DataPoints().AppendEmpty()
				setPoint(dp.Attributes(), dp.SetTimestamp, m, now)
				dp.SetStartTimestamp(createdOr(m.GetCounter().GetCreatedTimestamp(), start))
				dp.SetDoubleValue(m.GetCounter().GetValue())
			}
		case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			gauge := appendMetric(dest, mf).SetEmptyGauge()
			for _, m := range mf.GetMetric() {
				dp := gauge.DataPoints().AppendEmpty()
				setPoint(dp.Attributes(), dp.SetTimestamp, m, now)
				if mf.GetType() == dto.MetricType_GAUGE {
					dp.SetDoubleValue(m.GetGauge().GetValue())
				} else {
					dp.SetDoubleValue(m.GetUntyped().GetValue())
				}
			}
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			hist := appendMetric(dest, mf).SetEmptyHistogram()
			hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, m := range mf.GetMetric() {
				dp := hist.DataPoints().AppendEmpty()
				setPoint(dp.Attributes(), dp.SetTimestamp, m, now)
				h := m.GetHistogram()
				dp.SetStartTimestamp(createdOr(h.GetCreatedTimestamp(), start))
				setBuckets(dp, h)
			}
		case dto.MetricType_SUMMARY:
			summary := appendMetric(dest, mf).SetEmptySummary()
			for _, m := range mf.GetMetric() {
				dp := summary.DataPoints().AppendEmpty()
				setPoint(dp.Attributes(), dp.SetTimestamp, m, now)
				s := m.GetSummary()
				dp.SetStartTimestamp(createdOr(s.GetCreatedTimestamp(), start))
				dp.SetCount(s.GetSampleCount())
				dp.SetSum(s.GetSampleSum())
				for _, q := range s.GetQuantile() {
					qv := dp.QuantileValues().AppendEmpty()
					qv.SetQuantile(q.GetQuantile())
					qv.SetValue(q.GetValue())
				}
			}
		}
	}
}

func appendMetric(dest pmetric.MetricSlice, mf *dto.MetricFamily) pmetric.Metric {
	m := dest.AppendEmpty()
	m.SetName(mf.GetName())
	m.SetDescription(mf.GetHelp())
	m.SetUnit(mf.GetUnit())
	return m
}

func appendGauge(dest pmetric.MetricSlice, name, description, unit string) pmetric.Gauge {
	m := dest.AppendEmpty()
	m.SetName(name)
	m.SetDescription(description)
	m.SetUnit(unit)
	return m.SetEmptyGauge()
}

// setPoint copies the labels and the exposition's own timestamp (else the scrape time).
func setPoint(attrs pcommon.Map, setTimestamp func(pcommon.Timestamp), m *dto.Metric, now pcommon.Timestamp) {
	attrs.EnsureCapacity(len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		attrs.PutStr(l.GetName(), l.GetValue())
	}
	if ms := m.GetTimestampMs(); ms != 0 {
		setTimestamp(pcommon.Timestamp(uint64(ms) * 1e6))
		return
	}
	setTimestamp(now)
}

func createdOr(created *timestamppb.Timestamp, fallback pcommon.Timestamp) pcommon.Timestamp {
	if created == nil || (created.GetSeconds() == 0 && created.GetNanos() == 0) {
		return fallback
	}
	return pcommon.NewTimestampFromTime(created.AsTime())
}

// setBuckets turns Prometheus' cumulative buckets (each counts observations ≤ its bound, +Inf optional) into OTLP
// explicit bounds without +Inf and per-bucket counts, the last bucket being everything above the last bound.
func setBuckets(dp pmetric.HistogramDataPoint, h *dto.Histogram) {
	dp.SetCount(h.GetSampleCount())
	dp.SetSum(h.GetSampleSum())
	buckets := make([]*dto.Bucket, 0, len(h.GetBucket()))
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), +1) {
			buckets = append(buckets, b)
		}
	}
	if len(buckets) == 0 {
		return
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetUpperBound() < buckets[j].GetUpperBound() })
	bounds := make([]float64, len(buckets))
	counts := make([]uint64, len(buckets)+1)
	var below uint64
	for i, b := range buckets {
		bounds[i] = b.GetUpperBound()
		cum := b.GetCumulativeCount()
		if cum < below {
			// A non-monotonic exposition is broken; never produce a negative (wrapped) count.
			cum = below
		}
		counts[i] = cum - below
		below = cum
	}
	if total := h.GetSampleCount(); total > below {
		counts[len(buckets)] = total - below
	}
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
}

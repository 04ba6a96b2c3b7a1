package readinessprocessor

import (
	"context"
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// fuzzNames mixes every known signal name with a threshold metric and an unknown one.
var fuzzNames = func() []string {
	names := []string{"pprofscrape.thread.count", "unrelated.metric"}
	for name := range signalSources {
		names = append(names, name)
	}
	return names
}()

// metricsFromBytes turns fuzz input into a batch: every few bytes choose a resource, a metric name, a type, a
// timestamp step (forward, equal, backward, zero) and a value (including NaN, Inf, negative).
func metricsFromBytes(data []byte, clock *int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	var rms [3]pmetric.MetricSlice
	for i := range rms {
		rm := md.ResourceMetrics().AppendEmpty()
		if i < 2 {
			rm.Resource().Attributes().PutStr("service.name", string(rune('a'+i)))
		}
		rms[i] = rm.ScopeMetrics().AppendEmpty().Metrics()
	}
	for len(data) >= 5 {
		r, n, typ, step, val := data[0], data[1], data[2], data[3], data[4]
		data = data[5:]
		switch step % 4 {
		case 0:
			*clock += int64(step) * 1e9
		case 1:
		case 2:
			*clock -= int64(step) * 1e8
		case 3:
		}
		ts := *clock
		if step == 255 {
			ts = 0
		}
		v := float64(int8(val)) * 1000
		switch val {
		case 0x7f:
			v = math.NaN()
		case 0x7e:
			v = math.Inf(1)
		}
		m := rms[int(r)%3].AppendEmpty()
		m.SetName(fuzzNames[int(n)%len(fuzzNames)])
		switch typ % 5 {
		case 0:
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(ts))
			dp.SetDoubleValue(v)
		case 1:
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(ts))
			dp.SetStartTimestamp(pcommon.Timestamp(ts / 2))
			dp.SetIntValue(int64(v))
			if typ&0x80 != 0 {
				dp.Attributes().PutStr("go.memory.type", "stack")
				other := sum.DataPoints().AppendEmpty()
				other.SetTimestamp(pcommon.Timestamp(ts))
				other.SetIntValue(int64(val))
			}
		case 2:
			dp := m.SetEmptySummary().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(ts))
			dp.SetCount(uint64(val))
			dp.SetSum(v)
		case 3:
			dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(ts))
			dp.SetCount(uint64(val))
		case 4:
			m.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetTimestamp(pcommon.Timestamp(ts))
		}
	}
	return md
}

// FuzzProcessMetrics feeds arbitrary batches: the processor never panics and never drops or changes input.
func FuzzProcessMetrics(f *testing.F) {
	f.Add([]byte{0, 1, 0, 4, 10, 1, 2, 1, 4, 20, 0, 3, 2, 8, 5})
	f.Add([]byte{0, 1, 1, 0, 0x7f, 0, 1, 1, 2, 0x7e, 2, 5, 0, 255, 1})
	value := 10.0
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := testConfig(goroutineRule(), heapRule(), gcRule(RuleParams{MaxPerMinute: 5, BaselineMultiple: 2}),
			RuleConfig{Name: "threads", Kind: KindThreshold, Params: RuleParams{Metric: "pprofscrape.thread.count", Comparator: ">", Value: &value}})
		cfg.EvaluationInterval = 1
		cfg.MaxSeries = 2
		p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), cfg)
		if err != nil {
			t.Fatal(err)
		}
		clock := int64(1e18)
		for chunk := data; len(chunk) > 0; {
			n := min(len(chunk), 40)
			md := metricsFromBytes(chunk[:n], &clock)
			chunk = chunk[n:]
			want := pmetric.NewMetrics()
			md.CopyTo(want)
			out, err := p.processMetrics(context.Background(), md)
			if err != nil {
				t.Fatal(err)
			}
			if out.ResourceMetrics().Len() < want.ResourceMetrics().Len() {
				t.Fatalf("input dropped")
			}
			for i := 0; i < want.ResourceMetrics().Len(); i++ {
				want.ResourceMetrics().At(i).CopyTo(want.ResourceMetrics().At(i))
				if !resourceMetricsEqual(want.ResourceMetrics().At(i), out.ResourceMetrics().At(i)) {
					t.Fatalf("input %d changed", i)
				}
			}
		}
	})
}

func resourceMetricsEqual(a, b pmetric.ResourceMetrics) bool {
	ma, mb := pmetric.NewMetrics(), pmetric.NewMetrics()
	a.CopyTo(ma.ResourceMetrics().AppendEmpty())
	b.CopyTo(mb.ResourceMetrics().AppendEmpty())
	var m pmetric.JSONMarshaler
	ja, err1 := m.MarshalMetrics(ma)
	jb, err2 := m.MarshalMetrics(mb)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

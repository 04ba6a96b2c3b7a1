package testbed

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestNewBatchCarriesEveryID(t *testing.T) {
	ids := []int64{MakeID(3, 0), MakeID(3, 1), MakeID(3, 2)}
	for _, s := range AllSignals {
		t.Run(string(s), func(t *testing.T) {
			b := NewBatch(s, 3, ids)
			got := NewIDCounter()
			var untracked int
			switch s {
			case Traces:
				untracked = TraceIDs(b.Traces, func(id int64) { got.Add(id) })
			case Metrics:
				untracked = MetricIDs(b.Metrics, func(id int64) { got.Add(id) })
			case Logs:
				untracked = LogIDs(b.Logs, func(id int64) { got.Add(id) })
			}
			if untracked != 0 || got.Unique() != len(ids) || got.Total() != int64(len(ids)) {
				t.Errorf("extracted %v (untracked %d), want %v", got.SortedIDs(), untracked, ids)
			}
		})
	}
}

func TestMetricIDsCountsPointsWithoutID(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	sum := ms.AppendEmpty().SetEmptySum()
	sum.DataPoints().AppendEmpty().SetIntValue(1)
	sum.DataPoints().AppendEmpty().Attributes().PutInt(IDAttribute, 42)
	hist := ms.AppendEmpty().SetEmptyHistogram()
	hist.DataPoints().AppendEmpty().Attributes().PutStr(IDAttribute, "not an int")
	var got []int64
	if untracked := MetricIDs(md, func(id int64) { got = append(got, id) }); untracked != 2 {
		t.Errorf("untracked = %d, want 2", untracked)
	}
	if len(got) != 1 || got[0] != 42 {
		t.Errorf("ids = %v, want [42]", got)
	}
}

func TestMakeIDKeepsSourcesApart(t *testing.T) {
	a, b := MakeID(1, 5), MakeID(2, 5)
	if a == b || SourceOf(a) != 1 || SourceOf(b) != 2 {
		t.Errorf("MakeID(1,5)=%d MakeID(2,5)=%d", a, b)
	}
}

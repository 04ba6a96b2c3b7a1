package testbed

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// writeJSONLines writes what the file exporter writes with format: json, plus an unfinished last line.
func writeJSONLines(t *testing.T, path string, lines ...[]byte) {
	t.Helper()
	var data []byte
	for _, l := range lines {
		data = append(append(data, l...), '\n')
	}
	data = append(data, []byte(`{"resourceMetrics":[`)...) // being written
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadFilesAndFlattenMetrics(t *testing.T) {
	dir := t.TempDir()
	md := NewBatch(Metrics, 1, []int64{1, 2}).Metrics
	sum := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	sum.SetName("go_goroutines")
	sum.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(12)
	var mm pmetric.JSONMarshaler
	line, err := mm.MarshalMetrics(md)
	if err != nil {
		t.Fatal(err)
	}
	metricsPath := filepath.Join(dir, "metrics.jsonl")
	writeJSONLines(t, metricsPath, line, line)

	batches, err := ReadMetricsFile(metricsPath)
	if err != nil || len(batches) != 2 {
		t.Fatalf("ReadMetricsFile = %d batches, %v", len(batches), err)
	}
	points := FlattenMetrics(batches)
	if len(points) != 6 {
		t.Fatalf("%d points, want 6", len(points))
	}
	if p := points[2]; p.Name != "go_goroutines" || p.Value != 12 || p.Resource["service.name"] != "testbed-source-1" {
		t.Errorf("sum point %+v", p)
	}
	got, err := WaitForMetrics(context.Background(), metricsPath, 5*time.Second, func(ps []MetricPoint) bool { return len(ps) == 6 })
	if err != nil || len(got) != 6 {
		t.Errorf("WaitForMetrics = %d points, %v", len(got), err)
	}
	if _, err := WaitForMetrics(context.Background(), metricsPath, 300*time.Millisecond, func([]MetricPoint) bool { return false }); err == nil {
		t.Error("WaitForMetrics returned no error for a match that never comes")
	}

	var lm plog.JSONMarshaler
	ll, _ := lm.MarshalLogs(NewBatch(Logs, 1, []int64{5}).Logs)
	logsPath := filepath.Join(dir, "logs.jsonl")
	writeJSONLines(t, logsPath, ll)
	logs, err := WaitForLogs(context.Background(), logsPath, 5*time.Second, func(ls []plog.Logs) bool { return len(ls) == 1 })
	if err != nil || logs[0].LogRecordCount() != 1 {
		t.Errorf("WaitForLogs = %v, %v", logs, err)
	}

	var tm ptrace.JSONMarshaler
	tl, _ := tm.MarshalTraces(NewBatch(Traces, 1, []int64{5, 6}).Traces)
	tracesPath := filepath.Join(dir, "traces.jsonl")
	writeJSONLines(t, tracesPath, tl)
	if tr, err := ReadTracesFile(tracesPath); err != nil || len(tr) != 1 || tr[0].SpanCount() != 2 {
		t.Errorf("ReadTracesFile = %v, %v", tr, err)
	}

	if b, err := ReadMetricsFile(filepath.Join(dir, "not-yet.jsonl")); err != nil || len(b) != 0 {
		t.Errorf("a missing file should read as empty: %v, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMetricsFile(filepath.Join(dir, "bad.jsonl")); err == nil {
		t.Error("a broken line was accepted")
	}
}

func TestWaitForFiles(t *testing.T) {
	dir := t.TempDir()
	go func() {
		for i, name := range []string{"a.pb.gz", "b.pb.gz"} {
			time.Sleep(time.Duration(i+1) * 50 * time.Millisecond)
			_ = os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600)
		}
	}()
	files, err := WaitForFiles(context.Background(), filepath.Join(dir, "*.pb.gz"), 2, 10*time.Second)
	if err != nil || len(files) != 2 || filepath.Base(files[0]) != "a.pb.gz" {
		t.Errorf("WaitForFiles = %v, %v", files, err)
	}
	if _, err := WaitForFiles(context.Background(), filepath.Join(dir, "*.pb.gz"), 3, 200*time.Millisecond); err == nil {
		t.Error("WaitForFiles found 3 of 2 files")
	}
}

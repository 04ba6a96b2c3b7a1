package testbed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// maxJSONLine bounds one line of a file exporter's output.
const maxJSONLine = 64 << 20

// readJSONLines calls fn for each non-empty line of path. A missing file reads as empty (the exporter creates it on
// its first write); a trailing line without newline is skipped, because the exporter may still be writing it.
func readJSONLines(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it whole.
			var buf bytes.Buffer
			buf.Write(line)
			for errors.Is(err, bufio.ErrBufferFull) && buf.Len() <= maxJSONLine {
				line, err = r.ReadSlice('\n')
				buf.Write(line)
			}
			line = buf.Bytes()
		}
		if err != nil {
			return nil // EOF or a partial last line
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// ReadMetricsFile parses a file exporter's JSON-lines output (format: json) into one pmetric.Metrics per line.
func ReadMetricsFile(path string) ([]pmetric.Metrics, error) {
	var out []pmetric.Metrics
	var u pmetric.JSONUnmarshaler
	err := readJSONLines(path, func(line []byte) error {
		md, err := u.UnmarshalMetrics(line)
		if err != nil {
			return fmt.Errorf("decoding metrics line: %w", err)
		}
		out = append(out, md)
		return nil
	})
	return out, err
}

// ReadLogsFile parses a file exporter's JSON-lines logs output.
func ReadLogsFile(path string) ([]plog.Logs, error) {
	var out []plog.Logs
	var u plog.JSONUnmarshaler
	err := readJSONLines(path, func(line []byte) error {
		ld, err := u.UnmarshalLogs(line)
		if err != nil {
			return fmt.Errorf("decoding logs line: %w", err)
		}
		out = append(out, ld)
		return nil
	})
	return out, err
}

// ReadTracesFile parses a file exporter's JSON-lines traces output.
func ReadTracesFile(path string) ([]ptrace.Traces, error) {
	var out []ptrace.Traces
	var u ptrace.JSONUnmarshaler
	err := readJSONLines(path, func(line []byte) error {
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			return fmt.Errorf("decoding traces line: %w", err)
		}
		out = append(out, td)
		return nil
	})
	return out, err
}

// MetricPoint is one data point flattened for assertions.
type MetricPoint struct {
	Resource map[string]any
	Name     string
	Attrs    map[string]any
	Value    float64
	// Time is the point's timestamp.
	Time time.Time
}

// FlattenMetrics lists gauge and sum points (histograms and summaries contribute their count) of every batch.
func FlattenMetrics(batches []pmetric.Metrics) []MetricPoint {
	var out []MetricPoint
	for _, md := range batches {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			res := rms.At(i).Resource().Attributes().AsRaw()
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					add := func(attrs map[string]any, v float64, ts time.Time) {
						out = append(out, MetricPoint{Resource: res, Name: m.Name(), Attrs: attrs, Value: v, Time: ts})
					}
					switch m.Type() {
					case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
						var dps pmetric.NumberDataPointSlice
						if m.Type() == pmetric.MetricTypeSum {
							dps = m.Sum().DataPoints()
						} else {
							dps = m.Gauge().DataPoints()
						}
						for d := 0; d < dps.Len(); d++ {
							dp := dps.At(d)
							v := dp.DoubleValue()
							if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
								v = float64(dp.IntValue())
							}
							add(dp.Attributes().AsRaw(), v, dp.Timestamp().AsTime())
						}
					case pmetric.MetricTypeHistogram:
						dps := m.Histogram().DataPoints()
						for d := 0; d < dps.Len(); d++ {
							add(dps.At(d).Attributes().AsRaw(), float64(dps.At(d).Count()), dps.At(d).Timestamp().AsTime())
						}
					case pmetric.MetricTypeSummary:
						dps := m.Summary().DataPoints()
						for d := 0; d < dps.Len(); d++ {
							add(dps.At(d).Attributes().AsRaw(), float64(dps.At(d).Count()), dps.At(d).Timestamp().AsTime())
						}
					}
				}
			}
		}
	}
	return out
}

// WaitForMetrics re-reads a file exporter's metrics file until match returns true for the points so far, or
// timeout passes. It returns the last points read.
func WaitForMetrics(ctx context.Context, path string, timeout time.Duration, match func([]MetricPoint) bool) ([]MetricPoint, error) {
	var points []MetricPoint
	var readErr error
	ok := WaitUntil(ctx, timeout, 250*time.Millisecond, func() bool {
		batches, err := ReadMetricsFile(path)
		if err != nil {
			readErr = err
			return false
		}
		points = FlattenMetrics(batches)
		return match(points)
	})
	if !ok {
		if readErr != nil {
			return points, fmt.Errorf("waiting for metrics in %s: %w", path, readErr)
		}
		return points, fmt.Errorf("the metrics in %s did not match within %s (%d points read)", path, timeout, len(points))
	}
	return points, nil
}

// WaitForLogs re-reads a file exporter's logs file until match returns true, or timeout passes.
func WaitForLogs(ctx context.Context, path string, timeout time.Duration, match func([]plog.Logs) bool) ([]plog.Logs, error) {
	var logs []plog.Logs
	var readErr error
	ok := WaitUntil(ctx, timeout, 250*time.Millisecond, func() bool {
		l, err := ReadLogsFile(path)
		if err != nil {
			readErr = err
			return false
		}
		logs = l
		return match(logs)
	})
	if !ok {
		if readErr != nil {
			return logs, fmt.Errorf("waiting for logs in %s: %w", path, readErr)
		}
		return logs, fmt.Errorf("the logs in %s did not match within %s", path, timeout)
	}
	return logs, nil
}

// WaitForFiles waits until at least n files match pattern (filepath.Glob syntax, e.g. captures/*.pb.gz) and
// returns them sorted; capture files written by the pprof capture processors are found this way.
func WaitForFiles(ctx context.Context, pattern string, n int, timeout time.Duration) ([]string, error) {
	var matches []string
	var globErr error
	ok := WaitUntil(ctx, timeout, 250*time.Millisecond, func() bool {
		matches, globErr = filepath.Glob(pattern)
		return globErr == nil && len(matches) >= n
	})
	sort.Strings(matches)
	if globErr != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", pattern, globErr)
	}
	if !ok {
		return matches, fmt.Errorf("%d files match %s after %s, want %d", len(matches), pattern, timeout, n)
	}
	return matches, nil
}

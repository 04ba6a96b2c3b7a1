package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// MarshalTraces serializes td as an OTLP ExportTraceServiceRequest.
func MarshalTraces(td ptrace.Traces) ([]byte, error) {
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("marshal OTLP traces: %w", err)
	}
	return b, nil
}

// MarshalMetrics serializes md as an OTLP ExportMetricsServiceRequest.
func MarshalMetrics(md pmetric.Metrics) ([]byte, error) {
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("marshal OTLP metrics: %w", err)
	}
	return b, nil
}

// MarshalLogs serializes ld as an OTLP ExportLogsServiceRequest.
func MarshalLogs(ld plog.Logs) ([]byte, error) {
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("marshal OTLP logs: %w", err)
	}
	return b, nil
}

// NewEnvelope builds an envelope from pdata; a zero-value argument (for example
// ptrace.Traces{}) or one without resources leaves that signal absent.
func NewEnvelope(hdr Header, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs) (*Envelope, error) {
	env := &Envelope{Header: hdr}
	env.Header.FormatVersion = FormatVersion
	var err error
	if td != (ptrace.Traces{}) && td.ResourceSpans().Len() > 0 {
		if env.Traces, err = MarshalTraces(td); err != nil {
			return nil, err
		}
		env.Header.SpanCount = uint64(td.SpanCount())
	}
	if md != (pmetric.Metrics{}) && md.ResourceMetrics().Len() > 0 {
		if env.Metrics, err = MarshalMetrics(md); err != nil {
			return nil, err
		}
		env.Header.DataPointCount = uint64(md.DataPointCount())
	}
	if ld != (plog.Logs{}) && ld.ResourceLogs().Len() > 0 {
		if env.Logs, err = MarshalLogs(ld); err != nil {
			return nil, err
		}
		env.Header.LogRecordCount = uint64(ld.LogRecordCount())
	}
	return env, nil
}

// DecodeTraces decodes the embedded traces. ok is false when the envelope carries none. The
// decoded span count must equal the header's: a mismatch is malformed input. For a
// version-2 envelope the body is decoded once and every call returns the same pdata.
func (e *Envelope) DecodeTraces() (td ptrace.Traces, ok bool, err error) {
	if e.Header.FormatVersion == FormatVersion2 {
		dec, err := e.decodeColumnar()
		if err != nil {
			return td, false, err
		}
		td, ok = dec.traces, dec.mask&sectionTraces != 0
		var got uint64
		if ok {
			got = uint64(td.SpanCount())
		}
		if got != e.Header.SpanCount {
			return td, false, fmt.Errorf("%w: header declares %d spans, payload has %d", ErrMalformed, e.Header.SpanCount, got)
		}
		return td, ok, nil
	}
	if e.Traces == nil {
		if e.Header.SpanCount != 0 {
			return td, false, fmt.Errorf("%w: header declares %d spans but no traces", ErrMalformed, e.Header.SpanCount)
		}
		return td, false, nil
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(e.Traces); err != nil {
		return td, false, fmt.Errorf("%w: OTLP traces: %w", ErrMalformed, err)
	}
	td = req.Traces()
	if got := uint64(td.SpanCount()); got != e.Header.SpanCount {
		return td, false, fmt.Errorf("%w: header declares %d spans, payload has %d", ErrMalformed, e.Header.SpanCount, got)
	}
	return td, true, nil
}

// DecodeMetrics decodes the embedded metrics; see DecodeTraces.
func (e *Envelope) DecodeMetrics() (md pmetric.Metrics, ok bool, err error) {
	if e.Header.FormatVersion == FormatVersion2 {
		dec, err := e.decodeColumnar()
		if err != nil {
			return md, false, err
		}
		md, ok = dec.metrics, dec.mask&sectionMetrics != 0
		var got uint64
		if ok {
			got = uint64(md.DataPointCount())
		}
		if got != e.Header.DataPointCount {
			return md, false, fmt.Errorf("%w: header declares %d data points, payload has %d", ErrMalformed, e.Header.DataPointCount, got)
		}
		return md, ok, nil
	}
	if e.Metrics == nil {
		if e.Header.DataPointCount != 0 {
			return md, false, fmt.Errorf("%w: header declares %d data points but no metrics", ErrMalformed, e.Header.DataPointCount)
		}
		return md, false, nil
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(e.Metrics); err != nil {
		return md, false, fmt.Errorf("%w: OTLP metrics: %w", ErrMalformed, err)
	}
	md = req.Metrics()
	if got := uint64(md.DataPointCount()); got != e.Header.DataPointCount {
		return md, false, fmt.Errorf("%w: header declares %d data points, payload has %d", ErrMalformed, e.Header.DataPointCount, got)
	}
	return md, true, nil
}

// DecodeLogs decodes the embedded logs; see DecodeTraces.
func (e *Envelope) DecodeLogs() (ld plog.Logs, ok bool, err error) {
	if e.Header.FormatVersion == FormatVersion2 {
		dec, err := e.decodeColumnar()
		if err != nil {
			return ld, false, err
		}
		ld, ok = dec.logs, dec.mask&sectionLogs != 0
		var got uint64
		if ok {
			got = uint64(ld.LogRecordCount())
		}
		if got != e.Header.LogRecordCount {
			return ld, false, fmt.Errorf("%w: header declares %d log records, payload has %d", ErrMalformed, e.Header.LogRecordCount, got)
		}
		return ld, ok, nil
	}
	if e.Logs == nil {
		if e.Header.LogRecordCount != 0 {
			return ld, false, fmt.Errorf("%w: header declares %d log records but no logs", ErrMalformed, e.Header.LogRecordCount)
		}
		return ld, false, nil
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(e.Logs); err != nil {
		return ld, false, fmt.Errorf("%w: OTLP logs: %w", ErrMalformed, err)
	}
	ld = req.Logs()
	if got := uint64(ld.LogRecordCount()); got != e.Header.LogRecordCount {
		return ld, false, fmt.Errorf("%w: header declares %d log records, payload has %d", ErrMalformed, e.Header.LogRecordCount, got)
	}
	return ld, true, nil
}

package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// FormatVersion is the envelope format version written by this package. A decoder
// rejects envelopes with a different version: a new version is only introduced for
// changes an older decoder cannot safely ignore (new optional fields do not need one).
const FormatVersion uint32 = 1

// MaxSenderIDLength bounds the sender id so a hostile peer cannot make the
// duplicate-suppression state grow through long keys.
const MaxSenderIDLength = 256

// Field numbers of the Envelope message (see otlptx.proto).
const (
	envelopeFieldHeader  protowire.Number = 1
	envelopeFieldTraces  protowire.Number = 2
	envelopeFieldMetrics protowire.Number = 3
	envelopeFieldLogs    protowire.Number = 4
	// envelopeFieldColumnar holds the version-2 columnar body (FormatVersion2).
	envelopeFieldColumnar protowire.Number = 5
)

// Field numbers of the Header message (see otlptx.proto).
const (
	headerFieldFormatVersion   protowire.Number = 1
	headerFieldSenderID        protowire.Number = 2
	headerFieldSequence        protowire.Number = 3
	headerFieldCreatedUnixNano protowire.Number = 4
	headerFieldSpanCount       protowire.Number = 5
	headerFieldDataPointCount  protowire.Number = 6
	headerFieldLogRecordCount  protowire.Number = 7
)

// ErrMalformed is wrapped by every decoding error caused by the input bytes (as opposed
// to limits): a receiver answers it with 400 Bad Request and the sender does not retry.
var ErrMalformed = errors.New("malformed OTLP-TX envelope")

// Header describes one envelope.
type Header struct {
	// FormatVersion is FormatVersion for envelopes written by this package.
	FormatVersion uint32
	// SenderID identifies the sending exporter instance; with Sequence it is the
	// duplicate-suppression key. It must stay the same across restarts of a sender that
	// re-sends persisted batches.
	SenderID string
	// Sequence is the batch sequence number, unique per SenderID, assigned before the
	// batch is persisted by the sender.
	Sequence uint64
	// CreatedUnixNano is when the batch was closed by the sender.
	CreatedUnixNano uint64
	// SpanCount, DataPointCount and LogRecordCount are the item counts of the embedded
	// requests (spans, metric data points, log records).
	SpanCount      uint64
	DataPointCount uint64
	LogRecordCount uint64
}

// ItemCount is the total number of items the header declares.
func (h Header) ItemCount() uint64 {
	return h.SpanCount + h.DataPointCount + h.LogRecordCount
}

// Envelope is one OTLP-TX batch. Traces, Metrics and Logs hold serialized OTLP
// ExportTraceServiceRequest, ExportMetricsServiceRequest and ExportLogsServiceRequest
// messages; nil means the signal is absent. Because these messages only hold a repeated
// field, the concatenation of two serialized requests is a valid request holding both:
// the exporter batches by appending.
//
// A version-2 envelope (Header.FormatVersion == FormatVersion2) carries Columnar instead:
// the columnar body of all three signals (see v2.go); its Decode* methods build pdata from
// it directly, once (an Envelope is not safe for concurrent use).
type Envelope struct {
	Header   Header
	Traces   []byte
	Metrics  []byte
	Logs     []byte
	Columnar []byte

	// decoded caches the pdata of Columnar: the three Decode* calls decode the body once.
	decoded   *decodedSignals
	decodeErr error
}

// MarshalledSize returns the exact length of AppendMarshal's output.
func (e *Envelope) MarshalledSize() int {
	n := sizeBytesField(envelopeFieldHeader, e.Header.size())
	for _, payload := range [][]byte{e.Traces, e.Metrics, e.Logs, e.Columnar} {
		if payload != nil {
			n += sizeBytesField(0, len(payload))
		}
	}
	return n
}

func sizeBytesField(_ protowire.Number, length int) int {
	// All field numbers used here are < 16, so every tag is one byte.
	return 1 + protowire.SizeVarint(uint64(length)) + length
}

func (h *Header) size() int {
	n := 0
	addVarint := func(v uint64) {
		if v != 0 {
			n += 1 + protowire.SizeVarint(v)
		}
	}
	addVarint(uint64(h.FormatVersion))
	if h.SenderID != "" {
		n += sizeBytesField(0, len(h.SenderID))
	}
	addVarint(h.Sequence)
	if h.CreatedUnixNano != 0 {
		n += 1 + 8
	}
	addVarint(h.SpanCount)
	addVarint(h.DataPointCount)
	addVarint(h.LogRecordCount)
	return n
}

func (h *Header) appendTo(b []byte) []byte {
	appendVarint := func(num protowire.Number, v uint64) {
		if v != 0 {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		}
	}
	appendVarint(headerFieldFormatVersion, uint64(h.FormatVersion))
	if h.SenderID != "" {
		b = protowire.AppendTag(b, headerFieldSenderID, protowire.BytesType)
		b = protowire.AppendString(b, h.SenderID)
	}
	appendVarint(headerFieldSequence, h.Sequence)
	if h.CreatedUnixNano != 0 {
		b = protowire.AppendTag(b, headerFieldCreatedUnixNano, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, h.CreatedUnixNano)
	}
	appendVarint(headerFieldSpanCount, h.SpanCount)
	appendVarint(headerFieldDataPointCount, h.DataPointCount)
	appendVarint(headerFieldLogRecordCount, h.LogRecordCount)
	return b
}

// AppendMarshal appends the protobuf encoding of the envelope to b. Fields are written in
// field-number order, so the output is deterministic (golden bytes are checked by tests).
func (e *Envelope) AppendMarshal(b []byte) []byte {
	b = protowire.AppendTag(b, envelopeFieldHeader, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(e.Header.size()))
	b = e.Header.appendTo(b)
	for _, f := range []struct {
		num     protowire.Number
		payload []byte
	}{
		{envelopeFieldTraces, e.Traces},
		{envelopeFieldMetrics, e.Metrics},
		{envelopeFieldLogs, e.Logs},
		{envelopeFieldColumnar, e.Columnar},
	} {
		if f.payload != nil {
			b = protowire.AppendTag(b, f.num, protowire.BytesType)
			b = protowire.AppendBytes(b, f.payload)
		}
	}
	return b
}

// Marshal returns the protobuf encoding of the envelope.
func (e *Envelope) Marshal() []byte {
	return e.AppendMarshal(make([]byte, 0, e.MarshalledSize()))
}

// Unmarshal decodes an uncompressed envelope. The payload slices alias data. Unknown
// fields are skipped (forward compatibility); a missing header, a format version other
// than FormatVersion or FormatVersion2, a repeated singular field with conflicting wire types, or truncated
// input are errors wrapping ErrMalformed. It never panics on any input.
func Unmarshal(data []byte) (*Envelope, error) {
	env := &Envelope{}
	sawHeader := false
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil, fmt.Errorf("%w: envelope tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		data = data[n:]
		switch num {
		case envelopeFieldHeader, envelopeFieldTraces, envelopeFieldMetrics, envelopeFieldLogs, envelopeFieldColumnar:
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("%w: envelope field %d has wire type %d, want length-delimited", ErrMalformed, num, typ)
			}
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return nil, fmt.Errorf("%w: envelope field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			data = data[m:]
			if v == nil {
				v = []byte{}
			}
			switch num {
			case envelopeFieldHeader:
				// Protobuf merges repeated embedded messages; a header is sent once,
				// so a second one is rejected rather than merged.
				if sawHeader {
					return nil, fmt.Errorf("%w: header repeated", ErrMalformed)
				}
				sawHeader = true
				if err := env.Header.unmarshal(v); err != nil {
					return nil, err
				}
			case envelopeFieldTraces:
				env.Traces = appendPayload(env.Traces, v)
			case envelopeFieldMetrics:
				env.Metrics = appendPayload(env.Metrics, v)
			case envelopeFieldLogs:
				env.Logs = appendPayload(env.Logs, v)
			case envelopeFieldColumnar:
				// A columnar body is not a protobuf message: it cannot be merged.
				if env.Columnar != nil {
					return nil, fmt.Errorf("%w: columnar body repeated", ErrMalformed)
				}
				env.Columnar = v
			}
		default:
			m := protowire.ConsumeFieldValue(num, typ, data)
			if m < 0 {
				return nil, fmt.Errorf("%w: unknown envelope field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			data = data[m:]
		}
	}
	if !sawHeader {
		return nil, fmt.Errorf("%w: header missing", ErrMalformed)
	}
	switch env.Header.FormatVersion {
	case FormatVersion:
		if env.Columnar != nil {
			return nil, fmt.Errorf("%w: version-1 envelope with a columnar body", ErrMalformed)
		}
	case FormatVersion2:
		if env.Columnar == nil || env.Traces != nil || env.Metrics != nil || env.Logs != nil {
			return nil, fmt.Errorf("%w: a version-2 envelope carries exactly a columnar body", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: format version %d, this decoder reads versions %d and %d", ErrMalformed, env.Header.FormatVersion, FormatVersion, FormatVersion2)
	}
	return env, nil
}

// appendPayload merges a repeated occurrence of an embedded message field the way
// protobuf does (concatenation), copying so the result never aliases two inputs.
func appendPayload(existing, v []byte) []byte {
	if existing == nil {
		return v
	}
	merged := make([]byte, 0, len(existing)+len(v))
	return append(append(merged, existing...), v...)
}

func (h *Header) unmarshal(data []byte) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%w: header tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		data = data[n:]
		wantType := protowire.VarintType
		switch num {
		case headerFieldSenderID:
			wantType = protowire.BytesType
		case headerFieldCreatedUnixNano:
			wantType = protowire.Fixed64Type
		case headerFieldFormatVersion, headerFieldSequence, headerFieldSpanCount,
			headerFieldDataPointCount, headerFieldLogRecordCount:
		default:
			m := protowire.ConsumeFieldValue(num, typ, data)
			if m < 0 {
				return fmt.Errorf("%w: unknown header field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			data = data[m:]
			continue
		}
		if typ != wantType {
			return fmt.Errorf("%w: header field %d has wire type %d, want %d", ErrMalformed, num, typ, wantType)
		}
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return fmt.Errorf("%w: header field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			if len(v) > MaxSenderIDLength {
				return fmt.Errorf("%w: sender id is %d bytes, limit %d", ErrMalformed, len(v), MaxSenderIDLength)
			}
			h.SenderID = string(v)
			data = data[m:]
		case protowire.Fixed64Type:
			v, m := protowire.ConsumeFixed64(data)
			if m < 0 {
				return fmt.Errorf("%w: header field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			h.CreatedUnixNano = v
			data = data[m:]
		default:
			v, m := protowire.ConsumeVarint(data)
			if m < 0 {
				return fmt.Errorf("%w: header field %d: %w", ErrMalformed, num, protowire.ParseError(m))
			}
			data = data[m:]
			switch num {
			case headerFieldFormatVersion:
				if v > 1<<32-1 {
					return fmt.Errorf("%w: format version %d overflows uint32", ErrMalformed, v)
				}
				h.FormatVersion = uint32(v)
			case headerFieldSequence:
				h.Sequence = v
			case headerFieldSpanCount:
				h.SpanCount = v
			case headerFieldDataPointCount:
				h.DataPointCount = v
			case headerFieldLogRecordCount:
				h.LogRecordCount = v
			}
		}
	}
	return nil
}

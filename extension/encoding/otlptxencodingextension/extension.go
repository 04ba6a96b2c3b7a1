package otlptxencodingextension // import "github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension"

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

var (
	_ ptrace.Marshaler    = (*encodingExtension)(nil)
	_ ptrace.Unmarshaler  = (*encodingExtension)(nil)
	_ pmetric.Marshaler   = (*encodingExtension)(nil)
	_ pmetric.Unmarshaler = (*encodingExtension)(nil)
	_ plog.Marshaler      = (*encodingExtension)(nil)
	_ plog.Unmarshaler    = (*encodingExtension)(nil)
)

// encodingExtension writes one envelope per Marshal call, carrying that call's signal.
type encodingExtension struct {
	cfg      *Config
	codec    *otlptx.Codec
	sequence atomic.Uint64
}

func newExtension(cfg *Config) (*encodingExtension, error) {
	codec, err := otlptx.NewCodec(cfg.MaxDecodedSize)
	if err != nil {
		return nil, err
	}
	return &encodingExtension{cfg: cfg, codec: codec}, nil
}

func (e *encodingExtension) Start(context.Context, component.Host) error { return nil }

func (e *encodingExtension) Shutdown(context.Context) error {
	e.codec.Close()
	return nil
}

func (e *encodingExtension) header() otlptx.Header {
	return otlptx.Header{
		SenderID:        e.cfg.SenderID,
		Sequence:        e.sequence.Add(1),
		CreatedUnixNano: uint64(time.Now().UnixNano()),
	}
}

func (e *encodingExtension) encode(env *otlptx.Envelope) ([]byte, error) {
	buf, err := e.codec.Encode(env, e.cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("encode OTLP-TX envelope: %w", err)
	}
	return buf, nil
}

func (e *encodingExtension) decode(buf []byte) (*otlptx.Envelope, error) {
	env, err := e.codec.Decode(buf, e.cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("decode OTLP-TX envelope: %w", err)
	}
	return env, nil
}

// MarshalTraces implements ptrace.Marshaler.
func (e *encodingExtension) MarshalTraces(td ptrace.Traces) ([]byte, error) {
	if e.cfg.FormatVersion == int(otlptx.FormatVersion2) {
		env, err := otlptx.NewEnvelopeV2(e.header(), td, pmetric.Metrics{}, plog.Logs{})
		if err != nil {
			return nil, err
		}
		return e.encode(env)
	}
	env, err := otlptx.NewEnvelope(e.header(), td, pmetric.Metrics{}, plog.Logs{})
	if err != nil {
		return nil, err
	}
	if env.Traces == nil {
		env.Traces = []byte{} // keep the signal present even when empty
	}
	return e.encode(env)
}

// MarshalMetrics implements pmetric.Marshaler.
func (e *encodingExtension) MarshalMetrics(md pmetric.Metrics) ([]byte, error) {
	if e.cfg.FormatVersion == int(otlptx.FormatVersion2) {
		env, err := otlptx.NewEnvelopeV2(e.header(), ptrace.Traces{}, md, plog.Logs{})
		if err != nil {
			return nil, err
		}
		return e.encode(env)
	}
	env, err := otlptx.NewEnvelope(e.header(), ptrace.Traces{}, md, plog.Logs{})
	if err != nil {
		return nil, err
	}
	if env.Metrics == nil {
		env.Metrics = []byte{}
	}
	return e.encode(env)
}

// MarshalLogs implements plog.Marshaler.
func (e *encodingExtension) MarshalLogs(ld plog.Logs) ([]byte, error) {
	if e.cfg.FormatVersion == int(otlptx.FormatVersion2) {
		env, err := otlptx.NewEnvelopeV2(e.header(), ptrace.Traces{}, pmetric.Metrics{}, ld)
		if err != nil {
			return nil, err
		}
		return e.encode(env)
	}
	env, err := otlptx.NewEnvelope(e.header(), ptrace.Traces{}, pmetric.Metrics{}, ld)
	if err != nil {
		return nil, err
	}
	if env.Logs == nil {
		env.Logs = []byte{}
	}
	return e.encode(env)
}

// UnmarshalTraces implements ptrace.Unmarshaler: the envelope's traces (empty when it
// carries none).
func (e *encodingExtension) UnmarshalTraces(buf []byte) (ptrace.Traces, error) {
	env, err := e.decode(buf)
	if err != nil {
		return ptrace.Traces{}, err
	}
	td, ok, err := env.DecodeTraces()
	if err != nil {
		return ptrace.Traces{}, err
	}
	if !ok {
		return ptrace.NewTraces(), nil
	}
	return td, nil
}

// UnmarshalMetrics implements pmetric.Unmarshaler.
func (e *encodingExtension) UnmarshalMetrics(buf []byte) (pmetric.Metrics, error) {
	env, err := e.decode(buf)
	if err != nil {
		return pmetric.Metrics{}, err
	}
	md, ok, err := env.DecodeMetrics()
	if err != nil {
		return pmetric.Metrics{}, err
	}
	if !ok {
		return pmetric.NewMetrics(), nil
	}
	return md, nil
}

// UnmarshalLogs implements plog.Unmarshaler.
func (e *encodingExtension) UnmarshalLogs(buf []byte) (plog.Logs, error) {
	env, err := e.decode(buf)
	if err != nil {
		return plog.Logs{}, err
	}
	ld, ok, err := env.DecodeLogs()
	if err != nil {
		return plog.Logs{}, err
	}
	if !ok {
		return plog.NewLogs(), nil
	}
	return ld, nil
}

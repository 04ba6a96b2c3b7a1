package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// OTLPTXSenderFactory returns a factory of OTLP-TX senders of format version 2 (the protocol's default); compression
// is as for NewOTLPTXSender.
func OTLPTXSenderFactory(compression string) SenderFactory {
	return OTLPTXVersionSenderFactory(otlptx.FormatVersion2, compression)
}

// OTLPTXVersionSenderFactory returns a factory of OTLP-TX senders of format version (otlptx.FormatVersion or
// otlptx.FormatVersion2); compression is as for NewOTLPTXVersionSender.
func OTLPTXVersionSenderFactory(version uint32, compression string) SenderFactory {
	return func(endpoint string) (Sender, error) { return NewOTLPTXVersionSender(endpoint, version, compression) }
}

type otlptxSender struct {
	name        string
	url         string
	senderID    string
	version     uint32
	compression otlptx.Compression
	contentType string
	codec       *otlptx.Codec
	client      *http.Client
	wire        atomic.Int64
}

// NewOTLPTXSender returns an OTLP-TX client of format version 2 (the columnar envelope, otlptx.MediaTypeV2); see
// NewOTLPTXVersionSender.
func NewOTLPTXSender(endpoint, compression string) (Sender, error) {
	return NewOTLPTXVersionSender(endpoint, otlptx.FormatVersion2, compression)
}

// NewOTLPTXVersionSender returns an OTLP-TX client of format version (otlptx.FormatVersion2, the default of the
// protocol, or otlptx.FormatVersion) posting to http://<endpoint>/v1/otlptx. compression is "" (s2 for version 2,
// snappy for version 1, the protocol's defaults), "snappy" (s2 for version 2, as the otlptx exporter's
// `compression: snappy`), "s2" (snappy for version 1), "zstd" or "none". Its sender id is random and fixed for
// the sender's life. A batch's sequence is derived from its first id (source and position in the source's
// stream), so it increases with generation order and stays the same when the load generator retries the batch:
// the receiver's duplicate suppression then acknowledges a retry whose first attempt was accepted (its answer
// lost to a timeout or a crash) without forwarding it twice.
func NewOTLPTXVersionSender(endpoint string, version uint32, compression string) (Sender, error) {
	if err := mustLoopback(endpoint); err != nil {
		return nil, err
	}
	comp := otlptx.Compression(compression)
	if compression == "" {
		comp = otlptx.CompressionSnappy
	}
	if err := comp.Validate(); err != nil {
		return nil, fmt.Errorf("OTLP-TX sender: %w", err)
	}
	var name, contentType string
	switch version {
	case otlptx.FormatVersion2:
		if comp == otlptx.CompressionSnappy {
			comp = otlptx.CompressionS2
		}
		name, contentType = "otlp-tx-v2+"+string(comp), otlptx.MediaTypeV2
	case otlptx.FormatVersion:
		comp = otlptx.V1Compression(comp)
		name, contentType = "otlp-tx+"+string(comp), otlptx.ContentType(comp)
	default:
		return nil, fmt.Errorf("OTLP-TX sender: format version %d, use %d or %d", version, otlptx.FormatVersion2, otlptx.FormatVersion)
	}
	var idBytes [8]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return nil, fmt.Errorf("OTLP-TX sender id: %w", err)
	}
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		return nil, err
	}
	return &otlptxSender{
		name:        name,
		url:         "http://" + endpoint + otlptx.Path,
		senderID:    "testbed-" + hex.EncodeToString(idBytes[:]),
		version:     version,
		compression: comp,
		contentType: contentType,
		codec:       codec,
		client: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}, nil
}

func (s *otlptxSender) Name() string     { return s.name }
func (s *otlptxSender) WireBytes() int64 { return s.wire.Load() }
func (s *otlptxSender) Close() error {
	s.client.CloseIdleConnections()
	s.codec.Close()
	return nil
}

func (s *otlptxSender) Send(ctx context.Context, b Batch) error {
	if b.Len() == 0 {
		return nil
	}
	hdr := otlptx.Header{
		SenderID:        s.senderID,
		Sequence:        uint64(b.IDs[0]) + 1, // ids are >= 0; sequence 0 is avoided as "unset"
		CreatedUnixNano: uint64(time.Now().UnixNano()),
	}
	var td ptrace.Traces
	var md pmetric.Metrics
	var ld plog.Logs
	switch b.Signal {
	case Traces:
		td = b.Traces
	case Metrics:
		md = b.Metrics
	case Logs:
		ld = b.Logs
	}
	var env *otlptx.Envelope
	var err error
	if s.version == otlptx.FormatVersion2 {
		env, err = otlptx.NewEnvelopeV2(hdr, td, md, ld)
	} else {
		env, err = otlptx.NewEnvelope(hdr, td, md, ld)
	}
	if err != nil {
		return fmt.Errorf("building OTLP-TX envelope: %w", err)
	}
	body, err := s.codec.Encode(env, s.compression)
	if err != nil {
		return fmt.Errorf("encoding OTLP-TX envelope: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", s.contentType)
	req.Header.Set(otlptx.HeaderSenderID, s.senderID)
	req.Header.Set(otlptx.HeaderSequence, strconv.FormatUint(hdr.Sequence, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return &SendError{Retryable: true, Code: "conn", Err: err}
	}
	defer resp.Body.Close()
	s.wire.Add(int64(len(body)))
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &SendError{Retryable: true, Code: "conn", Err: fmt.Errorf("reading response: %w", err)}
	}
	answer, decodeErr := otlptx.UnmarshalResponse(respBody)
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &SendError{Retryable: true, Code: strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("HTTP %s: %s", resp.Status, responseMessage(answer))}
	default:
		return &SendError{Code: strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("HTTP %s: %s", resp.Status, responseMessage(answer))}
	}
	if decodeErr != nil {
		return &SendError{Code: "response", Err: fmt.Errorf("decoding OTLP-TX response: %w", decodeErr)}
	}
	result := map[Signal]otlptx.SignalResult{Traces: answer.Traces, Metrics: answer.Metrics, Logs: answer.Logs}[b.Signal]
	if result.Rejected > 0 || result.Accepted != uint64(b.Len()) {
		return &SendError{Code: "partial", Err: fmt.Errorf("%w: accepted %d, rejected %d of %d: %s",
			errPartialSuccess, result.Accepted, result.Rejected, b.Len(), result.ErrorMessage)}
	}
	return nil
}

func responseMessage(r *otlptx.Response) string {
	if r == nil {
		return "(undecodable response)"
	}
	return r.Message
}

package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"fmt"
	"mime"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// HTTP transport of OTLP-TX (see docs/otlptx-wire-format.md).
const (
	// Path is the URL path the receiver serves and the exporter posts to.
	Path = "/v1/otlptx"
	// MediaType is the media type of request and response bodies. The request's
	// Content-Type carries the compression as a parameter, for example
	// "application/x-otlptx+protobuf; compression=snappy". Compression is a media type
	// parameter rather than Content-Encoding so that HTTP middleware does not decompress
	// the body without the decoded-size check of Codec.Decompress.
	MediaType = "application/x-otlptx+protobuf"
	// MediaTypeV2 is the media type of version-2 request bodies (FormatVersion2). It is
	// a media type of its own, not a parameter of MediaType, because version-1 receivers
	// ignore unknown parameters but answer any other media type with 415 Unsupported
	// Media Type, which the exporter recognises to fall back to version 1. The body names
	// its compression itself (see IsV2Body), so the type has no parameters.
	MediaTypeV2 = "application/x-otlptx-v2"
	// HeaderSenderID and HeaderSequence repeat the envelope's sender id and sequence on
	// the request so proxies and logs can identify a batch without decoding it.
	HeaderSenderID = "Otlptx-Sender-Id"
	HeaderSequence = "Otlptx-Sequence"
)

// ContentType returns the Content-Type of a request compressed with comp.
func ContentType(comp Compression) string {
	return MediaType + "; compression=" + string(comp)
}

// ParseContentType returns the compression declared by a request's Content-Type. A
// missing compression parameter means CompressionNone. An error means 415 Unsupported
// Media Type.
func ParseContentType(contentType string) (Compression, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", contentType, err)
	}
	if mediaType != MediaType {
		return "", fmt.Errorf("content type %q is not %q", mediaType, MediaType)
	}
	comp, found := params["compression"]
	if !found {
		return CompressionNone, nil
	}
	c := Compression(strings.ToLower(comp))
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c, nil
}

// ParseRequestContentType returns the format version and compression of a request from
// its Content-Type: MediaType (version 1, compression parameter as in ParseContentType)
// or MediaTypeV2 (version 2; the compression is read from the body). An error means 415
// Unsupported Media Type.
func ParseRequestContentType(contentType string) (version uint32, comp Compression, err error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, "", fmt.Errorf("content type %q: %w", contentType, err)
	}
	if mediaType == MediaTypeV2 {
		return FormatVersion2, "", nil
	}
	comp, err = ParseContentType(contentType)
	if err != nil {
		return 0, "", fmt.Errorf("%w (or %q for version 2)", err, MediaTypeV2)
	}
	return FormatVersion, comp, nil
}

// SignalResult is the outcome of one signal of an envelope at the receiver.
type SignalResult struct {
	// Accepted items were forwarded to the signal's pipelines (or had been before, for
	// a duplicate).
	Accepted uint64
	// Rejected items will never be accepted (no pipeline for the signal, or the
	// pipeline refused them permanently); the sender must not retry them.
	Rejected uint64
	// ErrorMessage explains a rejection.
	ErrorMessage string
}

// Response is the body of every receiver answer (status 200 and errors alike).
type Response struct {
	Traces  SignalResult
	Metrics SignalResult
	Logs    SignalResult
	// Duplicate is true when the batch (sender id, sequence) had already been accepted;
	// nothing was forwarded again.
	Duplicate bool
	// Message explains an error status.
	Message string
}

// Field numbers of ExportResponse and SignalResult (see otlptx.proto).
const (
	responseFieldTraces    protowire.Number = 1
	responseFieldMetrics   protowire.Number = 2
	responseFieldLogs      protowire.Number = 3
	responseFieldDuplicate protowire.Number = 4
	responseFieldMessage   protowire.Number = 5

	resultFieldAccepted     protowire.Number = 1
	resultFieldRejected     protowire.Number = 2
	resultFieldErrorMessage protowire.Number = 3
)

func (r *SignalResult) appendTo(b []byte) []byte {
	if r.Accepted != 0 {
		b = protowire.AppendTag(b, resultFieldAccepted, protowire.VarintType)
		b = protowire.AppendVarint(b, r.Accepted)
	}
	if r.Rejected != 0 {
		b = protowire.AppendTag(b, resultFieldRejected, protowire.VarintType)
		b = protowire.AppendVarint(b, r.Rejected)
	}
	if r.ErrorMessage != "" {
		b = protowire.AppendTag(b, resultFieldErrorMessage, protowire.BytesType)
		b = protowire.AppendString(b, r.ErrorMessage)
	}
	return b
}

// Marshal returns the protobuf encoding of the response.
func (r *Response) Marshal() []byte {
	var b []byte
	for _, f := range []struct {
		num protowire.Number
		res *SignalResult
	}{{responseFieldTraces, &r.Traces}, {responseFieldMetrics, &r.Metrics}, {responseFieldLogs, &r.Logs}} {
		if *f.res == (SignalResult{}) {
			continue
		}
		b = protowire.AppendTag(b, f.num, protowire.BytesType)
		b = protowire.AppendBytes(b, f.res.appendTo(nil))
	}
	if r.Duplicate {
		b = protowire.AppendTag(b, responseFieldDuplicate, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if r.Message != "" {
		b = protowire.AppendTag(b, responseFieldMessage, protowire.BytesType)
		b = protowire.AppendString(b, r.Message)
	}
	return b
}

// UnmarshalResponse decodes a receiver response. Unknown fields are skipped.
func UnmarshalResponse(data []byte) (*Response, error) {
	r := &Response{}
	err := walkFields(data, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == responseFieldTraces && typ == protowire.BytesType:
			return r.Traces.unmarshal(v)
		case num == responseFieldMetrics && typ == protowire.BytesType:
			return r.Metrics.unmarshal(v)
		case num == responseFieldLogs && typ == protowire.BytesType:
			return r.Logs.unmarshal(v)
		case num == responseFieldDuplicate && typ == protowire.VarintType:
			r.Duplicate = x != 0
		case num == responseFieldMessage && typ == protowire.BytesType:
			r.Message = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *SignalResult) unmarshal(data []byte) error {
	return walkFields(data, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == resultFieldAccepted && typ == protowire.VarintType:
			r.Accepted = x
		case num == resultFieldRejected && typ == protowire.VarintType:
			r.Rejected = x
		case num == resultFieldErrorMessage && typ == protowire.BytesType:
			r.ErrorMessage = string(v)
		}
		return nil
	})
}

// walkFields calls fn for every field of a message: v for length-delimited values, x for
// varints. Other wire types are skipped.
func walkFields(data []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		data = data[n:]
		var v []byte
		var x uint64
		var m int
		switch typ {
		case protowire.BytesType:
			v, m = protowire.ConsumeBytes(data)
		case protowire.VarintType:
			x, m = protowire.ConsumeVarint(data)
		default:
			m = protowire.ConsumeFieldValue(num, typ, data)
		}
		if m < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(m))
		}
		data = data[m:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression names how an envelope is compressed on the wire.
type Compression string

const (
	// CompressionSnappy is the snappy block format (no framing), the default.
	CompressionSnappy Compression = "snappy"
	// CompressionZstd is a single zstd frame.
	CompressionZstd Compression = "zstd"
	// CompressionNone sends the envelope as is.
	CompressionNone Compression = "none"
)

// DefaultMaxDecodedSize bounds the decompressed envelope when the user sets no limit.
const DefaultMaxDecodedSize = 20 << 20

// ErrTooLarge is wrapped when an envelope (compressed or decoded) exceeds the limit: a
// receiver answers it with 413 Request Entity Too Large.
var ErrTooLarge = errors.New("OTLP-TX envelope too large")

// Validate reports whether c is a known compression.
func (c Compression) Validate() error {
	switch c {
	case CompressionSnappy, CompressionZstd, CompressionNone, CompressionS2:
		return nil
	}
	return fmt.Errorf("unknown compression %q, use %q, %q, %q or %q", string(c), CompressionSnappy, CompressionS2, CompressionZstd, CompressionNone)
}

// Codec compresses and decompresses envelopes. It is safe for concurrent use, and runs
// up to GOMAXPROCS zstd encodes and as many decodes in parallel (EncodeAll and DecodeAll
// take one of that many internal states each); snappy and s2 are stateless. Close releases
// the zstd encoder and decoder.
type Codec struct {
	maxDecodedSize int
	zstdEncoder    *zstd.Encoder
	zstdDecoder    *zstd.Decoder
}

// NewCodec returns a Codec that refuses to decode envelopes larger than maxDecodedSize
// bytes (DefaultMaxDecodedSize when <= 0).
func NewCodec(maxDecodedSize int) (*Codec, error) {
	if maxDecodedSize <= 0 {
		maxDecodedSize = DefaultMaxDecodedSize
	}
	parallel := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(parallel),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("create zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(parallel),
		zstd.WithDecoderMaxMemory(uint64(maxDecodedSize)),
		zstd.WithDecoderMaxWindow(uint64(max(maxDecodedSize, zstd.MinWindowSize))))
	if err != nil {
		_ = enc.Close()
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return &Codec{maxDecodedSize: maxDecodedSize, zstdEncoder: enc, zstdDecoder: dec}, nil
}

// MaxDecodedSize is the decoded-size limit of the codec.
func (c *Codec) MaxDecodedSize() int { return c.maxDecodedSize }

// Close releases the codec's resources.
func (c *Codec) Close() {
	_ = c.zstdEncoder.Close()
	c.zstdDecoder.Close()
}

// Compress appends the compressed form of src to dst.
func (c *Codec) Compress(dst, src []byte, comp Compression) ([]byte, error) {
	switch comp {
	case CompressionSnappy:
		return appendSnappy(dst, src), nil
	case CompressionS2:
		return appendS2(dst, src), nil
	case CompressionZstd:
		return c.zstdEncoder.EncodeAll(src, dst), nil
	case CompressionNone:
		return append(dst, src...), nil
	}
	return nil, comp.Validate()
}

// appendSnappy encodes with s2's snappy-compatible mode: the output is a standard snappy
// block that golang/snappy decodes, and BenchmarkSnappyEncoders measured it as the
// fastest snappy-compatible encoder (see the exporter README).
func appendSnappy(dst, src []byte) []byte {
	need := s2.MaxEncodedLen(len(src))
	if need < 0 {
		// Input larger than snappy can represent; callers bound batches far below this.
		need = len(src) + len(src)/6 + 32
	}
	out := make([]byte, need)
	enc := s2.EncodeSnappy(out, src)
	if dst == nil {
		return enc
	}
	return append(dst, enc...)
}

// Decompress returns the decompressed form of src. The declared decoded length (snappy
// preamble, zstd frame content size) is checked against the limit before any buffer is
// allocated, and a zstd frame without a declared size is cut off at the limit, so a
// decompression bomb costs at most the limit in memory. Errors wrap ErrTooLarge or
// ErrMalformed.
func (c *Codec) Decompress(src []byte, comp Compression) ([]byte, error) {
	switch comp {
	case CompressionNone:
		if len(src) > c.maxDecodedSize {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(src), c.maxDecodedSize)
		}
		return src, nil
	case CompressionSnappy, CompressionS2:
		// s2.Decode reads snappy blocks too, so one decoder serves both.
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s length preamble: %w", ErrMalformed, comp, err)
		}
		if n > c.maxDecodedSize {
			return nil, fmt.Errorf("%w: %s block declares %d decoded bytes, limit %d", ErrTooLarge, comp, n, c.maxDecodedSize)
		}
		out, err := s2.Decode(make([]byte, n), src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, comp, err)
		}
		return out, nil
	case CompressionZstd:
		var hdr zstd.Header
		if err := hdr.Decode(src); err != nil {
			return nil, fmt.Errorf("%w: zstd frame header: %w", ErrMalformed, err)
		}
		if hdr.HasFCS && hdr.FrameContentSize > uint64(c.maxDecodedSize) {
			return nil, fmt.Errorf("%w: zstd frame declares %d decoded bytes, limit %d", ErrTooLarge, hdr.FrameContentSize, c.maxDecodedSize)
		}
		out, err := c.zstdDecoder.DecodeAll(src, nil)
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
				return nil, fmt.Errorf("%w: zstd: %w", ErrTooLarge, err)
			}
			return nil, fmt.Errorf("%w: zstd: %w", ErrMalformed, err)
		}
		if len(out) > c.maxDecodedSize {
			return nil, fmt.Errorf("%w: zstd decoded %d bytes, limit %d", ErrTooLarge, len(out), c.maxDecodedSize)
		}
		return out, nil
	}
	return nil, comp.Validate()
}

// Encode marshals and compresses env; a version-2 envelope is written by EncodeV2.
func (c *Codec) Encode(env *Envelope, comp Compression) ([]byte, error) {
	if env.Header.FormatVersion == FormatVersion2 {
		return c.EncodeV2(env, comp)
	}
	raw := env.Marshal()
	if comp == CompressionNone {
		return raw, nil
	}
	return c.Compress(nil, raw, comp)
}

// Decode decompresses and unmarshals one envelope of either version. A version-2 body
// (IsV2Body) names its own compression and comp is ignored. The signals are decoded
// (and checked against the header counts) by DecodeTraces, DecodeMetrics and DecodeLogs.
func (c *Codec) Decode(body []byte, comp Compression) (*Envelope, error) {
	if IsV2Body(body) {
		return c.decodeV2(body)
	}
	raw, err := c.Decompress(body, comp)
	if err != nil {
		return nil, err
	}
	return Unmarshal(raw)
}

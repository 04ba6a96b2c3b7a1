package otlptx

import (
	"bytes"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSnappyOutputIsStandardSnappy checks that the s2 snappy-compatible encoder produces
// blocks the reference golang/snappy decoder reads.
func TestSnappyOutputIsStandardSnappy(t *testing.T) {
	src := bytes.Repeat([]byte("otlptx snappy compatibility "), 1000)
	enc, err := newTestCodec(t, 0).Compress(nil, src, CompressionSnappy)
	require.NoError(t, err)
	got, err := snappy.Decode(nil, enc)
	require.NoError(t, err)
	assert.Equal(t, src, got)
}

func TestDecompressLimits(t *testing.T) {
	const limit = 64 << 10
	codec := newTestCodec(t, limit)
	big := bytes.Repeat([]byte{0}, 10<<20) // 10 MiB of zeros compresses to a few KiB: a bomb

	zstdNoSize := func() []byte {
		var buf bytes.Buffer
		w, err := zstd.NewWriter(&buf)
		require.NoError(t, err)
		_, err = w.Write(big)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return buf.Bytes()
	}()
	zstdWithSize, err := codec.Compress(nil, big, CompressionZstd)
	require.NoError(t, err)

	tests := []struct {
		name    string
		data    []byte
		comp    Compression
		wantErr error
	}{
		{name: "snappy bomb", data: snappy.Encode(nil, big), comp: CompressionSnappy, wantErr: ErrTooLarge},
		{name: "snappy lying preamble", data: append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0x00), comp: CompressionSnappy, wantErr: ErrTooLarge},
		{name: "snappy truncated", data: snappy.Encode(nil, big[:1000])[:10], comp: CompressionSnappy, wantErr: ErrMalformed},
		{name: "snappy bad preamble", data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, comp: CompressionSnappy, wantErr: ErrMalformed},
		{name: "zstd bomb with declared size", data: zstdWithSize, comp: CompressionZstd, wantErr: ErrTooLarge},
		{name: "zstd bomb without declared size", data: zstdNoSize, comp: CompressionZstd, wantErr: ErrTooLarge},
		{name: "zstd garbage", data: []byte("definitely not zstd"), comp: CompressionZstd, wantErr: ErrMalformed},
		{name: "none too large", data: big[:limit+1], comp: CompressionNone, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.Decompress(tt.data, tt.comp)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}

	for _, comp := range allCompressions {
		small := big[:limit]
		enc, err := codec.Compress(nil, small, comp)
		require.NoError(t, err)
		dec, err := codec.Decompress(enc, comp)
		require.NoError(t, err, comp)
		assert.Equal(t, small, dec)
	}
}

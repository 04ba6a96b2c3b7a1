package otlptx

import (
	"bytes"
	"fmt"
	"sync"
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

// TestCodecConcurrentUse: one codec used by many goroutines at once (the receiver's
// request handlers, the exporter's senders) round-trips every body, for every compression.
func TestCodecConcurrentUse(t *testing.T) {
	codec := newTestCodec(t, 0)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				src := bytes.Repeat([]byte(fmt.Sprintf("goroutine %d body %d ", g, i)), 200+i)
				for _, comp := range []Compression{CompressionZstd, CompressionSnappy, CompressionS2, CompressionNone} {
					enc, err := codec.Compress(nil, src, comp)
					if !assert.NoError(t, err) {
						return
					}
					got, err := codec.Decompress(enc, comp)
					if !assert.NoError(t, err) || !assert.Equal(t, src, got, "%s", comp) {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkZstdParallel measures zstd encode+decode of one codec from GOMAXPROCS
// goroutines; with a codec that serialised them, ns/op would not drop with more cores.
func BenchmarkZstdParallel(b *testing.B) {
	codec, err := NewCodec(0)
	require.NoError(b, err)
	defer codec.Close()
	src := bytes.Repeat([]byte("otlptx zstd parallel benchmark body "), 4000)
	b.SetBytes(int64(len(src)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			enc, err := codec.Compress(nil, src, CompressionZstd)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := codec.Decompress(enc, CompressionZstd); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

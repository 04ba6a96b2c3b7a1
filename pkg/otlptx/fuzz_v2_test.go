package otlptx

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// FuzzDecodeV2 feeds arbitrary bytes to the receiver's decoding of version-2 bodies. It
// must never panic nor allocate past the limits, and whatever decodes must survive a round
// trip: re-encoded and decoded again, it marshals to the same canonical OTLP bytes. Seeds
// are real envelopes, most uncompressed so that mutations reach the columnar format:
//
//	go test ./pkg/otlptx -run '^$' -fuzz '^FuzzDecodeV2$' -fuzztime 60s
func FuzzDecodeV2(f *testing.F) {
	for _, seed := range fuzzSeedsV2(f) {
		f.Add(seed)
	}
	codec, err := NewCodec(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(codec.Close)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := codec.DecodeRequest(data, FormatVersion2, "")
		if err != nil {
			return
		}
		td, md, ld, err := env.decodeAll()
		if err != nil {
			return
		}
		again, err := NewEnvelopeV2(env.Header, td, md, ld)
		if err != nil {
			t.Fatalf("decoded data does not re-encode: %v", err)
		}
		wire, err := codec.Encode(again, CompressionNone)
		if err != nil {
			t.Fatalf("re-encoded envelope does not compress: %v", err)
		}
		got, err := codec.Decode(wire, CompressionNone)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if got.Header != env.Header {
			t.Fatalf("header changed on re-encode: %+v != %+v", got.Header, env.Header)
		}
		requireCanonicalEqual(t, td, md, ld, got)
	})
}

func fuzzSeedsV2(t testing.TB) [][]byte {
	codec := newTestCodec(t, 0)
	gen := otlptxtest.NewGenerator(21)
	type batch struct {
		td ptrace.Traces
		md pmetric.Metrics
		ld plog.Logs
	}
	batches := []batch{
		{gen.Traces(6), gen.Metrics(7), gen.Logs(5)},
		{otlptxtest.EveryFeatureTraces(), otlptxtest.EveryFeatureMetrics(), otlptxtest.EveryFeatureLogs()},
		{ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.DeeplyNested(MaxValueDepth + 1)},
		{ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.DuplicateKeys()},
	}
	var seeds [][]byte
	for i, b := range batches {
		env, err := NewEnvelopeV2(Header{SenderID: "fuzz", Sequence: uint64(i + 1)}, b.td, b.md, b.ld)
		require.NoError(t, err)
		comps := []Compression{CompressionNone}
		if i == 0 {
			comps = v2Compressions
		}
		for _, comp := range comps {
			wire, err := codec.Encode(env, comp)
			require.NoError(t, err)
			seeds = append(seeds, wire)
		}
	}
	return append(seeds, []byte("OTX2"), []byte("OTX2\x00"), []byte("OTX2\x01\x00"))
}

// TestFuzzV2SeedCorpus writes (with -update-golden) and checks the seed corpus of
// FuzzDecodeV2 under testdata/fuzz/FuzzDecodeV2, which `go test` always runs.
func TestFuzzV2SeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeV2")
	seeds := fuzzSeedsV2(t)
	if *updateGolden {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, seed := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o600))
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(entries), len(seeds))
	// Uncompressed seeds must be what the encoder writes today, so that the fuzzer starts
	// from real envelopes (compressed ones may legitimately change with the libraries).
	for i, seed := range seeds {
		if !IsV2Body(seed) || len(seed) < 5 || seed[4] != 0 {
			continue
		}
		content, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed), string(content),
			"seed-%02d is stale; regenerate with -update-golden", i)
	}
}

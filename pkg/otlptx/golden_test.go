package otlptx

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// Regenerate with: go test ./pkg/otlptx -run 'TestGolden|TestFuzzSeedCorpus' -update-golden
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden and the fuzz seed corpus")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// goldenEnvelope is the envelope whose bytes are committed: all three signals, every
// header field set.
func goldenEnvelope(t testing.TB) *Envelope {
	gen := otlptxtest.NewGenerator(42)
	env, err := NewEnvelope(Header{
		SenderID:        "sidecar-7f3a9c",
		Sequence:        1234567,
		CreatedUnixNano: 1764000000123456789,
	}, gen.Traces(5), gen.Metrics(8), gen.Logs(4))
	require.NoError(t, err)
	return env
}

func goldenPath(name string) string { return filepath.Join("testdata", "golden", name) }

func TestGoldenEnvelope(t *testing.T) {
	codec := newTestCodec(t, 0)
	env := goldenEnvelope(t)
	if *updateGolden {
		require.NoError(t, os.MkdirAll(goldenPath(""), 0o755))
		for _, comp := range allCompressions {
			wire, err := codec.Encode(env, comp)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(goldenPath("envelope."+string(comp)+".bin"), wire, 0o600))
		}
		resp := goldenResponse()
		require.NoError(t, os.WriteFile(goldenPath("response.bin"), resp.Marshal(), 0o600))
	}

	// The uncompressed encoding is the format itself: it must never change silently.
	want, err := os.ReadFile(goldenPath("envelope.none.bin"))
	require.NoError(t, err)
	assert.Equal(t, want, env.Marshal(), "envelope bytes differ from the golden file; a format change needs a version decision (see otlptx.proto)")

	// Compressed goldens must keep decoding to the same envelope (the compressors' exact
	// output may legitimately change with library versions).
	for _, comp := range allCompressions {
		wire, err := os.ReadFile(goldenPath("envelope." + string(comp) + ".bin"))
		require.NoError(t, err)
		got, err := codec.Decode(wire, comp)
		require.NoError(t, err, comp)
		assert.Equal(t, env.Header, got.Header)
		assert.Equal(t, env.Traces, got.Traces)
		assert.Equal(t, env.Metrics, got.Metrics)
		assert.Equal(t, env.Logs, got.Logs)
	}

	wantResp, err := os.ReadFile(goldenPath("response.bin"))
	require.NoError(t, err)
	resp := goldenResponse()
	assert.Equal(t, wantResp, resp.Marshal())
}

func goldenResponse() Response {
	return Response{
		Traces:  SignalResult{Accepted: 5},
		Metrics: SignalResult{Accepted: 8},
		Logs:    SignalResult{Rejected: 4, ErrorMessage: "no logs pipeline uses this receiver"},
	}
}

// TestFuzzSeedCorpus writes (with -update-golden) and checks the seed corpus of
// FuzzDecode under testdata/fuzz/FuzzDecode.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *updateGolden {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, seed := range fuzzSeeds(t) {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%d)\n", seed.data, seed.comp)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o600))
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(entries), len(fuzzSeeds(t)))
}

type fuzzSeed struct {
	data []byte
	comp byte
}

func fuzzSeeds(t testing.TB) []fuzzSeed {
	codec := newTestCodec(t, 0)
	env := goldenEnvelope(t)
	var seeds []fuzzSeed
	for i, comp := range allCompressions {
		wire, err := codec.Encode(env, comp)
		require.NoError(t, err)
		seeds = append(seeds, fuzzSeed{data: wire, comp: byte(i)})
	}
	headerOnly := &Envelope{Header: Header{FormatVersion: FormatVersion, SenderID: "s", Sequence: 1}}
	seeds = append(seeds,
		fuzzSeed{data: headerOnly.Marshal(), comp: 2},
		fuzzSeed{data: []byte{}, comp: 0},
		fuzzSeed{data: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, comp: 0},
		fuzzSeed{data: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00}, comp: 1},
	)
	return seeds
}

package otlptx

import (
	"testing"
)

// FuzzDecode feeds arbitrary bytes through the receiver's decoding path: decompression
// with a limit, envelope parsing and OTLP payload decoding. It must never panic and
// never allocate past the limit. Run it (bounded) with:
//
//	go test ./pkg/otlptx -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed.data, seed.comp)
	}
	codec, err := NewCodec(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(codec.Close)
	f.Fuzz(func(t *testing.T, data []byte, compIndex byte) {
		comp := allCompressions[int(compIndex)%len(allCompressions)]
		env, err := codec.Decode(data, comp)
		if err != nil {
			return
		}
		// A decoded envelope must re-encode to something that decodes to the same header.
		again, err := Unmarshal(env.Marshal())
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if again.Header != env.Header {
			t.Fatalf("header changed on re-encode: %+v != %+v", again.Header, env.Header)
		}
		_, _, _ = env.DecodeTraces()
		_, _, _ = env.DecodeMetrics()
		_, _, _ = env.DecodeLogs()
	})
}

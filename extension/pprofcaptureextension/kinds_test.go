package pprofcaptureextension

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKindsAndSampling(t *testing.T) {
	sampled := map[Kind]bool{
		KindHeap: false, KindGoroutine: false, KindGoroutineLeak: false,
		KindGoroutineDelta: true, KindCPU: true, KindAllocsDelta: true, KindHeapDelta: true,
	}
	assert.Len(t, Kinds(), len(sampled), "every kind is listed once")
	for _, k := range Kinds() {
		want, known := sampled[k]
		assert.True(t, known, "kind %q has no expectation", k)
		assert.Equal(t, want, k.Sampled(), "%q samples for the request's duration", k)
	}
	assert.Equal(t, Kind("allocs_delta"), KindAllocsDelta)
	assert.Equal(t, Kind("heap_delta"), KindHeapDelta)
	assert.False(t, Kind("trace").Sampled())
}

package pprofscrapereceiver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// Memory the delta tests hold on purpose; released by each test's cleanup.
var (
	liveCache      [][]byte
	retainedLate   [][]byte
	furiousGarbage []byte
)

// holdCache builds a big live cache before the capture window: the top of the live heap, but no allocation
// during the window.
//
//go:noinline
func holdCache(mib int) {
	for range mib {
		liveCache = append(liveCache, make([]byte, 1<<20))
	}
}

// allocateFuriously allocates short-lived buffers at a furious rate (a GC storm's cause) for d or until it has
// allocated limit bytes.
//
//go:noinline
func allocateFuriously(d time.Duration, limit int) {
	deadline := time.Now().Add(d)
	for allocated := 0; allocated < limit && time.Now().Before(deadline); allocated += 64 << 10 {
		furiousGarbage = make([]byte, 64<<10)
	}
}

// retainDuringWindow keeps mib MiB alive: the heap-growth site.
//
//go:noinline
func retainDuringWindow(mib int) {
	for range mib {
		retainedLate = append(retainedLate, make([]byte, 1<<20))
	}
}

// deltaWindow starts a delta capture of kind against a real loopback pprof server and returns, once the target
// has taken its first profile of the window, a function that waits for the result.
func deltaWindow(t *testing.T, kind pprofcaptureextension.Kind, profileName string) func() pprofcaptureextension.Result {
	started := make(chan struct{})
	var once sync.Once
	mux := newPprofMux(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if req.URL.Path == "/debug/pprof/"+profileName && (q.Get("seconds") != "" || q.Get("gc") == "1") {
			once.Do(func() { close(started) })
		}
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	s := newCaptureSetup(t, func(cfg *Config) { cfg.Targets[0].Endpoint = srv.URL })

	done := make(chan pprofcaptureextension.Result, 1)
	go func() {
		results, err := s.broker.Capture(context.Background(), pprofcaptureextension.Request{
			Target: s.key, Kinds: []pprofcaptureextension.Kind{kind}, Duration: 3 * time.Second, Reason: "test",
		})
		if err != nil || len(results) != 1 {
			done <- pprofcaptureextension.Result{Kind: kind, Err: err}
			return
		}
		done <- results[0]
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the capture request never reached the target")
	}
	// The handler takes the window's first profile right after the request arrives.
	time.Sleep(200 * time.Millisecond)
	return func() pprofcaptureextension.Result {
		if kind != pprofcaptureextension.KindHeapDelta {
			// Allocation profiles show the state as of the last completed GC cycles: publish what the window did.
			// heap_delta must not need this: a slow heap growth ends few GC cycles, its capture forces them.
			runtime.GC()
			runtime.GC()
		}
		select {
		case r := <-done:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("the capture did not end")
			return pprofcaptureextension.Result{}
		}
	}
}

func releaseDeltaMemory(t *testing.T) {
	t.Cleanup(func() { liveCache, retainedLate, furiousGarbage = nil, nil, nil })
}

func TestCaptureAllocsDeltaNamesTheHotAllocator(t *testing.T) {
	releaseDeltaMemory(t)
	holdCache(64)
	runtime.GC()
	runtime.GC()

	wait := deltaWindow(t, pprofcaptureextension.KindAllocsDelta, "allocs")
	allocateFuriously(time.Second, 256<<20)
	result := wait()

	require.NoError(t, result.Err)
	assert.True(t, strings.HasSuffix(result.Path, "-allocs_delta.pb.gz"), result.Path)
	assert.Equal(t, "alloc_space", result.SampleType)
	require.NotEmpty(t, result.Summary)
	assert.Equal(t, thisPackage+".allocateFuriously", result.Summary[0].Function, "%+v", result.Summary)
	assert.Positive(t, result.Summary[0].Line)
	for _, e := range result.Summary {
		assert.Positive(t, e.Value, "only allocation during the window")
		assert.NotEqual(t, thisPackage+".holdCache", e.Function, "the cache was allocated before the window: %+v", e)
	}
}

func TestCaptureHeapDeltaNamesTheRetainer(t *testing.T) {
	releaseDeltaMemory(t)
	holdCache(64)
	runtime.GC()
	runtime.GC()

	wait := deltaWindow(t, pprofcaptureextension.KindHeapDelta, "heap")
	// Less than the heap goal (64 MiB live, GOGC=100): no GC needs to end inside the window, as with a slow
	// growth in production. The capture still sees the retained memory, and not the garbage.
	allocateFuriously(300*time.Millisecond, 16<<20)
	retainDuringWindow(24)
	result := wait()

	require.NoError(t, result.Err)
	assert.True(t, strings.HasSuffix(result.Path, "-heap_delta.pb.gz"), result.Path)
	assert.Equal(t, "inuse_space", result.SampleType)
	require.NotEmpty(t, result.Summary)
	top := result.Summary[0]
	assert.Equal(t, thisPackage+".retainDuringWindow", top.Function, "%+v", result.Summary)
	assert.Greater(t, top.Value, int64(16<<20), "about 24 MiB retained during the window")
	for _, e := range result.Summary {
		assert.Positive(t, e.Value, "growth only")
		assert.NotEqual(t, thisPackage+".holdCache", e.Function, "the cache did not grow during the window: %+v", e)
	}
}

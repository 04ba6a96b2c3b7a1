package pprofscrapereceiver

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

type hostWithBroker struct {
	extensions map[component.ID]component.Component
}

func (h hostWithBroker) GetExtensions() map[component.ID]component.Component { return h.extensions }

// captureSetup is a receiver scraping a real pprof server in this process, registered with a real broker.
type captureSetup struct {
	broker pprofcaptureextension.Broker
	r      *pprofReceiver
	logs   *consumertest.LogsSink
	key    pprofcaptureextension.TargetKey
}

func newCaptureSetup(t *testing.T, configure func(*Config)) *captureSetup {
	srv := newPprofServer(t, true)
	cfg := testConfig(srv.URL)
	cfg.Targets[0].ServiceInstanceID = "instance-1"
	cfg.Captures.Directory = filepath.Join(t.TempDir(), "captures")
	cfg.Captures.MinInterval = 0
	cfg.Captures.DefaultDuration = time.Second
	cfg.Captures.AllowedKinds = append(cfg.Captures.AllowedKinds, pprofcaptureextension.KindCPU)
	if configure != nil {
		configure(cfg)
	}
	f := pprofcaptureextension.NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	require.NoError(t, err)
	host := hostWithBroker{extensions: map[component.ID]component.Component{component.NewID(f.Type()): ext}}
	r, logs := startedReceiverWithLogs(t, cfg, host)
	return &captureSetup{
		broker: ext.(pprofcaptureextension.Broker), r: r, logs: logs,
		key: pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "instance-1"},
	}
}

// startedReceiverWithLogs starts a receiver whose capture log records go to the returned sink.
func startedReceiverWithLogs(t *testing.T, cfg *Config, host component.Host) (*pprofReceiver, *consumertest.LogsSink) {
	sink := new(consumertest.LogsSink)
	rcv, err := newPprofReceiver(cfg, receiverSettingsForTest())
	require.NoError(t, err)
	rcv.attachLogs(sink)
	require.NoError(t, rcv.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return rcv, sink
}

func (s *captureSetup) capture(t *testing.T, kinds ...pprofcaptureextension.Kind) []pprofcaptureextension.Result {
	results, err := s.broker.Capture(context.Background(), pprofcaptureextension.Request{
		Target: s.key, Kinds: kinds, Reason: "test_rule", Details: map[string]string{"value": "42"},
	})
	require.NoError(t, err)
	require.Len(t, results, len(kinds))
	return results
}

func captureRecords(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, l := range sink.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
					out = append(out, sls.At(j).LogRecords().At(k))
				}
			}
		}
	}
	return out
}

func TestCaptureHeapAndGoroutines(t *testing.T) {
	parkGoroutines(t, 40)
	s := newCaptureSetup(t, nil)
	results := s.capture(t, pprofcaptureextension.KindHeap, pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineLeak)

	heap := results[0]
	require.NoError(t, heap.Err)
	assert.True(t, strings.HasSuffix(heap.Path, "-heap.pb.gz"))
	assert.Equal(t, filepath.Join(s.r.cfg.Captures.Directory, "svc", "instance-1"), filepath.Dir(heap.Path))
	info, err := os.Stat(heap.Path)
	require.NoError(t, err)
	assert.Equal(t, info.Size(), heap.Size)
	f, err := os.Open(heap.Path)
	require.NoError(t, err)
	_, err = profile.Parse(f)
	f.Close()
	require.NoError(t, err, "the kept file is the profile as the target served it")
	assert.Equal(t, "inuse_space", heap.SampleType)

	dump := results[1]
	require.NoError(t, dump.Err)
	assert.True(t, strings.HasSuffix(dump.Path, "-goroutine.txt"))
	require.NotEmpty(t, dump.Summary)
	assert.Equal(t, "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver.parkForTest", dump.Summary[0].Function)
	assert.GreaterOrEqual(t, dump.Summary[0].Value, int64(40))

	leak := results[2]
	require.Error(t, leak.Err, "this test binary does not serve goroutineleak")
	assert.ErrorContains(t, leak.Err, "GOEXPERIMENT=goroutineleakprofile")

	records := captureRecords(s.logs)
	require.Len(t, records, 3)
	for _, lr := range records {
		assert.Equal(t, captureEventName, lr.EventName())
		attrs := lr.Attributes().AsRaw()
		assert.Equal(t, "svc/instance-1", attrs["target"])
		assert.Equal(t, "test_rule", attrs["reason"])
		assert.Equal(t, map[string]any{"value": "42"}, attrs["details"])
		if attrs["kind"] == "goroutineleak" {
			assert.Contains(t, attrs["error"], "goroutineleak")
			continue
		}
		assert.NotEmpty(t, attrs["file.path"])
		assert.Positive(t, attrs["file.size"])
		assert.NotEmpty(t, attrs["summary"])
	}
}

var grown [][]byte

//go:noinline
func growHeapForTest() {
	for range 64 {
		grown = append(grown, make([]byte, 256<<10))
	}
}

func TestSecondHeapCaptureListsGrowth(t *testing.T) {
	s := newCaptureSetup(t, nil)
	runtime.GC()
	first := s.capture(t, pprofcaptureextension.KindHeap)[0]
	require.NoError(t, first.Err)

	growHeapForTest()
	defer func() { grown = nil }()
	runtime.GC()
	second := s.capture(t, pprofcaptureextension.KindHeap)[0]
	require.NoError(t, second.Err)

	var growth *pprofcaptureextension.SummaryEntry
	for i, e := range second.Summary {
		if e.After != 0 && strings.HasSuffix(e.Function, ".growHeapForTest") {
			growth = &second.Summary[i]
		}
	}
	require.NotNil(t, growth, "summary: %+v", second.Summary)
	assert.Equal(t, growth.After-growth.Before, growth.Value)
	assert.Greater(t, growth.Value, int64(8<<20))
}

//go:noinline
func startedDuringDelta(ready *sync.WaitGroup, block chan struct{}) {
	ready.Done()
	<-block
}

func TestCaptureGoroutineDeltaFindsTheGrowingCallSite(t *testing.T) {
	s := newCaptureSetup(t, nil)
	block := make(chan struct{})
	defer close(block)
	done := make(chan []pprofcaptureextension.Result)
	go func() {
		results, _ := s.broker.Capture(context.Background(), pprofcaptureextension.Request{
			Target: s.key, Kinds: []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutineDelta}, Duration: 2 * time.Second,
		})
		done <- results
	}()
	time.Sleep(300 * time.Millisecond) // inside the 2 s window
	var ready sync.WaitGroup
	ready.Add(25)
	for range 25 {
		go startedDuringDelta(&ready, block)
	}
	ready.Wait()
	results := <-done
	require.Len(t, results, 1)
	require.NoError(t, results[0].Err)
	require.NotEmpty(t, results[0].Summary)
	assert.True(t, strings.HasSuffix(results[0].Summary[0].Function, ".startedDuringDelta"), "%+v", results[0].Summary)
	assert.Equal(t, int64(25), results[0].Summary[0].Value)
}

func TestCaptureCPUAndBusyTarget(t *testing.T) {
	s := newCaptureSetup(t, nil)

	// The target (this process) is already running a CPU profile: pprof answers 500.
	require.NoError(t, pprof.StartCPUProfile(io.Discard))
	busy := s.capture(t, pprofcaptureextension.KindCPU)[0]
	pprof.StopCPUProfile()
	require.ErrorIs(t, busy.Err, errCPUBusy)

	results, err := s.broker.Capture(context.Background(), pprofcaptureextension.Request{
		Target: s.key, Kinds: []pprofcaptureextension.Kind{pprofcaptureextension.KindCPU}, Duration: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, results[0].Err)
	assert.Equal(t, "cpu", results[0].SampleType)
	assert.True(t, strings.HasSuffix(results[0].Path, "-cpu.pb.gz"))
}

func TestCaptureRefusals(t *testing.T) {
	s := newCaptureSetup(t, func(cfg *Config) {
		cfg.Captures.AllowedKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutine}
		cfg.Captures.MinInterval = time.Hour
	})
	ctx := context.Background()
	_, err := s.broker.Capture(ctx, pprofcaptureextension.Request{
		Target: pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "other"}, Kinds: []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutine},
	})
	assert.ErrorIs(t, err, pprofcaptureextension.ErrUnknownTarget)

	_, err = s.broker.Capture(ctx, pprofcaptureextension.Request{Target: s.key, Kinds: []pprofcaptureextension.Kind{pprofcaptureextension.KindHeap}})
	assert.ErrorIs(t, err, pprofcaptureextension.ErrKindNotAllowed)

	s.capture(t, pprofcaptureextension.KindGoroutine)
	_, err = s.broker.Capture(ctx, pprofcaptureextension.Request{Target: s.key, Kinds: []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutine}})
	assert.ErrorIs(t, err, pprofcaptureextension.ErrRateLimited)
}

func TestCaptureDirectoryNotWritable(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, []byte("x"), 0o600))
	s := newCaptureSetup(t, func(cfg *Config) { cfg.Captures.Directory = notADir })
	result := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
	require.Error(t, result.Err)
	assert.ErrorContains(t, result.Err, "captures directory not writable")
	records := captureRecords(s.logs)
	require.Len(t, records, 1)
	errAttr, ok := records[0].Attributes().Get("error")
	require.True(t, ok)
	assert.Contains(t, errAttr.Str(), "not writable")
}

func TestRetentionEvictsOldestFirst(t *testing.T) {
	s := newCaptureSetup(t, func(cfg *Config) {
		cfg.Captures.Retention.MaxFilesPerTarget = 2
	})
	var paths []string
	for range 4 {
		r := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
		require.NoError(t, r.Err)
		paths = append(paths, r.Path)
	}
	for i, p := range paths {
		_, err := os.Stat(p)
		if i < 2 {
			assert.True(t, os.IsNotExist(err), "oldest capture %d should be evicted", i)
		} else {
			assert.NoError(t, err, "newest capture %d should be kept", i)
		}
	}
}

func TestRetentionTotalBytesBudget(t *testing.T) {
	s := newCaptureSetup(t, nil)
	first := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
	require.NoError(t, first.Err)
	// Budget exhausted: room for about one dump only.
	s.r.captures.cfg.Retention.MaxBytes = first.Size + first.Size/2
	second := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
	require.NoError(t, second.Err)
	_, err := os.Stat(first.Path)
	assert.True(t, os.IsNotExist(err), "the oldest capture makes room")
	_, err = os.Stat(second.Path)
	assert.NoError(t, err)
}

func TestRetentionMaxAge(t *testing.T) {
	s := newCaptureSetup(t, nil)
	old := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
	require.NoError(t, old.Err)
	weekAgo := time.Now().Add(-8 * 24 * time.Hour)
	require.NoError(t, os.Chtimes(old.Path, weekAgo, weekAgo))
	fresh := s.capture(t, pprofcaptureextension.KindGoroutine)[0]
	require.NoError(t, fresh.Err)
	_, err := os.Stat(old.Path)
	assert.True(t, os.IsNotExist(err), "older than max_age (7 days by default)")
	_, err = os.Stat(fresh.Path)
	assert.NoError(t, err)
}

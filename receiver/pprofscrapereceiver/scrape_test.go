package pprofscrapereceiver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

//go:noinline
func parkForTest(ready *sync.WaitGroup, block chan struct{}) {
	ready.Done()
	<-block
}

// parkGoroutines starts n goroutines blocked in parkForTest until the test ends.
func parkGoroutines(t testing.TB, n int) {
	block := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(n)
	for range n {
		go parkForTest(&ready, block)
	}
	ready.Wait()
	t.Cleanup(func() { close(block) })
}

func TestScrapeRealPprofTarget(t *testing.T) {
	parkGoroutines(t, 50)
	srv := newPprofServer(t, true)
	cfg := testConfig(srv.URL)
	cfg.Targets[0].Attributes = map[string]string{"deployment.environment.name": "test"}
	r, _ := startedReceiver(t, cfg, nil)

	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	res, metrics := metricsByName(t, md)

	u, _ := url.Parse(srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	attrs := res.Attributes().AsRaw()
	assert.Equal(t, "svc", attrs["service.name"])
	assert.Equal(t, u.Host, attrs["service.instance.id"])
	assert.Equal(t, host, attrs["server.address"])
	wantPort, _ := strconv.ParseInt(port, 10, 64)
	assert.Equal(t, wantPort, attrs["server.port"])
	assert.Equal(t, "test", attrs["deployment.environment.name"])

	for _, name := range []string{
		"go.goroutine.count", "go.memory.used", "go.memory.allocated", "go.memory.allocations", "go.memory.gc.goal",
		"go.memory.gc.cycles", "pprofscrape.gc.pause.total", "pprofscrape.gc.cpu_fraction", "pprofscrape.heap.inuse",
		"pprofscrape.heap.alloc", "pprofscrape.heap.sys", "pprofscrape.heap.objects", "pprofscrape.thread.count",
		"pprofscrape.goroutine.stack.count", "pprofscrape.target.up", "pprofscrape.scrape.duration",
	} {
		assert.Contains(t, metrics, name)
	}
	assert.NotContains(t, metrics, "pprofscrape.goroutine.leaked", "this test binary has no goroutineleak profile: skipped quietly")
	assert.NotContains(t, metrics, "pprofscrape.mutex.contentions", "off by default")
	assert.Equal(t, int64(1), intValue(t, metrics["pprofscrape.target.up"]))
	assert.GreaterOrEqual(t, intValue(t, metrics["go.goroutine.count"]), int64(50))

	allocated := metrics["go.memory.allocated"].Sum()
	assert.True(t, allocated.IsMonotonic())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, allocated.AggregationTemporality())
	assert.NotZero(t, allocated.DataPoints().At(0).StartTimestamp())
	assert.False(t, metrics["go.goroutine.count"].Sum().IsMonotonic())

	stacks := metrics["pprofscrape.goroutine.stack.count"].Gauge().DataPoints()
	top := stacks.At(0)
	fn, _ := top.Attributes().Get("code.function")
	assert.Equal(t, "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver.parkForTest", fn.Str())
	assert.GreaterOrEqual(t, top.IntValue(), int64(50))
	id, _ := top.Attributes().Get("code.stacktrace_id")
	assert.Len(t, id.Str(), 16)
}

func TestHeapMemStatsFallbackIsRateCapped(t *testing.T) {
	var heapReads atomic.Int32
	mux := newPprofMux(false) // no expvar: MemStats must come from heap?debug=1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/debug/pprof/heap" {
			heapReads.Add(1)
		}
		mux.ServeHTTP(w, req)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.HeapMemStatsInterval = time.Hour
	r, _ := startedReceiver(t, cfg, nil)

	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics := metricsByName(t, md)
	assert.Contains(t, metrics, "go.memory.gc.cycles")
	assert.Contains(t, metrics, "pprofscrape.heap.inuse")

	md, err = r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics = metricsByName(t, md)
	assert.NotContains(t, metrics, "go.memory.gc.cycles", "no stale MemStats between heap reads")
	assert.Contains(t, metrics, "go.goroutine.count")
	assert.Equal(t, int32(1), heapReads.Load())
}

func TestGoroutineStacksAreRateCapped(t *testing.T) {
	srv := newPprofServer(t, true)
	cfg := testConfig(srv.URL)
	cfg.GoroutineStacksInterval = time.Hour
	r, _ := startedReceiver(t, cfg, nil)
	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics := metricsByName(t, md)
	assert.Contains(t, metrics, "pprofscrape.goroutine.stack.count")

	md, err = r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics = metricsByName(t, md)
	assert.NotContains(t, metrics, "pprofscrape.goroutine.stack.count")
	assert.Contains(t, metrics, "go.goroutine.count", "the count comes from the index page at every scrape")
	assert.Contains(t, metrics, "pprofscrape.thread.count")
}

func TestGoroutineLeakProfileIsReadAtItsOwnRate(t *testing.T) {
	var leakReads atomic.Int32
	mux := newPprofMux(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/debug/pprof/":
			// A Go 1.26 GOEXPERIMENT=goroutineleakprofile build lists the profile, with a stale count.
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			page := strings.Replace(rec.Body.String(), "</table>",
				"<tr><td>0</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>\n</table>", 1)
			_, _ = w.Write([]byte(page))
		case "/debug/pprof/goroutineleak":
			leakReads.Add(1)
			_, _ = w.Write([]byte("goroutineleak profile: total 7\n7 @ 0x1\n"))
		default:
			mux.ServeHTTP(w, req)
		}
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.GoroutineLeakInterval = time.Hour
	r, _ := startedReceiver(t, cfg, nil)

	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics := metricsByName(t, md)
	require.Contains(t, metrics, "pprofscrape.goroutine.leaked")
	assert.Equal(t, int64(7), intValue(t, metrics["pprofscrape.goroutine.leaked"]), "from the profile, not the stale index count")

	md, err = r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics = metricsByName(t, md)
	assert.NotContains(t, metrics, "pprofscrape.goroutine.leaked")
	assert.Equal(t, int32(1), leakReads.Load(), "each read costs the target a full GC: once per goroutine_leak_interval")
}

func TestMaxConcurrentScrapes(t *testing.T) {
	var inFlight, peak atomic.Int32
	mux := newPprofMux(true)
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // let scrapes overlap if the limit allowed it
		mux.ServeHTTP(w, req)
	})
	var endpoints []string
	for range 4 {
		endpoints = append(endpoints, faultServer(t, handler))
	}
	cfg := testConfig(endpoints...)
	cfg.MaxConcurrentScrapes = 1
	r, _ := startedReceiver(t, cfg, nil)
	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, md.ResourceMetrics().Len())
	assert.Equal(t, int32(1), peak.Load(), "one target at a time, one request at a time per target")
}

func TestTargetDownLogsOncePerChange(t *testing.T) {
	var down atomic.Bool
	mux := newPprofMux(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if down.Load() {
			// Drop the connection, as a crashed process would.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		mux.ServeHTTP(w, req)
	}))
	defer srv.Close()
	r, logs := startedReceiver(t, testConfig(srv.URL), nil)

	upValue := func() int64 {
		md, err := r.scrapeAll(context.Background())
		require.NoError(t, err)
		_, metrics := metricsByName(t, md)
		return intValue(t, metrics["pprofscrape.target.up"])
	}
	assert.Equal(t, int64(1), upValue())
	down.Store(true)
	for range 3 {
		assert.Equal(t, int64(0), upValue())
	}
	down.Store(false)
	assert.Equal(t, int64(1), upValue())
	assert.Equal(t, int64(1), upValue())

	assert.Equal(t, 1, logs.FilterMessage("Target is down").Len())
	assert.Equal(t, 2, logs.FilterMessage("Target is up").Len())
}

func TestRefusedConnectionIsDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there any more
	r, logs := startedReceiver(t, testConfig("http://"+addr), nil)
	for range 2 {
		md, err := r.scrapeAll(context.Background())
		require.NoError(t, err)
		_, metrics := metricsByName(t, md)
		assert.Equal(t, int64(0), intValue(t, metrics["pprofscrape.target.up"]))
	}
	down := logs.FilterMessage("Target is down").All()
	require.Len(t, down, 1)
	assert.Equal(t, reasonConnection, down[0].ContextMap()["reason"])
}

// faultServer answers every pprof and expvar request with the same fault.
func faultServer(t *testing.T, handler http.HandlerFunc) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestScrapeFaults(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantReason string
		// wantOnly: the first failure ends the scrape (a hung target costs one request_timeout per scrape).
		wantOnly bool
	}{
		{
			name: "slow target",
			handler: func(w http.ResponseWriter, req *http.Request) {
				select {
				case <-req.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			wantReason: reasonTimeout,
			wantOnly:   true,
		},
		{
			name: "endless body",
			handler: func(w http.ResponseWriter, req *http.Request) {
				chunk := []byte("goroutine profile: total 1\n" + strings.Repeat("x", 4096))
				for req.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
			wantReason: reasonBodyTooLarge,
		},
		{
			name: "oversized body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("goroutine profile: total 1\n" + strings.Repeat("1 @ 0x1\n", 20000)))
			},
			wantReason: reasonBodyTooLarge,
		},
		{
			name: "garbage",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("<html><body>not a profile</body></html>\n"))
			},
			wantReason: reasonParse,
		},
		{
			name:       "HTTP 500",
			handler:    func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			wantReason: reasonHTTPStatus,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(faultServer(t, tt.handler))
			cfg.RequestTimeout = 300 * time.Millisecond
			cfg.MaxBodySize = 64 << 10
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			set := receivertest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			r, err := newPprofReceiver(cfg, set)
			require.NoError(t, err)
			require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, r.Shutdown(context.Background())) }()

			md, err := r.scrapeAll(context.Background())
			require.NoError(t, err)
			_, metrics := metricsByName(t, md)
			assert.Equal(t, int64(0), intValue(t, metrics["pprofscrape.target.up"]))
			assert.NotContains(t, metrics, "go.goroutine.count")

			got, err := tel.GetMetric("otelcol_pprofscrape_scrape_errors")
			require.NoError(t, err)
			reasons := map[string]int64{}
			for _, dp := range got.Data.(metricdata.Sum[int64]).DataPoints {
				reason, _ := dp.Attributes.Value("reason")
				reasons[reason.AsString()] += dp.Value
			}
			assert.Positive(t, reasons[tt.wantReason], "reasons: %v", reasons)
			if tt.wantOnly {
				assert.Equal(t, map[string]int64{tt.wantReason: 1}, reasons)
			}
		})
	}
}

func TestNotFoundPages(t *testing.T) {
	// A plain HTTP server without pprof: 404 for every page. Optional pages (expvar, goroutineleak) are skipped
	// quietly; the others are errors, and with no runtime data at all the target is down.
	url := faultServer(t, http.NotFound)
	r, logs := startedReceiver(t, testConfig(url), nil)
	md, err := r.scrapeAll(context.Background())
	require.NoError(t, err)
	_, metrics := metricsByName(t, md)
	assert.Equal(t, int64(0), intValue(t, metrics["pprofscrape.target.up"]))
	assert.NotContains(t, metrics, "go.goroutine.count")
	down := logs.FilterMessage("Target is down").All()
	require.Len(t, down, 1)
	assert.Equal(t, reasonHTTPStatus, down[0].ContextMap()["reason"])
}

// memStatsServer serves /debug/vars with counters the test controls, as a restarting process would show them.
type memStatsServer struct {
	mu     sync.Mutex
	numGC  uint32
	allocs uint64
}

func (s *memStatsServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/debug/vars" {
		newPprofMux(false).ServeHTTP(w, req)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"memstats": map[string]any{
		"NumGC": s.numGC, "TotalAlloc": s.allocs, "Mallocs": s.allocs / 16, "PauseTotalNs": uint64(s.numGC) * 1000,
		"Sys": 1 << 20, "HeapReleased": 1 << 10,
	}})
}

func (s *memStatsServer) set(numGC uint32, allocs uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.numGC, s.allocs = numGC, allocs
}

func TestRestartStartsCountersAgain(t *testing.T) {
	target := &memStatsServer{}
	srv := httptest.NewServer(target)
	defer srv.Close()
	r, logs := startedReceiver(t, testConfig(srv.URL), nil)

	scrape := func() (start, ts uint64, gcCycles int64) {
		md, err := r.scrapeAll(context.Background())
		require.NoError(t, err)
		_, metrics := metricsByName(t, md)
		dp := metrics["go.memory.gc.cycles"].Sum().DataPoints().At(0)
		return uint64(dp.StartTimestamp()), uint64(dp.Timestamp()), dp.IntValue()
	}
	target.set(100, 1<<30)
	start1, ts1, v1 := scrape()
	target.set(120, 2<<30)
	start2, ts2, v2 := scrape()
	assert.Equal(t, start1, start2, "same process, same start")
	assert.Greater(t, v2, v1)

	target.set(3, 1<<20) // the process restarted
	start3, ts3, v3 := scrape()
	assert.Equal(t, int64(3), v3)
	assert.Greater(t, start3, start1, "a restart gives a new start timestamp")
	assert.Equal(t, ts2, start3, "the new process started after the last good scrape")
	assert.Less(t, start3, ts3)
	_ = ts1
	assert.Equal(t, 1, logs.FilterMessageSnippet("restarted").Len())

	target.set(5, 2<<20)
	start4, _, _ := scrape()
	assert.Equal(t, start3, start4)
}

func TestReportedIdentityWins(t *testing.T) {
	var instance atomic.Value
	instance.Store("pod-1")
	mux := newPprofMux(false)
	mux.HandleFunc("/debug/vars", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"memstats": map[string]any{"NumGC": 10}, "service_name": "reported", "service_instance_id": instance.Load(),
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r, logs := startedReceiver(t, testConfig(srv.URL), nil) // configures service_name "svc"
	identity := func() (string, string) {
		md, err := r.scrapeAll(context.Background())
		require.NoError(t, err)
		res, _ := metricsByName(t, md)
		name, _ := res.Attributes().Get("service.name")
		inst, _ := res.Attributes().Get("service.instance.id")
		return name.Str(), inst.Str()
	}
	name, inst := identity()
	assert.Equal(t, "reported", name)
	assert.Equal(t, "pod-1", inst)
	instance.Store("pod-2")
	_, inst = identity()
	assert.Equal(t, "pod-2", inst)
	assert.Equal(t, 1, logs.FilterMessageSnippet("restarted").Len(), "a new instance at the endpoint is a restart")
}

func TestShutdownMidScrape(t *testing.T) {
	entered := make(chan struct{}, 8)
	url := faultServer(t, func(w http.ResponseWriter, req *http.Request) {
		entered <- struct{}{}
		<-req.Context().Done() // hangs until the client gives up
	})
	cfg := testConfig(url)
	cfg.RequestTimeout = time.Minute
	cfg.InitialDelay = 0
	sink := new(consumertest.MetricsSink)
	f := NewFactory()
	rcv, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	<-entered // a scrape is in flight
	done := make(chan error)
	go func() { done <- rcv.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown did not cancel the scrape in flight")
	}
}

func TestFactoryPipelineEmits(t *testing.T) {
	srv := newPprofServer(t, true)
	cfg := testConfig(srv.URL)
	cfg.InitialDelay = 0
	cfg.CollectionInterval = time.Hour // only the immediate first scrape
	sink := new(consumertest.MetricsSink)
	f := NewFactory()
	rcv, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return sink.DataPointCount() > 0 }, 20*time.Second, 20*time.Millisecond)
	_, metrics := metricsByName(t, sink.AllMetrics()[0])
	assert.Equal(t, int64(1), intValue(t, metrics["pprofscrape.target.up"]))
}

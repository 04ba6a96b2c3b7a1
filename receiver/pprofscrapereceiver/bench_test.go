package pprofscrapereceiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/stretchr/testify/require"
)

// The benchmarks scrape a service running in this process with 10,000 parked goroutines, so "cpu-ns/op" (process
// CPU time per scrape, from getrusage) is the cost on both sides: the target rendering and the receiver parsing.
// Run them together:
//
//	go test -run '^$' -bench 'Scrape10k' -benchtime 50x ./receiver/pprofscrapereceiver/

const benchGoroutines = 10_000

//go:noinline
func benchParkedA(ready *sync.WaitGroup, block chan struct{}) { ready.Done(); <-block }

//go:noinline
func benchParkedB(ready *sync.WaitGroup, block chan struct{}) { ready.Done(); <-block }

// benchTarget serves net/http/pprof, expvar and a client_golang /metrics (Go and process collectors, as most
// services expose) for this process, after parking benchGoroutines goroutines in two stacks.
func benchTarget(b *testing.B) *httptest.Server {
	block := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(benchGoroutines)
	for i := range benchGoroutines {
		if i%2 == 0 {
			go benchParkedA(&ready, block)
		} else {
			go benchParkedB(&ready, block)
		}
	}
	ready.Wait()
	b.Cleanup(func() { close(block) })

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := newPprofMux(true)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

func processCPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs scrape b.N times and reports process CPU time per scrape beside the allocations.
func measure(b *testing.B, scrape func()) {
	b.ReportAllocs()
	scrape() // warm connections and caches
	b.ResetTimer()
	cpu := processCPUTime()
	for b.Loop() {
		scrape()
	}
	b.ReportMetric(float64(processCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkScrape10kPprofscrape is a steady-state scrape with the default configuration: expvar MemStats, the
// index page counts (goroutines, threads) and no stack groups (they are read once a minute by default).
func BenchmarkScrape10kPprofscrape(b *testing.B) {
	benchmarkPprofscrape(b, defaultGoroutineStacksInterval)
}

// BenchmarkScrape10kPprofscrapeWithStacks reads the grouped stacks at every scrape (goroutine_stacks_interval: 0).
func BenchmarkScrape10kPprofscrapeWithStacks(b *testing.B) {
	benchmarkPprofscrape(b, 0)
}

func benchmarkPprofscrape(b *testing.B, stacksInterval time.Duration) {
	srv := benchTarget(b)
	cfg := testConfig(srv.URL)
	cfg.GoroutineStacksInterval = stacksInterval
	r, _ := startedReceiver(b, cfg, nil)
	measure(b, func() {
		md, err := r.scrapeAll(context.Background())
		if err != nil || md.DataPointCount() == 0 {
			b.Fatalf("scrape failed: %v", err)
		}
	})
}

// BenchmarkScrape10kPrometheusText is what the prometheus receiver does per scrape of the same service: GET
// /metrics and run the Prometheus text parser over every series (labels included).
func BenchmarkScrape10kPrometheusText(b *testing.B) {
	srv := benchTarget(b)
	client := srv.Client()
	symbols := labels.NewSymbolTable()
	measure(b, func() {
		resp, err := client.Get(srv.URL + "/metrics")
		require.NoError(b, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		p := textparse.NewPromParser(body, symbols, false)
		var lset labels.Labels
		series := 0
		for {
			entry, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(b, err)
			if entry == textparse.EntrySeries {
				p.Labels(&lset)
				series++
			}
		}
		if series == 0 {
			b.Fatal("no series parsed")
		}
	})
}

// The goroutine count alone, two ways: the debug=1 text page (what the receiver reads) and the protobuf profile
// parsed with github.com/google/pprof/profile.
func BenchmarkScrape10kGoroutineDebug1Text(b *testing.B) {
	srv := benchTarget(b)
	client := srv.Client()
	measure(b, func() {
		resp, err := client.Get(srv.URL + "/debug/pprof/goroutine?debug=1")
		require.NoError(b, err)
		total, _, err := parseGoroutineStacks(resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		require.GreaterOrEqual(b, total, int64(benchGoroutines))
	})
}

func BenchmarkScrape10kGoroutineProtobuf(b *testing.B) {
	srv := benchTarget(b)
	client := srv.Client()
	measure(b, func() {
		resp, err := client.Get(srv.URL + "/debug/pprof/goroutine")
		require.NoError(b, err)
		p, err := profile.Parse(resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		var total int64
		for _, s := range p.Sample {
			total += s.Value[0]
		}
		require.GreaterOrEqual(b, total, int64(benchGoroutines))
	})
}

// BenchmarkScrape10kReceiverParseOnly is the receiver's own share: parsing a goroutine?debug=1 body of the 10k
// goroutine service, fetched once.
func BenchmarkScrape10kReceiverParseOnly(b *testing.B) {
	srv := benchTarget(b)
	resp, err := srv.Client().Get(srv.URL + "/debug/pprof/goroutine?debug=1")
	require.NoError(b, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(b, err)
	measure(b, func() {
		total, _, err := parseGoroutineStacks(bytes.NewReader(body))
		require.NoError(b, err)
		require.GreaterOrEqual(b, total, int64(benchGoroutines))
	})
}

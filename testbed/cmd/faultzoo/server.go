package main

import (
	"expvar"
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMux serves every endpoint on a private mux (net/http/pprof and expvar also register on
// http.DefaultServeMux, which is never served).
func newMux(cfg config, z *zoo) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	// pprof.Index serves every named profile under /debug/pprof/<name> (goroutine, heap, allocs, block, mutex,
	// threadcreate, and goroutineleak when built with GOEXPERIMENT=goroutineleakprofile).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	registry, err := newMetricsRegistry(cfg, z)
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /debug/vars", expvarHandler(cfg.shape, z))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux, nil
}

// newMetricsRegistry registers client_golang's default Go collector (go_goroutines, go_gc_duration_seconds,
// go_memstats_* including next_gc and alloc_bytes_total, go_gc_gogc_percent, go_gc_gomemlimit_bytes), the process
// collector and two gauges that say what the zoo is doing.
func newMetricsRegistry(cfg config, z *zoo) (*prometheus.Registry, error) {
	registry := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "faultzoo_info",
			Help:        "Always 1; the labels name the shape and the expected rule kind.",
			ConstLabels: prometheus.Labels{"shape": cfg.shape, "kind": shapes[cfg.shape].kind},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "faultzoo_fault_active",
			Help: "1 once the fault's onset has passed.",
		}, func() float64 {
			if z.faultActive.Load() {
				return 1
			}
			return 0
		}),
	}
	for _, c := range cs {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return registry, nil
}

// expvarHandler serves the process-wide expvars (cmdline, memstats) plus service_name and the zoo's state, in
// expvar's format. expvar.Publish would be process-global; this keeps the state on the zoo.
func expvarHandler(serviceName string, z *zoo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, "{\n")
		expvar.Do(func(kv expvar.KeyValue) {
			fmt.Fprintf(w, "%q: %s,\n", kv.Key, kv.Value)
		})
		fmt.Fprintf(w, "%q: %q,\n", "service_name", serviceName)
		fmt.Fprintf(w, "%q: %s\n}\n", "faultzoo", expvar.Func(func() any { return z.state() }).String())
	})
}

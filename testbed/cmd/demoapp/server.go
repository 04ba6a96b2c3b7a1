package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMux builds every endpoint on a private mux: net/http/pprof and expvar also register on
// http.DefaultServeMux, which is never served, so -pprof=false and friends really answer 404.
func newMux(cfg config, w *workloads) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	if cfg.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if cfg.metrics {
		registry, err := newMetricsRegistry(cfg.serviceName, w)
		if err != nil {
			return nil, err
		}
		mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	}
	if cfg.expvar {
		mux.Handle("GET /debug/vars", expvarHandler(cfg.serviceName, w))
	}
	c := &controlHandler{workloads: w}
	mux.HandleFunc("GET /control/state", c.serveState)
	mux.HandleFunc("POST /control/{knob}", c.serveKnob)
	return mux, nil
}

// newMetricsRegistry registers the Go runtime collector (go_goroutines, go_gc_duration_seconds,
// go_memstats_*), the process collector and demoapp's own gauges.
func newMetricsRegistry(serviceName string, w *workloads) (*prometheus.Registry, error) {
	registry := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "demoapp_info",
			Help:        "Always 1; the service_name label names this demoapp instance.",
			ConstLabels: prometheus.Labels{"service_name": serviceName},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "demoapp_leaked_goroutines",
			Help: "Goroutines leaked by the leak knob so far (they never exit).",
		}, func() float64 { return float64(w.leaked.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "demoapp_retained_bytes",
			Help: "Bytes retained by the heapgrowth knob.",
		}, func() float64 { return float64(w.cache.size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "demoapp_gogc",
			Help: "Current GOGC percentage (lowered while gcstorm is on).",
		}, func() float64 { return float64(w.gogc.Load()) }),
	}
	for _, knob := range []string{knobHealthy, knobLeak, knobGCStorm, knobHeapGrowth} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "demoapp_knob_enabled",
			Help:        "1 while the knob is on.",
			ConstLabels: prometheus.Labels{"knob": knob},
		}, func() float64 {
			if w.isOn(knob) {
				return 1
			}
			return 0
		}))
	}
	for _, c := range cs {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return registry, nil
}

// expvarHandler serves the process-wide expvars (cmdline, memstats) plus this instance's
// service_name and demoapp state, in expvar's own format. Publishing through expvar.Publish
// would be process-global and panic on a second registration.
func expvarHandler(serviceName string, w *workloads) http.Handler {
	own := map[string]expvar.Var{
		"service_name": stringVar(serviceName),
		"demoapp":      expvar.Func(func() any { return w.state() }),
	}
	ownNames := make([]string, 0, len(own))
	for name := range own {
		ownNames = append(ownNames, name)
	}
	slices.Sort(ownNames)
	return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(rw, "{\n")
		first := true
		write := func(name string, v expvar.Var) {
			if !first {
				fmt.Fprintf(rw, ",\n")
			}
			first = false
			fmt.Fprintf(rw, "%q: %s", name, v)
		}
		expvar.Do(func(kv expvar.KeyValue) {
			if _, shadowed := own[kv.Key]; !shadowed {
				write(kv.Key, kv.Value)
			}
		})
		for _, name := range ownNames {
			write(name, own[name])
		}
		fmt.Fprintf(rw, "\n}\n")
	})
}

func stringVar(s string) *expvar.String {
	v := new(expvar.String)
	v.Set(s)
	return v
}

// controlHandler serves /control/state and POST /control/<knob>.
type controlHandler struct {
	workloads *workloads
}

// knobParams lists the query parameters each knob accepts besides "on".
var knobParams = map[string][]string{
	knobHealthy:    nil,
	knobLeak:       {"rate"},
	knobGCStorm:    {"gogc"},
	knobHeapGrowth: {"rate", "release"},
}

func (c *controlHandler) serveState(rw http.ResponseWriter, _ *http.Request) {
	c.writeState(rw)
}

func (c *controlHandler) serveKnob(rw http.ResponseWriter, r *http.Request) {
	knob := r.PathValue("knob")
	allowed, known := knobParams[knob]
	if !known {
		badRequest(rw, "unknown knob %q: use healthy, leak, gcstorm or heapgrowth", knob)
		return
	}
	query := r.URL.Query()
	for name := range query {
		if name != "on" && !slices.Contains(allowed, name) {
			badRequest(rw, "knob %s does not take parameter %q (it takes on=true|false%s)", knob, name, describeParams(allowed))
			return
		}
	}
	if len(query["on"]) != 1 {
		badRequest(rw, "knob %s needs exactly one on=true|false parameter", knob)
		return
	}
	on, err := strconv.ParseBool(query.Get("on"))
	if err != nil {
		badRequest(rw, "on=%q is not a boolean: use on=true or on=false", query.Get("on"))
		return
	}
	w := c.workloads
	if query.Has("rate") {
		switch knob {
		case knobLeak:
			rate, err := strconv.ParseInt(query.Get("rate"), 10, 64)
			if err != nil || rate <= 0 || rate > maxLeakRate {
				badRequest(rw, "rate=%q: use a whole number of goroutines per second between 1 and %d", query.Get("rate"), maxLeakRate)
				return
			}
			w.leakRate.Store(rate)
		case knobHeapGrowth:
			rate, err := parseByteSize(query.Get("rate"))
			if err != nil || rate <= 0 || rate > maxHeapGrowthRate {
				badRequest(rw, "rate=%q: use bytes per second between 1 and %d (KiB, MiB, GiB suffixes allowed)", query.Get("rate"), maxHeapGrowthRate)
				return
			}
			w.heapGrowthRate.Store(rate)
		}
	}
	release := false
	if query.Has("release") {
		release, err = strconv.ParseBool(query.Get("release"))
		if err != nil || (release && on) {
			badRequest(rw, "release=%q: use release=true together with on=false to drop the retained memory", query.Get("release"))
			return
		}
	}
	if query.Has("gogc") {
		gogc, err := strconv.Atoi(query.Get("gogc"))
		if err != nil || gogc <= 0 {
			badRequest(rw, "gogc=%q: use a positive GOGC percentage such as 5", query.Get("gogc"))
			return
		}
		w.setGCStormGOGC(gogc)
	}
	if err := w.set(knob, on); err != nil {
		badRequest(rw, "%v", err)
		return
	}
	if release {
		w.cache.release()
	}
	c.writeState(rw)
}

func (c *controlHandler) writeState(rw http.ResponseWriter) {
	state := c.workloads.state()
	rw.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	_ = enc.Encode(state) // the client went away; nothing to do
}

func describeParams(params []string) string {
	s := ""
	for _, p := range params {
		s += ", " + p + "="
	}
	return s
}

func badRequest(rw http.ResponseWriter, format string, args ...any) {
	http.Error(rw, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

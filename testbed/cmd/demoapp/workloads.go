package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Upper bounds for rates set over the control endpoint, so a typo cannot take the host down.
const (
	maxLeakRate       = 100000
	maxHeapGrowthRate = 1 << 30
)

// workloads owns the knobs: at most one background loop per knob, plus the counters the
// state report, expvar and metrics read.
type workloads struct {
	serviceName string
	maxLeak     int64
	maxHeap     int64

	mu          sync.Mutex // guards loops, savedGOGC, gcStormGOGC and the GOGC changes
	loops       map[string]*loop
	savedGOGC   int // GOGC to restore when the storm stops
	gcStormGOGC int

	leakRate       atomic.Int64
	heapGrowthRate atomic.Int64
	gogc           atomic.Int64

	leaked        atomic.Int64
	cache         retainedCache
	healthyActive atomic.Int64
}

func newWorkloads(cfg config) *workloads {
	w := &workloads{
		serviceName: cfg.serviceName,
		maxLeak:     int64(cfg.maxLeak),
		maxHeap:     int64(cfg.maxHeap),
		loops:       map[string]*loop{},
		gcStormGOGC: cfg.gcStormGOGC,
	}
	w.leakRate.Store(int64(cfg.leakRate))
	w.heapGrowthRate.Store(int64(cfg.heapGrowthRate))
	// SetGCPercent is the only way to read GOGC; put the value straight back.
	current := debug.SetGCPercent(100)
	debug.SetGCPercent(current)
	w.gogc.Store(int64(current))
	return w
}

// set turns a knob on or off. Turning on a running knob, or off a stopped one, does nothing.
func (w *workloads) set(knob string, on bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	running := w.loops[knob]
	if on == (running != nil) {
		return nil
	}
	if !on {
		running.stop()
		delete(w.loops, knob)
		if knob == knobGCStorm {
			debug.SetGCPercent(w.savedGOGC)
			w.gogc.Store(int64(w.savedGOGC))
		}
		return nil
	}
	var body func(context.Context)
	switch knob {
	case knobHealthy:
		body = w.runHealthy
	case knobLeak:
		body = w.runLeak
	case knobGCStorm:
		w.savedGOGC = debug.SetGCPercent(w.gcStormGOGC)
		w.gogc.Store(int64(w.gcStormGOGC))
		body = w.runGCStorm
	case knobHeapGrowth:
		body = w.runHeapGrowth
	default:
		return fmt.Errorf("unknown knob %q: use healthy, leak, gcstorm or heapgrowth", knob)
	}
	w.loops[knob] = startLoop(body)
	return nil
}

func (w *workloads) isOn(knob string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.loops[knob] != nil
}

// setGCStormGOGC changes the storm's GOGC; a running storm applies it at once.
func (w *workloads) setGCStormGOGC(gogc int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gcStormGOGC = gogc
	if w.loops[knobGCStorm] != nil {
		debug.SetGCPercent(gogc)
		w.gogc.Store(int64(gogc))
	}
}

// stopAll stops every knob's loop (restoring GOGC). Leaked goroutines stay leaked.
func (w *workloads) stopAll() {
	for _, knob := range []string{knobHealthy, knobLeak, knobGCStorm, knobHeapGrowth} {
		_ = w.set(knob, false) // known knobs: cannot fail
	}
}

// loop is one running background worker.
type loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startLoop(body func(context.Context)) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		body(ctx)
	}()
	return l
}

// stop cancels the worker and waits until it (and whatever it waits for) has returned.
func (l *loop) stop() {
	l.cancel()
	<-l.done
}

// knobState is the JSON state of the control endpoint, also published as the "demoapp" expvar.
type knobState struct {
	ServiceName string `json:"service_name"`
	Healthy     struct {
		On               bool  `json:"on"`
		ActiveGoroutines int64 `json:"active_goroutines"`
	} `json:"healthy"`
	Leak struct {
		On               bool  `json:"on"`
		Rate             int64 `json:"rate"`
		LeakedGoroutines int64 `json:"leaked_goroutines"`
		MaxLeak          int64 `json:"max_leak"`
	} `json:"leak"`
	GCStorm struct {
		On        bool `json:"on"`
		StormGOGC int  `json:"storm_gogc"`
	} `json:"gcstorm"`
	HeapGrowth struct {
		On            bool  `json:"on"`
		Rate          int64 `json:"rate"`
		RetainedBytes int64 `json:"retained_bytes"`
		MaxHeap       int64 `json:"max_heap"`
	} `json:"heapgrowth"`
	GOGC       int64 `json:"gogc"`
	Goroutines int   `json:"goroutines"`
}

func (w *workloads) state() knobState {
	s := knobState{ServiceName: w.serviceName}
	w.mu.Lock()
	s.Healthy.On = w.loops[knobHealthy] != nil
	s.Leak.On = w.loops[knobLeak] != nil
	s.GCStorm.On = w.loops[knobGCStorm] != nil
	s.GCStorm.StormGOGC = w.gcStormGOGC
	s.HeapGrowth.On = w.loops[knobHeapGrowth] != nil
	w.mu.Unlock()
	s.Healthy.ActiveGoroutines = w.healthyActive.Load()
	s.Leak.Rate = w.leakRate.Load()
	s.Leak.LeakedGoroutines = w.leaked.Load()
	s.Leak.MaxLeak = w.maxLeak
	s.HeapGrowth.Rate = w.heapGrowthRate.Load()
	s.HeapGrowth.RetainedBytes = w.cache.size()
	s.HeapGrowth.MaxHeap = w.maxHeap
	s.GOGC = w.gogc.Load()
	s.Goroutines = numGoroutine()
	return s
}

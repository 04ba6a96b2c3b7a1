package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListeningLineAndShutdown(t *testing.T) {
	bin := plainBuild.binary(t)

	t.Run("SIGTERM shuts down gracefully", func(t *testing.T) {
		p := startDemoapp(t, bin, "-mode", "healthy,leak,gcstorm,heapgrowth", "-heap-growth-rate", "1MiB")
		if s := p.state(); !s.Healthy.On || !s.Leak.On || !s.GCStorm.On || !s.HeapGrowth.On {
			t.Fatalf("-mode healthy,leak,gcstorm,heapgrowth: state %+v, want every knob on", s)
		}
		if err := p.stop(); err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0\nstderr:\n%s", err, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), "msg=stopped") {
			t.Errorf("stderr lacks the stopped log line:\n%s", p.stderr)
		}
	})

	t.Run("duration ends the process by itself", func(t *testing.T) {
		p := startDemoapp(t, bin, "-mode", "idle", "-duration", "300ms")
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			t.Fatalf("demoapp still running %s after -duration 300ms", stopTimeout)
		}
		if code := exitCode(p.waitErr); code != 0 {
			t.Fatalf("exit code %d after -duration, want 0\nstderr:\n%s", code, p.stderr)
		}
	})

	t.Run("bad flag exits 1 with a message", func(t *testing.T) {
		out, err := execOutput(bin, "-mode", "idle,leak")
		if exitCode(err) != 1 || !strings.Contains(out, "idle cannot be combined") {
			t.Fatalf("-mode idle,leak: exit %d, output %q; want exit 1 naming the problem", exitCode(err), out)
		}
	})
}

func TestLeakKnob(t *testing.T) {
	p := startDemoapp(t, plainBuild.binary(t), "-mode", "idle", "-leak-rate", "500")
	baseline := profileTotalCount(t, p.profileText("goroutine"))
	if s := p.state(); s.Leak.On || s.Leak.LeakedGoroutines != 0 || s.Leak.Rate != 500 {
		t.Fatalf("idle start: leak state %+v, want off, 0 leaked, rate 500", s.Leak)
	}
	if got := stackCount(p.profileText("goroutine"), "main.leakyHandlerWorker"); got != 0 {
		t.Fatalf("idle: %d leakyHandlerWorker goroutines before the knob is on", got)
	}

	p.control(knobLeak, "on=true&rate=2000")
	var text string
	eventually(t, "goroutine profile shows at least 500 leaked goroutines", func() (bool, string) {
		text = p.profileText("goroutine")
		leaking := stackCount(text, "main.leakyHandlerWorker")
		total := profileTotalCount(t, text)
		return leaking >= 500 && total >= baseline+500, fmt.Sprintf("total %d (baseline %d), leakyHandlerWorker %d", total, baseline, leaking)
	})
	// debug=2 (panic-style stacks) also names the function that started each goroutine.
	if full := p.mustGet("/debug/pprof/goroutine?debug=2"); !strings.Contains(full, "created by main.abandonLeakyRequest") {
		t.Errorf("goroutine?debug=2 does not name the leak's call site main.abandonLeakyRequest")
	}

	off := p.control(knobLeak, "on=false")
	if off.Leak.On || off.Leak.Rate != 2000 {
		t.Fatalf("after on=false: leak state %+v, want off with rate 2000", off.Leak)
	}
	// Let several leak ticks pass: the count must not move, and the leaked goroutines stay.
	time.Sleep(10 * leakTick)
	after := p.state().Leak.LeakedGoroutines
	if after != off.Leak.LeakedGoroutines {
		t.Fatalf("leaked goroutines went from %d to %d after the knob was turned off", off.Leak.LeakedGoroutines, after)
	}
	text = p.profileText("goroutine")
	if got := stackCount(text, "main.leakyHandlerWorker"); int64(got) != after {
		t.Fatalf("goroutine profile shows %d leakyHandlerWorker goroutines, state says %d leaked; leaked goroutines must stay", got, after)
	}
}

func TestLeakKnobIsCapped(t *testing.T) {
	p := startDemoapp(t, plainBuild.binary(t), "-mode", "leak", "-leak-rate", "5000", "-max-leak", "300")
	eventually(t, "leak reaches -max-leak", func() (bool, string) {
		s := p.state()
		return s.Leak.LeakedGoroutines >= 300, fmt.Sprintf("leaked %d", s.Leak.LeakedGoroutines)
	})
	time.Sleep(10 * leakTick)
	if s := p.state(); !s.Leak.On || s.Leak.LeakedGoroutines != 300 {
		t.Fatalf("leak state %+v, want on and exactly 300 leaked (the cap)", s.Leak)
	}
	if got := stackCount(p.profileText("goroutine"), "main.leakyHandlerWorker"); got != 300 {
		t.Fatalf("goroutine profile shows %d leakyHandlerWorker goroutines, want 300", got)
	}
}

func TestGCStormKnob(t *testing.T) {
	p := startDemoapp(t, plainBuild.binary(t), "-mode", "idle")
	if s := p.state(); s.GOGC != 100 || s.GCStorm.StormGOGC != 5 {
		t.Fatalf("idle start: GOGC %d, storm GOGC %d; want 100 and the default 5", s.GOGC, s.GCStorm.StormGOGC)
	}
	// Let the storm run for stormCycles GC cycles, then count the cycles of an equally long
	// stretch without it: counts are compared, not durations.
	const stormCycles = 40
	on := p.control(knobGCStorm, "on=true")
	if !on.GCStorm.On || on.GOGC != 5 {
		t.Fatalf("after on=true: gcstorm on=%v GOGC=%d, want on with GOGC 5", on.GCStorm.On, on.GOGC)
	}
	stormStart, stormFrom := p.memStat("NumGC"), time.Now()
	eventually(t, "the storm runs GC cycles", func() (bool, string) {
		n := p.memStat("NumGC") - stormStart
		return n >= stormCycles, fmt.Sprintf("%d GC cycles since the storm started", n)
	})
	stormTime := time.Since(stormFrom)
	eventually(t, "heap profile names the storm's allocation site", func() (bool, string) {
		return stackCount(p.profileText("heap"), "main.gcStormChurn") > 0, "no main.gcStormChurn record"
	})

	off := p.control(knobGCStorm, "on=false")
	if off.GCStorm.On || off.GOGC != 100 {
		t.Fatalf("after on=false: gcstorm on=%v GOGC=%d, want off with GOGC restored to 100", off.GCStorm.On, off.GOGC)
	}
	idleStart := p.memStat("NumGC")
	time.Sleep(stormTime)
	idleGCs := p.memStat("NumGC") - idleStart
	t.Logf("storm: %d GC cycles in %s; after it: %d in the same time", stormCycles, stormTime, idleGCs)
	if idleGCs*5 > stormCycles {
		t.Fatalf("%d GC cycles without the storm vs %d with it in the same time; want the storm at least 5x faster", idleGCs, stormCycles)
	}
}

func TestHeapGrowthKnob(t *testing.T) {
	const maxHeap = 64 << 20
	p := startDemoapp(t, plainBuild.binary(t), "-mode", "idle", "-max-heap", "64MiB")
	before := p.memStat("HeapInuse")

	on := p.control(knobHeapGrowth, "on=true&rate=128MiB")
	if !on.HeapGrowth.On || on.HeapGrowth.Rate != 128<<20 {
		t.Fatalf("after on=true&rate=128MiB: %+v", on.HeapGrowth)
	}
	eventually(t, "retained bytes reach -max-heap", func() (bool, string) {
		s := p.state()
		return s.HeapGrowth.RetainedBytes == maxHeap, fmt.Sprintf("retained %d", s.HeapGrowth.RetainedBytes)
	})
	grown := p.memStat("HeapInuse")
	if grown < before+maxHeap*15/16 {
		t.Fatalf("HeapInuse %d -> %d with %d bytes retained; want it to grow by about the retained amount", before, grown, maxHeap)
	}
	eventually(t, "heap profile names the retaining function", func() (bool, string) {
		return stackCount(p.profileText("heap"), "main.cacheGrowthRetain") > 0, "no main.cacheGrowthRetain record"
	})
	time.Sleep(2 * heapGrowthTick)
	if s := p.state(); s.HeapGrowth.RetainedBytes != maxHeap {
		t.Fatalf("retained %d bytes after reaching the cap, want it to stay at %d", s.HeapGrowth.RetainedBytes, maxHeap)
	}

	off := p.control(knobHeapGrowth, "on=false&release=true")
	if off.HeapGrowth.On || off.HeapGrowth.RetainedBytes != 0 {
		t.Fatalf("after on=false&release=true: %+v, want off and nothing retained", off.HeapGrowth)
	}
	// gc=1 makes the heap endpoint run a GC first, so the released memory is freed.
	released := memStatField(t, p.mustGet("/debug/pprof/heap?debug=1&gc=1"), "HeapInuse")
	if released > grown-maxHeap/2 {
		t.Fatalf("HeapInuse %d after release and GC, was %d with 64 MiB retained; want it to drop", released, grown)
	}
}

func TestHealthyModeIsNoisyButNotALeak(t *testing.T) {
	p := startDemoapp(t, plainBuild.binary(t)) // default -mode healthy
	s := p.state()
	if !s.Healthy.On || s.Leak.On || s.GCStorm.On || s.HeapGrowth.On {
		t.Fatalf("default mode: state %+v, want only healthy on", s)
	}
	var counts []int
	sawHandler := false
	for range 40 {
		text := p.profileText("goroutine")
		counts = append(counts, profileTotalCount(t, text))
		sawHandler = sawHandler || stackCount(text, "main.handleHealthyRequest") > 0
		if stackCount(text, "main.leakyHandlerWorker") > 0 {
			t.Fatalf("healthy mode has leakyHandlerWorker goroutines")
		}
		time.Sleep(pollEvery)
	}
	lo, hi, falls := counts[0], counts[0], 0
	for i, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
		if i > 0 && c < counts[i-1] {
			falls++
		}
	}
	t.Logf("goroutine totals: %v", counts)
	if !sawHandler {
		t.Errorf("no sample showed main.handleHealthyRequest goroutines: the workload is not running")
	}
	if hi-lo < 5 || falls < 3 {
		t.Errorf("goroutine count range %d..%d with %d falls; want a noisy count that rises and falls", lo, hi, falls)
	}
	if hi > 1000 {
		t.Errorf("goroutine count reached %d; a healthy burst workload should stay in the tens", hi)
	}
	if end := p.state(); end.Leak.LeakedGoroutines != 0 || end.GOGC != 100 {
		t.Errorf("healthy mode: leaked %d, GOGC %d; want 0 and 100", end.Leak.LeakedGoroutines, end.GOGC)
	}
}

func TestEndpointsCanBeSwitchedOff(t *testing.T) {
	bin := plainBuild.binary(t)

	t.Run("all on", func(t *testing.T) {
		p := startDemoapp(t, bin, "-mode", "idle", "-service-name", "checkout")
		metrics := p.mustGet("/metrics")
		for _, want := range []string{
			"\ngo_goroutines ", "\ngo_gc_duration_seconds{", "\ngo_memstats_heap_inuse_bytes ",
			"\ndemoapp_info{service_name=\"checkout\"} 1", "\ndemoapp_leaked_goroutines 0",
			"\ndemoapp_knob_enabled{knob=\"leak\"} 0", "\ndemoapp_gogc 100",
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
			}
		}
		var vars struct {
			ServiceName string          `json:"service_name"`
			Demoapp     knobState       `json:"demoapp"`
			Memstats    json.RawMessage `json:"memstats"`
			Cmdline     []string        `json:"cmdline"`
		}
		if err := json.Unmarshal([]byte(p.mustGet("/debug/vars")), &vars); err != nil {
			t.Fatalf("/debug/vars is not JSON: %v", err)
		}
		if vars.ServiceName != "checkout" || vars.Demoapp.ServiceName != "checkout" || len(vars.Memstats) == 0 || len(vars.Cmdline) == 0 {
			t.Errorf("/debug/vars: service_name %q, demoapp.service_name %q, memstats %d bytes, cmdline %q",
				vars.ServiceName, vars.Demoapp.ServiceName, len(vars.Memstats), vars.Cmdline)
		}
		if body := p.mustGet("/debug/pprof/"); !strings.Contains(body, "goroutine") {
			t.Errorf("/debug/pprof/ index does not list the goroutine profile")
		}
		p.mustGet("/debug/pprof/cmdline")
		// Without the experiment the leak profile does not exist.
		if status, _ := p.get("/debug/pprof/goroutineleak?debug=1"); status != http.StatusNotFound {
			t.Errorf("plain build: /debug/pprof/goroutineleak = %d, want 404", status)
		}
	})

	t.Run("all off", func(t *testing.T) {
		p := startDemoapp(t, bin, "-mode", "idle", "-pprof=false", "-metrics=false", "-expvar=false")
		for _, path := range []string{"/metrics", "/debug/vars", "/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
			if status, _ := p.get(path); status != http.StatusNotFound {
				t.Errorf("GET %s = %d with the endpoint switched off, want 404", path, status)
			}
		}
		// Control still works.
		if s := p.control(knobHealthy, "on=true"); !s.Healthy.On {
			t.Errorf("control/healthy on=true did not turn healthy on: %+v", s.Healthy)
		}
	})
}

func TestGoroutineLeakProfile(t *testing.T) {
	p := startDemoapp(t, leakBuild.binary(t), "-mode", "healthy,leak", "-leak-rate", "2000", "-max-leak", "400")
	eventually(t, "leak reaches -max-leak", func() (bool, string) {
		s := p.state()
		return s.Leak.LeakedGoroutines == 400, fmt.Sprintf("leaked %d", s.Leak.LeakedGoroutines)
	})
	var text string
	eventually(t, "goroutineleak profile reports the leaked goroutines", func() (bool, string) {
		text = p.profileText("goroutineleak")
		total := profileTotalCount(t, text)
		leaking := stackCount(text, "main.leakyHandlerWorker")
		return total >= 400 && leaking == 400, fmt.Sprintf("total %d, leakyHandlerWorker %d", total, leaking)
	})
	if !strings.HasPrefix(text, "goroutineleak profile:") {
		t.Errorf("profile header %.60q, want \"goroutineleak profile: total N\"", text)
	}
	// The healthy workload's goroutines are blocked only briefly and must not be reported.
	if n := stackCount(text, "main.handleHealthyRequest"); n != 0 {
		t.Errorf("goroutineleak profile reports %d healthy request goroutines as leaked", n)
	}
}

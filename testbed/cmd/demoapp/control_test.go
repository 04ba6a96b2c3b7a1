package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, cfg config) (*httptest.Server, *workloads) {
	t.Helper()
	w := newWorkloads(cfg)
	mux, err := newMux(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		w.stopAll()
	})
	return srv, w
}

func defaultTestConfig(t *testing.T) config {
	t.Helper()
	cfg, err := parseConfig([]string{"-mode", "idle"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestControlRejectsBadInput(t *testing.T) {
	srv, w := newTestServer(t, defaultTestConfig(t))
	tests := []struct {
		method, path string
		wantStatus   int
		wantMessage  string
	}{
		{"POST", "/control/bogus?on=true", 400, "unknown knob"},
		{"POST", "/control/state?on=true", 400, "unknown knob"},
		{"POST", "/control/leak", 400, "exactly one on=true|false"},
		{"POST", "/control/leak?on=maybe", 400, "not a boolean"},
		{"POST", "/control/leak?on=true&on=false", 400, "exactly one"},
		{"POST", "/control/leak?on=true&rate=0", 400, "between 1 and"},
		{"POST", "/control/leak?on=true&rate=abc", 400, "between 1 and"},
		{"POST", "/control/leak?on=true&rate=1000001", 400, "between 1 and"},
		{"POST", "/control/heapgrowth?on=true&rate=-5", 400, "bytes per second"},
		{"POST", "/control/heapgrowth?on=true&rate=2GiB", 400, "bytes per second"},
		{"POST", "/control/heapgrowth?on=true&release=true", 400, "release=true together with on=false"},
		{"POST", "/control/healthy?on=true&rate=5", 400, "does not take parameter \"rate\""},
		{"POST", "/control/gcstorm?on=true&gogc=0", 400, "positive GOGC"},
		{"POST", "/control/gcstorm?on=true&gogc=x", 400, "positive GOGC"},
		{"GET", "/control/leak?on=true", 405, ""},
		{"PUT", "/control/state", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantMessage) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantMessage)
			}
		})
	}
	s := w.state()
	if s.Healthy.On || s.Leak.On || s.GCStorm.On || s.HeapGrowth.On || s.Leak.Rate != defaultLeakRate ||
		s.HeapGrowth.Rate != defaultHeapGrowthRate || s.GCStorm.StormGOGC != defaultGCStormGOGC {
		t.Fatalf("bad requests changed the state: %+v", s)
	}
}

func TestControlChangesKnobs(t *testing.T) {
	srv, w := newTestServer(t, defaultTestConfig(t))
	gogcBefore := debug.SetGCPercent(100)
	debug.SetGCPercent(gogcBefore)

	post := func(path string) knobState {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %q", path, resp.StatusCode, body)
		}
		return decodeState(t, body)
	}

	s := post("/control/gcstorm?on=true&gogc=20")
	if !s.GCStorm.On || s.GCStorm.StormGOGC != 20 || s.GOGC != 20 {
		t.Fatalf("gcstorm on with gogc=20: %+v GOGC %d", s.GCStorm, s.GOGC)
	}
	if got := debug.SetGCPercent(20); got != 20 {
		t.Fatalf("runtime GOGC %d while the storm runs, want 20", got)
	}
	s = post("/control/gcstorm?on=false")
	if s.GCStorm.On || s.GOGC != int64(gogcBefore) {
		t.Fatalf("gcstorm off: %+v GOGC %d, want GOGC restored to %d", s.GCStorm, s.GOGC, gogcBefore)
	}
	if got := debug.SetGCPercent(gogcBefore); got != gogcBefore {
		t.Fatalf("runtime GOGC %d after the storm, want %d restored", got, gogcBefore)
	}

	s = post("/control/heapgrowth?on=true&rate=64KiB")
	if !s.HeapGrowth.On || s.HeapGrowth.Rate != 64<<10 {
		t.Fatalf("heapgrowth on with rate=64KiB: %+v", s.HeapGrowth)
	}
	s = post("/control/healthy?on=true")
	if !s.Healthy.On {
		t.Fatalf("healthy on: %+v", s.Healthy)
	}
	// Turning a knob on twice is harmless.
	post("/control/healthy?on=true")
	w.mu.Lock()
	running := len(w.loops)
	w.mu.Unlock()
	if n := running; n != 2 {
		t.Fatalf("%d running loops, want 2 (heapgrowth, healthy)", n)
	}
	s = post("/control/healthy?on=false")
	s = post("/control/heapgrowth?on=false")
	if s.Healthy.On || s.HeapGrowth.On || s.Healthy.ActiveGoroutines != 0 {
		t.Fatalf("after turning everything off: %+v", s)
	}
}

// TestRunStopsEveryWorker runs the whole program in-process; goleak (TestMain) then proves that
// shutdown stopped every worker and server goroutine. The leak knob is left out on purpose.
func TestRunStopsEveryWorker(t *testing.T) {
	gogcBefore := debug.SetGCPercent(100)
	debug.SetGCPercent(gogcBefore)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-mode", "healthy,gcstorm,heapgrowth", "-max-heap", "1MiB"}, stdout, stderr)
	}()
	select {
	case <-stdout.firstLine:
	case err := <-done:
		t.Fatalf("run returned before listening: %v\n%s", err, stderr)
	case <-time.After(startTimeout):
		t.Fatalf("no listening line\n%s", stderr)
	}
	if !strings.HasPrefix(stdout.first(), "demoapp listening on 127.0.0.1:") {
		t.Fatalf("stdout %q", stdout)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("run did not return after cancel\n%s", stderr)
	}
	if got := debug.SetGCPercent(gogcBefore); got != gogcBefore {
		t.Fatalf("GOGC %d after run, want %d restored", got, gogcBefore)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

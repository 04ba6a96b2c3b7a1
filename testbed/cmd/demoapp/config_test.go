package main

import (
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(config) bool
		wantErr string
	}{
		{name: "defaults", args: nil, check: func(c config) bool {
			return c.listen == defaultListen && c.pprof && c.metrics && c.expvar && c.serviceName == "demoapp" &&
				slices.Equal(c.modes, []string{knobHealthy}) && c.leakRate == 50 && c.heapGrowthRate == 1<<20 &&
				c.gcStormGOGC == 5 && c.maxLeak == 200000 && c.maxHeap == 1<<30 && c.duration == 0
		}},
		{name: "mode list", args: []string{"-mode", "leak, gcstorm,leak"}, check: func(c config) bool {
			return slices.Equal(c.modes, []string{knobLeak, knobGCStorm})
		}},
		{name: "idle", args: []string{"-mode", "idle"}, check: func(c config) bool { return len(c.modes) == 0 }},
		{name: "byte sizes", args: []string{"-heap-growth-rate", "4MiB", "-max-heap", "2GiB"}, check: func(c config) bool {
			return c.heapGrowthRate == 4<<20 && c.maxHeap == 2<<30
		}},
		{name: "switches and duration", args: []string{"-pprof=false", "-metrics=false", "-expvar=false", "-duration", "2s"}, check: func(c config) bool {
			return !c.pprof && !c.metrics && !c.expvar && c.duration == 2*time.Second
		}},
		{name: "idle combined", args: []string{"-mode", "idle,leak"}, wantErr: "idle cannot be combined"},
		{name: "unknown mode", args: []string{"-mode", "chaos"}, wantErr: `unknown mode "chaos"`},
		{name: "empty mode", args: []string{"-mode", " , "}, wantErr: "empty mode list"},
		{name: "zero leak rate", args: []string{"-leak-rate", "0"}, wantErr: "-leak-rate must be > 0"},
		{name: "zero gogc", args: []string{"-gcstorm-gogc", "0"}, wantErr: "-gcstorm-gogc must be > 0"},
		{name: "negative duration", args: []string{"-duration", "-1s"}, wantErr: "-duration must be >= 0"},
		{name: "bad byte size", args: []string{"-max-heap", "lots"}, wantErr: "invalid byte size"},
		{name: "positional argument", args: []string{"extra"}, wantErr: "flags only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%q): %v", tt.args, err)
			}
			if !tt.check(cfg) {
				t.Fatalf("parseConfig(%q) = %+v", tt.args, cfg)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"512KiB", 512 << 10, true}, {"4 MiB", 4 << 20, true},
		{"1GiB", 1 << 30, true}, {"10MB", 10_000_000, true}, {"7B", 7, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"1TiB", 0, false}, {"9999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestPacerSpreadsTheRate(t *testing.T) {
	p := newPacer()
	start := p.last
	var total int64
	for i := 1; i <= 50; i++ {
		total += p.due(start.Add(time.Duration(i)*20*time.Millisecond), 50) // 1 s in 20 ms ticks
	}
	if total != 50 {
		t.Fatalf("50/s over 1 s of ticks released %d events, want 50", total)
	}
	if n := p.due(start.Add(time.Hour), 1000); n != 1000 {
		t.Fatalf("after a long stall released %d events, want the 1 s catch-up cap (1000)", n)
	}
}

func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

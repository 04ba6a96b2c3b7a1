// Command recorder runs the demo service (testbed/cmd/demoapp) through scenarios (healthy, leaks of two speeds,
// heap growth, GC storm, restart) and records its Go runtime metrics, scraped from its Prometheus /metrics endpoint
// and its goroutineleak profile, into the JSON fixtures the readiness processor's tests replay.
//
// Run from the repository root:
//
//	go run ./processor/readinessprocessor/testdata/recorder -out processor/readinessprocessor/testdata/series
//
// Time is compressed: the service is scraped every -interval of real time, and each sample is labelled with
// the elapsed real time multiplied by -time-scale, so a few minutes of recording cover the windows the rules use.
// Goroutine counts and retained heap do not depend on the clock; GC cycles per labelled minute are the real rate
// divided by the scale (the fixture records the scale).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample matches runtimeSample in the processor's tests.
type sample struct {
	OffsetMillis   int64   `json:"t_ms"`
	Goroutines     float64 `json:"goroutines"`
	GCCycles       float64 `json:"gc_cycles"`
	GCPauseSeconds float64 `json:"gc_pause_seconds"`
	GCCPUFraction  float64 `json:"gc_cpu_fraction"`
	HeapInuse      float64 `json:"heap_inuse"`
	HeapAlloc      float64 `json:"heap_alloc"`
	NextGC         float64 `json:"next_gc"`
	MemoryLimit    float64 `json:"memory_limit"`
	Leaked         float64 `json:"leaked"`
}

type recording struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description"`
	TimeScale   float64  `json:"time_scale"`
	Samples     []sample `json:"samples"`
}

// step acts on the demo service before sample `at` is taken.
type step struct {
	at     int
	action string // "restart" or a control path with query, e.g. "leak?on=true&rate=20"
}

type scenario struct {
	name        string
	description string
	samples     int
	steps       []step
}

var scenarios = []scenario{
	{name: "healthy", samples: 100,
		description: "healthy knob only: request bursts make the goroutine count jump between about 10 and 90, GC at a normal pace"},
	{name: "leak_fast", samples: 80, steps: []step{{at: 40, action: "leak?on=true&rate=20"}},
		description: "healthy, then from sample 40 a leak of 20 goroutines per real second (20 per sample)"},
	{name: "leak_slow", samples: 100, steps: []step{{at: 40, action: "leak?on=true&rate=2"}},
		description: "healthy, then from sample 40 a leak of 2 goroutines per real second (2 per sample)"},
	{name: "heapgrowth", samples: 80, steps: []step{{at: 40, action: "heapgrowth?on=true&rate=1MiB"}},
		description: "healthy, then from sample 40 the heap retains 1 MiB per real second (1 MiB per sample)"},
	{name: "gcstorm", samples: 90, steps: []step{{at: 45, action: "gcstorm?on=true"}, {at: 65, action: "gcstorm?on=false"}},
		description: "healthy, GC storm (GOGC=5, 48 MB/s of garbage) from sample 45 to sample 65"},
	{name: "restart", samples: 100, steps: []step{{at: 50, action: "restart"}},
		description: "healthy, the process restarts before sample 50 (counters reset, start-up ramp)"},
}

func main() {
	out := flag.String("out", "processor/readinessprocessor/testdata/series", "directory for the fixtures")
	only := flag.String("scenario", "", "comma list of scenarios to record (default: all)")
	interval := flag.Duration("interval", time.Second, "real time between two scrapes")
	scale := flag.Float64("time-scale", 15, "labelled time per real time")
	demoapp := flag.String("demoapp", "", "demoapp binary (default: built from ./testbed/cmd/demoapp with GOEXPERIMENT=goroutineleakprofile)")
	flag.Parse()

	bin := *demoapp
	if bin == "" {
		dir, err := os.MkdirTemp("", "recorder")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "demoapp")
		build := exec.Command("go", "build", "-o", bin, "./testbed/cmd/demoapp")
		build.Env = append(os.Environ(), "GOEXPERIMENT=goroutineleakprofile")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("building demoapp (run from the repository root): %v", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, sc := range scenarios {
		if *only != "" && !strings.Contains(","+*only+",", ","+sc.name+",") {
			continue
		}
		log.Printf("recording %s (%d samples)", sc.name, sc.samples)
		rec, err := record(bin, sc, *interval, *scale)
		if err != nil {
			log.Fatalf("%s: %v", sc.name, err)
		}
		data, err := json.MarshalIndent(rec, "", " ")
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, sc.name+".json"), append(data, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func record(bin string, sc scenario, interval time.Duration, scale float64) (recording, error) {
	rec := recording{Scenario: sc.name, Description: sc.description, TimeScale: scale}
	d, err := startDemo(bin)
	if err != nil {
		return rec, err
	}
	defer func() { d.stop() }()
	begin := time.Now()
	next := begin
	for i := 0; i < sc.samples; i++ {
		for _, st := range sc.steps {
			if st.at != i {
				continue
			}
			if st.action == "restart" {
				d.stop()
				if d, err = startDemo(bin); err != nil {
					return rec, err
				}
				continue
			}
			if err := d.control(st.action); err != nil {
				return rec, err
			}
		}
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		s, err := d.scrape()
		if err != nil {
			return rec, fmt.Errorf("sample %d: %w", i, err)
		}
		s.OffsetMillis = int64(float64(time.Since(begin).Milliseconds()) * scale)
		rec.Samples = append(rec.Samples, s)
	}
	return rec, nil
}

type demo struct {
	cmd  *exec.Cmd
	base string
}

func startDemo(bin string) (*demo, error) {
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-mode", "healthy", "-duration", "10m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("reading demoapp's address: %w", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "demoapp listening on ")
	if !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("unexpected first line %q", line)
	}
	return &demo{cmd: cmd, base: "http://" + addr}, nil
}

func (d *demo) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

func (d *demo) control(action string) error {
	resp, err := http.Post(d.base+"/control/"+action, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("control %s: %s: %s", action, resp.Status, body)
	}
	return nil
}

var leakTotal = regexp.MustCompile(`profile: total (\d+)`)

func (d *demo) scrape() (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := sample{Leaked: -1}
	families, err := d.metrics(ctx)
	if err != nil {
		return s, err
	}
	value := func(name string) float64 {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		}
		return 0
	}
	s.Goroutines = value("go_goroutines")
	if f, ok := families["go_gc_duration_seconds"]; ok && len(f.GetMetric()) > 0 {
		sum := f.GetMetric()[0].GetSummary()
		s.GCCycles = float64(sum.GetSampleCount())
		s.GCPauseSeconds = sum.GetSampleSum()
	}
	s.HeapInuse = value("go_memstats_heap_inuse_bytes")
	s.HeapAlloc = value("go_memstats_heap_alloc_bytes")
	s.NextGC = value("go_memstats_next_gc_bytes")
	s.MemoryLimit = value("go_gc_gomemlimit_bytes")
	s.GCCPUFraction = value("go_memstats_gc_cpu_fraction")
	if s.Goroutines == 0 || s.HeapInuse == 0 {
		return s, errors.New("the Go runtime metrics are missing from /metrics")
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/debug/pprof/goroutineleak?debug=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		head, _ := bufio.NewReader(resp.Body).ReadString('\n')
		if m := leakTotal.FindStringSubmatch(head); m != nil {
			s.Leaked, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return s, nil
}

func (d *demo) metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

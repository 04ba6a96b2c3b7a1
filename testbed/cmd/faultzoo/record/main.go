// Command record runs faultzoo shapes in real time and records their Go runtime series into JSON fixtures for the
// readiness processor's unit tests (testbed/cmd/faultzoo/testdata/series/<shape>.json).
//
// Run from the repository root (the shapes run in parallel; the run takes -duration of wall time, little CPU):
//
//	go run ./testbed/cmd/faultzoo/record -duration 8m
//
// Unlike processor/readinessprocessor/testdata/recorder, time is not compressed (time_scale 1): every -interval
// (10 s, the shipped scrape interval) it reads what pprofscrape reads: the goroutine count from the pprof index,
// runtime.MemStats from expvar /debug/vars, go_gc_gomemlimit_bytes from /metrics, goroutine?debug=1 (per-function
// counts, first frame outside the runtime, sync and internal packages), and once a minute goroutineleak?debug=1
// (each read forces a GC cycle, as pprofscrape's default goroutine_leak_interval of 1m does).
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-ready/otelcol-ready/pkg/gostack"
)

// sample has the fields of the processor recorder's sample plus total_alloc and sites.
type sample struct {
	OffsetMillis   int64            `json:"t_ms"`
	Goroutines     float64          `json:"goroutines"`
	GCCycles       float64          `json:"gc_cycles"`
	GCPauseSeconds float64          `json:"gc_pause_seconds"`
	GCCPUFraction  float64          `json:"gc_cpu_fraction"`
	HeapInuse      float64          `json:"heap_inuse"`
	HeapAlloc      float64          `json:"heap_alloc"`
	NextGC         float64          `json:"next_gc"`
	MemoryLimit    float64          `json:"memory_limit"`
	Leaked         float64          `json:"leaked"`
	TotalAlloc     float64          `json:"total_alloc"`
	Sites          map[string]int64 `json:"sites"`
}

type recording struct {
	Scenario       string   `json:"scenario"`
	Description    string   `json:"description"`
	TimeScale      float64  `json:"time_scale"`
	IntervalMillis int64    `json:"interval_ms"`
	Kind           string   `json:"kind"`
	OnsetMillis    int64    `json:"onset_ms"`
	RestartMillis  int64    `json:"restart_ms,omitempty"`
	ExpectedSites  []string `json:"expected_sites,omitempty"`
	Samples        []sample `json:"samples"`
}

// label is one service of labels.yaml.
type label struct {
	Name         string        `yaml:"name"`
	Shape        string        `yaml:"shape"`
	Onset        time.Duration `yaml:"onset"`
	Kind         string        `yaml:"kind"`
	Sites        []string      `yaml:"sites"`
	RestartAfter time.Duration `yaml:"restart_after"`
}

// maxSites bounds the functions kept per sample (biggest counts), to keep the fixtures small.
const maxSites = 12

func main() {
	out := flag.String("out", "testbed/cmd/faultzoo/testdata/series", "directory for the fixtures")
	labelsPath := flag.String("labels", "testbed/cmd/faultzoo/labels.yaml", "labels of the shapes to record")
	only := flag.String("shape", "", "comma list of shapes to record (default: all in labels)")
	interval := flag.Duration("interval", 10*time.Second, "time between two samples")
	duration := flag.Duration("duration", 8*time.Minute, "recording time per shape")
	bin := flag.String("faultzoo", "", "faultzoo binary (default: built from ./testbed/cmd/faultzoo with GOEXPERIMENT=goroutineleakprofile)")
	flag.Parse()

	labels, err := readLabels(*labelsPath)
	if err != nil {
		log.Fatal(err)
	}
	if *bin == "" {
		dir, err := os.MkdirTemp("", "faultzoo-record")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*bin = filepath.Join(dir, "faultzoo")
		build := exec.Command("go", "build", "-o", *bin, "./testbed/cmd/faultzoo")
		build.Env = append(os.Environ(), "GOEXPERIMENT=goroutineleakprofile")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("building faultzoo (run from the repository root): %v", err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	failed := make(chan error, len(labels))
	for i, l := range labels {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), l.Shape) {
			continue
		}
		wg.Go(func() {
			log.Printf("recording %s for %s", l.Shape, *duration)
			rec, err := record(*bin, l, uint64(i+1), *interval, *duration)
			if err != nil {
				failed <- fmt.Errorf("%s: %w", l.Shape, err)
				return
			}
			data, err := json.MarshalIndent(rec, "", " ")
			if err == nil {
				err = os.WriteFile(filepath.Join(*out, l.Shape+".json"), append(data, '\n'), 0o644)
			}
			if err != nil {
				failed <- fmt.Errorf("%s: %w", l.Shape, err)
				return
			}
			log.Printf("wrote %s (%d samples)", l.Shape, len(rec.Samples))
		})
	}
	wg.Wait()
	close(failed)
	code := 0
	for err := range failed {
		log.Print(err)
		code = 1
	}
	os.Exit(code)
}

func readLabels(path string) ([]label, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading labels: %w", err)
	}
	var doc struct {
		Services []label `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return doc.Services, nil
}

func record(bin string, l label, seed uint64, interval, duration time.Duration) (recording, error) {
	rec := recording{
		Scenario: l.Shape, TimeScale: 1, IntervalMillis: interval.Milliseconds(), Kind: l.Kind,
		OnsetMillis: l.Onset.Milliseconds(), ExpectedSites: l.Sites,
		Description: fmt.Sprintf("faultzoo -shape %s -onset %s, sampled every %s in real time", l.Shape, l.Onset, interval),
	}
	restartAt := time.Duration(0)
	if l.RestartAfter > 0 {
		restartAt = min(l.RestartAfter, duration/2)
		rec.RestartMillis = restartAt.Milliseconds()
		rec.Description += fmt.Sprintf("; the process is killed and started again after %s (counters reset)", restartAt)
	}
	z, err := startZoo(bin, "127.0.0.1:0", l, seed, duration)
	if err != nil {
		return rec, err
	}
	defer func() { z.stop() }()
	begin := time.Now()
	lastLeakRead := time.Time{}
	leaked := -1.0
	for i := 0; ; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if at.Sub(begin) > duration {
			break
		}
		if restartAt > 0 && at.Sub(begin) >= restartAt {
			restartAt = 0
			addr := z.addr
			z.kill()
			// The same port, as a restarted pod keeps its address.
			if z, err = startZoo(bin, addr, l, seed, duration); err != nil {
				return rec, fmt.Errorf("restart: %w", err)
			}
		}
		time.Sleep(time.Until(at))
		if time.Since(lastLeakRead) >= time.Minute {
			if v, err := z.leakedGoroutines(); err == nil {
				leaked, lastLeakRead = v, time.Now()
			}
		}
		s, err := z.scrape()
		if err != nil {
			return rec, fmt.Errorf("sample %d: %w", i, err)
		}
		s.Leaked = leaked
		s.OffsetMillis = time.Since(begin).Milliseconds()
		rec.Samples = append(rec.Samples, s)
	}
	return rec, nil
}

type zooProcess struct {
	cmd  *exec.Cmd
	addr string
	base string
}

func startZoo(bin, listen string, l label, seed uint64, duration time.Duration) (*zooProcess, error) {
	cmd := exec.Command(bin, "-listen", listen, "-shape", l.Shape, "-onset", l.Onset.String(),
		"-seed", strconv.FormatUint(seed, 10), "-duration", (duration + time.Minute).String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting faultzoo: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "faultzoo listening on ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("faultzoo printed %q instead of its address: %v", line, err)
	}
	return &zooProcess{cmd: cmd, addr: addr, base: "http://" + addr}, nil
}

func (z *zooProcess) kill() {
	_ = z.cmd.Process.Kill()
	_ = z.cmd.Wait()
}

func (z *zooProcess) stop() {
	_ = z.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = z.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = z.cmd.Process.Kill()
		<-done
	}
}

func (z *zooProcess) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, z.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

var (
	indexGoroutines = regexp.MustCompile(`<td>(\d+)</td><td><a href='goroutine\?debug=1'>goroutine</a>`)
	leakTotal       = regexp.MustCompile(`profile: total (\d+)`)
	memLimitLine    = regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)
)

func (z *zooProcess) scrape() (sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var s sample
	index, err := z.get(ctx, "/debug/pprof/")
	if err != nil {
		return s, err
	}
	m := indexGoroutines.FindSubmatch(index)
	if m == nil {
		return s, errors.New("no goroutine count in the pprof index")
	}
	s.Goroutines, _ = strconv.ParseFloat(string(m[1]), 64)

	vars, err := z.get(ctx, "/debug/vars")
	if err != nil {
		return s, err
	}
	var ev struct {
		MemStats struct {
			NumGC         float64
			PauseTotalNs  float64
			HeapInuse     float64
			HeapAlloc     float64
			NextGC        float64
			TotalAlloc    float64
			GCCPUFraction float64
		} `json:"memstats"`
	}
	if err := json.Unmarshal(vars, &ev); err != nil {
		return s, fmt.Errorf("decoding /debug/vars: %w", err)
	}
	ms := ev.MemStats
	s.GCCycles, s.GCPauseSeconds, s.GCCPUFraction = ms.NumGC, ms.PauseTotalNs/1e9, ms.GCCPUFraction
	s.HeapInuse, s.HeapAlloc, s.NextGC, s.TotalAlloc = ms.HeapInuse, ms.HeapAlloc, ms.NextGC, ms.TotalAlloc

	metrics, err := z.get(ctx, "/metrics")
	if err != nil {
		return s, err
	}
	if m := memLimitLine.FindSubmatch(metrics); m != nil {
		s.MemoryLimit, _ = strconv.ParseFloat(string(m[1]), 64)
	}

	dump, err := z.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return s, err
	}
	s.Sites = topSites(goroutineSites(dump), maxSites)
	return s, nil
}

func (z *zooProcess) leakedGoroutines() (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	b, err := z.get(ctx, "/debug/pprof/goroutineleak?debug=1")
	if err != nil {
		return -1, err
	}
	m := leakTotal.FindSubmatch(b)
	if m == nil {
		return -1, errors.New("no total in the goroutineleak profile")
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// goroutineSites counts goroutines per site in a goroutine?debug=1 dump, a site being the owner of the stack by
// gostack.Owner: the rule pprofscrape's pprofscrape.goroutine.site.count uses, so the recordings name sites as the
// collector does (a goroutine blocked in sync.(*Mutex).Lock counts for the function that called Lock; one blocked
// reading an unclosed response body for net/http.(*persistConn).readLoop).
func goroutineSites(dump []byte) map[string]int64 {
	sites := map[string]int64{}
	var (
		count  int64
		frames []string
	)
	flush := func() {
		switch {
		case count == 0:
		case len(frames) == 0:
			sites["(unknown)"] += count // no symbolised frame
		default:
			owner, _ := gostack.Owner(len(frames), func(i int) string { return frames[i] }, gostack.GoroutineStacks)
			sites[frames[owner]] += count
		}
		count, frames = 0, frames[:0]
	}
	for line := range strings.SplitSeq(string(dump), "\n") {
		if n, rest, ok := strings.Cut(line, " @ "); ok && rest != "" && !strings.HasPrefix(line, "#") {
			if c, err := strconv.ParseInt(n, 10, 64); err == nil {
				flush()
				count = c
				continue
			}
		}
		if !strings.HasPrefix(line, "#\t0x") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		fn := fields[2]
		if i := strings.LastIndex(fn, "+0x"); i > 0 {
			fn = fn[:i]
		}
		frames = append(frames, fn)
	}
	flush()
	return sites
}

// topSites keeps the n biggest sites and adds the rest up under "(other)".
func topSites(sites map[string]int64, n int) map[string]int64 {
	names := make([]string, 0, len(sites))
	for name := range sites {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if sites[a] != sites[b] {
			return int(sites[b] - sites[a])
		}
		return strings.Compare(a, b)
	})
	out := map[string]int64{}
	for i, name := range names {
		if i < n {
			out[name] = sites[name]
		} else {
			out["(other)"] += sites[name]
		}
	}
	return out
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Knob names, shared by -mode, the control endpoint and the state report.
const (
	knobHealthy    = "healthy"
	knobLeak       = "leak"
	knobGCStorm    = "gcstorm"
	knobHeapGrowth = "heapgrowth"
	modeIdle       = "idle"
)

const (
	defaultListen         = "127.0.0.1:6060"
	defaultServiceName    = "demoapp"
	defaultLeakRate       = 50
	defaultHeapGrowthRate = 1 << 20
	defaultGCStormGOGC    = 5
	defaultMaxLeak        = 200000
	defaultMaxHeap        = 1 << 30
)

// config is the parsed command line.
type config struct {
	listen         string
	pprof          bool
	metrics        bool
	expvar         bool
	serviceName    string
	modes          []string
	leakRate       int
	heapGrowthRate byteSize
	gcStormGOGC    int
	maxLeak        int
	maxHeap        byteSize
	duration       time.Duration
}

// parseConfig parses the command line (without the program name).
func parseConfig(args []string, output io.Writer) (config, error) {
	cfg := config{heapGrowthRate: defaultHeapGrowthRate, maxHeap: defaultMaxHeap}
	var mode string
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.listen, "listen", defaultListen, "address to serve HTTP on (port 0 picks a free port)")
	fs.BoolVar(&cfg.pprof, "pprof", true, "serve net/http/pprof under /debug/pprof/")
	fs.BoolVar(&cfg.metrics, "metrics", true, "serve Prometheus metrics under /metrics")
	fs.BoolVar(&cfg.expvar, "expvar", true, "serve expvar under /debug/vars")
	fs.StringVar(&cfg.serviceName, "service-name", defaultServiceName, "service name reported in expvar and metrics")
	fs.StringVar(&mode, "mode", knobHealthy, "comma list of initial knobs: healthy, leak, gcstorm, heapgrowth, or idle alone")
	fs.IntVar(&cfg.leakRate, "leak-rate", defaultLeakRate, "goroutines leaked per second while the leak knob is on")
	fs.Var(&cfg.heapGrowthRate, "heap-growth-rate", "bytes retained per second while heapgrowth is on (e.g. 1048576, 512KiB, 4MiB)")
	fs.IntVar(&cfg.gcStormGOGC, "gcstorm-gogc", defaultGCStormGOGC, "GOGC used while gcstorm is on")
	fs.IntVar(&cfg.maxLeak, "max-leak", defaultMaxLeak, "cap on the number of leaked goroutines")
	fs.Var(&cfg.maxHeap, "max-heap", "cap on bytes retained by heapgrowth (e.g. 1GiB)")
	fs.DurationVar(&cfg.duration, "duration", 0, "exit after this long (0 runs until SIGINT/SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q: demoapp takes flags only", fs.Args())
	}
	modes, err := parseModes(mode)
	if err != nil {
		return config{}, fmt.Errorf("-mode: %w", err)
	}
	cfg.modes = modes
	return cfg, cfg.Validate()
}

// Validate names the bad flag and what would be accepted.
func (c config) Validate() error {
	var errs []error
	if c.listen == "" {
		errs = append(errs, errors.New("-listen must not be empty (use 127.0.0.1:0 for a free port)"))
	}
	if c.serviceName == "" {
		errs = append(errs, errors.New("-service-name must not be empty"))
	}
	if c.leakRate <= 0 {
		errs = append(errs, fmt.Errorf("-leak-rate must be > 0, got %d", c.leakRate))
	}
	if c.heapGrowthRate <= 0 {
		errs = append(errs, fmt.Errorf("-heap-growth-rate must be > 0, got %d", c.heapGrowthRate))
	}
	if c.gcStormGOGC <= 0 {
		errs = append(errs, fmt.Errorf("-gcstorm-gogc must be > 0 (a low value such as 5 makes GC run often), got %d", c.gcStormGOGC))
	}
	if c.maxLeak < 0 {
		errs = append(errs, fmt.Errorf("-max-leak must be >= 0, got %d", c.maxLeak))
	}
	if c.maxHeap < 0 {
		errs = append(errs, fmt.Errorf("-max-heap must be >= 0, got %d", c.maxHeap))
	}
	if c.duration < 0 {
		errs = append(errs, fmt.Errorf("-duration must be >= 0 (0 runs until a signal), got %s", c.duration))
	}
	return errors.Join(errs...)
}

// parseModes splits the -mode list. "idle" means no knob on and cannot be combined.
func parseModes(s string) ([]string, error) {
	var modes []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		m := strings.TrimSpace(part)
		switch m {
		case "":
			continue
		case knobHealthy, knobLeak, knobGCStorm, knobHeapGrowth, modeIdle:
		default:
			return nil, fmt.Errorf("unknown mode %q: use a comma list of healthy, leak, gcstorm, heapgrowth, or idle alone", m)
		}
		if !seen[m] {
			seen[m] = true
			modes = append(modes, m)
		}
	}
	if len(modes) == 0 {
		return nil, errors.New("empty mode list: use healthy, leak, gcstorm, heapgrowth, or idle")
	}
	if seen[modeIdle] {
		if len(modes) > 1 {
			return nil, fmt.Errorf("mode idle cannot be combined with %q", modes)
		}
		return nil, nil
	}
	return modes, nil
}

// byteSize is a flag value in bytes that also accepts KiB/MiB/GiB and KB/MB/GB suffixes.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

var byteSuffixes = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// parseByteSize parses "1048576", "512KiB", "4MiB", "1GiB" (and decimal KB/MB/GB).
func parseByteSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, bs := range byteSuffixes {
		if num, ok := strings.CutSuffix(s, bs.suffix); ok {
			s, factor = strings.TrimSpace(num), bs.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q: use a whole number of bytes, optionally with KiB, MiB or GiB", orig)
	}
	if n < 0 {
		return 0, fmt.Errorf("byte size %q must not be negative", orig)
	}
	if n > (1<<62)/factor {
		return 0, fmt.Errorf("byte size %q is too large", orig)
	}
	return n * factor, nil
}

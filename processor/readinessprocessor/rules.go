package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// rule is a validated rule with every default resolved.
type rule struct {
	index    int
	name     string
	kind     string
	severity string
	cooldown time.Duration
	window   time.Duration

	capture      bool
	annotate     bool
	captureKinds []pprofcaptureextension.Kind
	captureDur   time.Duration
	followUp     time.Duration

	// gc_frequency
	maxPerMinute         float64
	baselineMultiple     float64
	baselineWarmup       time.Duration
	minBaselinePerMinute float64
	maxCPUFraction       float64
	maxPausePerMinute    float64 // seconds of pause per minute
	nearMemoryLimitRatio float64
	clearRatio           float64

	// goroutine_growth, heap_growth
	signals           []signal // first one present is used
	minValue          float64
	minGrowth         float64
	minRelativeGrowth float64
	significance      float64
	minPoints         int
	leakedThreshold   float64

	// threshold
	metric     string
	attributes map[string]string
	comparator comparator
	value      float64
	forDur     time.Duration
}

type comparator func(a, b float64) bool

var comparators = map[string]comparator{
	">":  func(a, b float64) bool { return a > b },
	">=": func(a, b float64) bool { return a >= b },
	"<":  func(a, b float64) bool { return a < b },
	"<=": func(a, b float64) bool { return a <= b },
	"==": func(a, b float64) bool { return a == b },
	"!=": func(a, b float64) bool { return a != b },
}

const (
	defaultGCWindow       = 2 * time.Minute
	defaultGrowthWindow   = 5 * time.Minute
	defaultCooldown       = 10 * time.Minute
	defaultSeverity       = "warning"
	defaultClearRatio     = 0.8
	defaultSignificance   = 0.01
	defaultMinPoints      = 8
	defaultMemLimitRatio  = 0.9
	defaultMinBaselineGC  = 10
	defaultGoroutineMin   = 50
	defaultGoroutineGrow  = 20
	defaultHeapMin        = 16 << 20
	defaultHeapGrow       = 8 << 20
	defaultRelativeGrowth = 0.2
)

// compileRules validates the rules of cfg and resolves their defaults.
func compileRules(cfg *Config) ([]*rule, error) {
	var errs []error
	names := map[string]int{}
	rules := make([]*rule, 0, len(cfg.Rules))
	for i := range cfg.Rules {
		r, err := compileRule(cfg, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := names[r.name]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate rule name, also used by rules[%d]", ruleField(i, r.name, "name"), prev))
			continue
		}
		names[r.name] = i
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

func compileRule(cfg *Config, i int) (*rule, error) {
	rc := cfg.Rules[i]
	p := rc.Params
	field := func(f string) string { return ruleField(i, rc.Name, f) }
	if rc.Name == "" {
		return nil, fmt.Errorf("%s: every rule needs a name", field("name"))
	}
	r := &rule{
		index:    i,
		name:     rc.Name,
		kind:     rc.Kind,
		severity: orDefault(rc.Severity, defaultSeverity),
		cooldown: rc.Cooldown,
		window:   rc.Window,
	}
	if rc.Cooldown < 0 {
		return nil, fmt.Errorf("%s: must not be negative", field("cooldown"))
	}
	if rc.Cooldown == 0 {
		r.cooldown = defaultCooldown
	}
	if err := compileActions(r, rc, field); err != nil {
		return nil, err
	}
	if p.ClearRatio < 0 || p.ClearRatio > 1 {
		return nil, fmt.Errorf("%s: must be in (0, 1], e.g. 0.8", field("params.clear_ratio"))
	}
	r.clearRatio = orDefaultF(p.ClearRatio, defaultClearRatio)

	switch rc.Kind {
	case KindGCFrequency:
		if err := compileGCFrequency(cfg, r, rc, field); err != nil {
			return nil, err
		}
	case KindGoroutineGrowth, KindHeapGrowth:
		if err := compileGrowth(cfg, r, rc, field); err != nil {
			return nil, err
		}
	case KindThreshold:
		if err := compileThreshold(r, rc, field); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("%s: missing; use one of gc_frequency, goroutine_growth, heap_growth, threshold", field("kind"))
	default:
		return nil, fmt.Errorf("%s: unknown kind %q; use one of gc_frequency, goroutine_growth, heap_growth, threshold", field("kind"), rc.Kind)
	}
	if rc.Kind != KindThreshold && (p.Metric != "" || p.Comparator != "" || p.Value != nil || len(p.Attributes) > 0 || p.For != 0) {
		return nil, fmt.Errorf("%s: metric, attributes, comparator, value and for apply only to kind threshold", field("params"))
	}
	return r, nil
}

func compileActions(r *rule, rc RuleConfig, field func(string) string) error {
	actions := rc.Actions
	if len(actions) == 0 {
		actions = []string{ActionAnnotate}
	}
	for j, a := range actions {
		switch a {
		case ActionCapture:
			r.capture = true
		case ActionAnnotate:
			r.annotate = true
		default:
			return fmt.Errorf("%s: unknown action %q; use capture or annotate", field(fmt.Sprintf("actions[%d]", j)), a)
		}
	}
	if rc.Capture.Duration < 0 {
		return fmt.Errorf("%s: must not be negative", field("capture.duration"))
	}
	r.captureDur = rc.Capture.Duration
	if rc.Capture.FollowUp < 0 {
		return fmt.Errorf("%s: must not be negative", field("capture.follow_up"))
	}
	r.followUp = rc.Capture.FollowUp
	r.captureKinds = rc.Capture.Kinds
	if len(r.captureKinds) == 0 {
		if rc.Kind == KindGoroutineGrowth {
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineDelta, pprofcaptureextension.KindHeap}
		} else {
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindHeap}
		}
	}
	for j, k := range r.captureKinds {
		switch k {
		case pprofcaptureextension.KindHeap, pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineDelta,
			pprofcaptureextension.KindGoroutineLeak, pprofcaptureextension.KindCPU:
		default:
			return fmt.Errorf("%s: unknown capture kind %q; use heap, goroutine, goroutine_delta, goroutineleak or cpu", field(fmt.Sprintf("capture.kinds[%d]", j)), k)
		}
	}
	return nil
}

func compileWindow(cfg *Config, r *rule, def time.Duration, field func(string) string) error {
	if r.window == 0 {
		r.window = def
	}
	if r.window < 0 {
		return fmt.Errorf("%s: must be positive", field("window"))
	}
	if r.window < cfg.EvaluationInterval {
		return fmt.Errorf("%s: %s is shorter than evaluation_interval %s; use a window of several intervals", field("window"), r.window, cfg.EvaluationInterval)
	}
	return nil
}

func compileGCFrequency(cfg *Config, r *rule, rc RuleConfig, field func(string) string) error {
	p := rc.Params
	if err := compileWindow(cfg, r, defaultGCWindow, field); err != nil {
		return err
	}
	if p.MaxPerMinute <= 0 && p.BaselineMultiple <= 0 && p.MaxCPUFraction <= 0 && p.MaxPausePerMinute <= 0 {
		return fmt.Errorf("%s: missing threshold; set at least one of max_per_minute, baseline_multiple, max_cpu_fraction, max_pause_per_minute", field("params"))
	}
	if p.MaxPerMinute < 0 || p.BaselineMultiple < 0 || p.MaxCPUFraction < 0 || p.MaxPausePerMinute < 0 || p.MinBaselinePerMinute < 0 || p.BaselineWarmup < 0 {
		return fmt.Errorf("%s: thresholds must not be negative", field("params"))
	}
	if p.BaselineMultiple > 0 && p.BaselineMultiple <= 1 {
		return fmt.Errorf("%s: must be greater than 1 (e.g. 5)", field("params.baseline_multiple"))
	}
	if p.MaxCPUFraction > 1 {
		return fmt.Errorf("%s: is a fraction in (0, 1]", field("params.max_cpu_fraction"))
	}
	if p.NearMemoryLimitRatio < 0 || p.NearMemoryLimitRatio > 1 {
		return fmt.Errorf("%s: must be in (0, 1], e.g. 0.9", field("params.near_memory_limit_ratio"))
	}
	if p.Signal != "" || p.MinValue != 0 || p.MinGrowth != 0 || p.MinRelativeGrowth != 0 || p.Significance != 0 || p.MinPoints != 0 || p.LeakedThreshold != nil {
		return fmt.Errorf("%s: signal, min_value, min_growth, min_relative_growth, significance, min_points and leaked_threshold apply only to goroutine_growth and heap_growth", field("params"))
	}
	r.maxPerMinute = p.MaxPerMinute
	r.baselineMultiple = p.BaselineMultiple
	r.baselineWarmup = p.BaselineWarmup
	if r.baselineWarmup == 0 {
		r.baselineWarmup = 3 * r.window
	}
	r.minBaselinePerMinute = orDefaultF(p.MinBaselinePerMinute, defaultMinBaselineGC)
	r.maxCPUFraction = p.MaxCPUFraction
	r.maxPausePerMinute = p.MaxPausePerMinute.Seconds()
	r.nearMemoryLimitRatio = orDefaultF(p.NearMemoryLimitRatio, defaultMemLimitRatio)
	return nil
}

func compileGrowth(cfg *Config, r *rule, rc RuleConfig, field func(string) string) error {
	p := rc.Params
	if err := compileWindow(cfg, r, defaultGrowthWindow, field); err != nil {
		return err
	}
	if p.MaxPerMinute != 0 || p.BaselineMultiple != 0 || p.MaxCPUFraction != 0 || p.MaxPausePerMinute != 0 || p.BaselineWarmup != 0 || p.MinBaselinePerMinute != 0 || p.NearMemoryLimitRatio != 0 {
		return fmt.Errorf("%s: max_per_minute, baseline_*, max_cpu_fraction, max_pause_per_minute and near_memory_limit_ratio apply only to gc_frequency", field("params"))
	}
	if p.MinValue < 0 || p.MinGrowth < 0 || p.MinRelativeGrowth < 0 || p.MinPoints < 0 {
		return fmt.Errorf("%s: min_value, min_growth, min_relative_growth and min_points must not be negative", field("params"))
	}
	if p.Significance < 0 || p.Significance >= 0.5 {
		return fmt.Errorf("%s: must be in (0, 0.5), e.g. 0.01", field("params.significance"))
	}
	r.significance = orDefaultF(p.Significance, defaultSignificance)
	r.minPoints = p.MinPoints
	if r.minPoints == 0 {
		r.minPoints = defaultMinPoints
	}
	if r.minPoints < 4 {
		return fmt.Errorf("%s: must be at least 4", field("params.min_points"))
	}
	r.minRelativeGrowth = orDefaultF(p.MinRelativeGrowth, defaultRelativeGrowth)
	if rc.Kind == KindGoroutineGrowth {
		if p.Signal != "" && p.Signal != "goroutines" {
			return fmt.Errorf("%s: goroutine_growth reads the goroutines signal only", field("params.signal"))
		}
		r.signals = []signal{sigGoroutines}
		r.minValue = orDefaultF(p.MinValue, defaultGoroutineMin)
		r.minGrowth = orDefaultF(p.MinGrowth, defaultGoroutineGrow)
		r.leakedThreshold = 1
		if p.LeakedThreshold != nil {
			if *p.LeakedThreshold < 0 {
				return fmt.Errorf("%s: must not be negative (0 disables)", field("params.leaked_threshold"))
			}
			r.leakedThreshold = *p.LeakedThreshold
		}
		return nil
	}
	if p.LeakedThreshold != nil {
		return fmt.Errorf("%s: applies only to goroutine_growth", field("params.leaked_threshold"))
	}
	switch p.Signal {
	case "":
		r.signals = []signal{sigHeapInuse, sigHeapAlloc, sigMemoryUsed}
	case "heap_inuse":
		r.signals = []signal{sigHeapInuse}
	case "heap_alloc":
		r.signals = []signal{sigHeapAlloc}
	case "memory_used":
		r.signals = []signal{sigMemoryUsed}
	default:
		return fmt.Errorf("%s: unknown signal %q for heap_growth; use heap_inuse, heap_alloc or memory_used", field("params.signal"), p.Signal)
	}
	r.minValue = orDefaultF(p.MinValue, defaultHeapMin)
	r.minGrowth = orDefaultF(p.MinGrowth, defaultHeapGrow)
	return nil
}

func compileThreshold(r *rule, rc RuleConfig, field func(string) string) error {
	p := rc.Params
	if rc.Window != 0 {
		return fmt.Errorf("%s: threshold rules use params.for, not window", field("window"))
	}
	if p.Metric == "" {
		return fmt.Errorf("%s: missing metric name", field("params.metric"))
	}
	if p.Comparator == "" {
		return fmt.Errorf("%s: missing; use one of >, >=, <, <=, ==, !=", field("params.comparator"))
	}
	cmp, ok := comparators[p.Comparator]
	if !ok {
		return fmt.Errorf("%s: unknown comparator %q; use one of >, >=, <, <=, ==, !=", field("params.comparator"), p.Comparator)
	}
	if p.Value == nil {
		return fmt.Errorf("%s: missing threshold value", field("params.value"))
	}
	if p.For < 0 {
		return fmt.Errorf("%s: must not be negative", field("params.for"))
	}
	if p.MaxPerMinute != 0 || p.BaselineMultiple != 0 || p.Signal != "" || p.MinValue != 0 || p.MinGrowth != 0 || p.Significance != 0 || p.LeakedThreshold != nil {
		return fmt.Errorf("%s: threshold rules take metric, attributes, comparator, value and for only", field("params"))
	}
	r.metric = p.Metric
	r.attributes = p.Attributes
	r.comparator = cmp
	r.value = *p.Value
	r.forDur = p.For
	return nil
}

// longestWindow is how much history the rules need.
func longestWindow(rules []*rule) time.Duration {
	var w time.Duration
	for _, r := range rules {
		w = max(w, r.window)
	}
	return w
}

// usedSignals lists the signals some rule reads (others are not stored).
func usedSignals(rules []*rule) [numSignals]bool {
	var used [numSignals]bool
	for _, r := range rules {
		switch r.kind {
		case KindGCFrequency:
			used[sigGCCycles] = true
			used[sigGCPauseTotal] = true
			used[sigGCCPUFraction] = true
			used[sigHeapGoal] = true
			used[sigMemoryLimit] = true
			used[sigMemoryUsed] = true
		case KindGoroutineGrowth:
			used[sigGoroutines] = true
			used[sigGoroutinesLeaked] = true
			// Cumulative counters reveal process restarts.
			used[sigGCCycles] = true
		case KindHeapGrowth:
			for _, s := range r.signals {
				used[s] = true
			}
			used[sigGCCycles] = true
		}
	}
	return used
}

func (r *rule) wantsCapture(kind pprofcaptureextension.Kind) bool {
	return slices.Contains(r.captureKinds, kind)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultF(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

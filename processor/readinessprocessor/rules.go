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

	capture bool
	// captureIfAvailable: a default rule captures when the collector has a pprofcapture extension and only
	// annotates otherwise (explicit rules with the capture action require one).
	captureIfAvailable bool
	annotate           bool
	notify             bool // episodes go to the notify targets
	captureKinds       []pprofcaptureextension.Kind
	captureDur         time.Duration
	followUp           time.Duration

	// gc_frequency
	minPerMinute         float64
	maxAllocRatio        float64
	maxPerMinute         float64
	baselineMultiple     float64
	baselineWarmup       time.Duration
	minBaselinePerMinute float64
	maxCPUFraction       float64
	maxPausePerMinute    float64 // seconds of pause per minute
	nearMemoryLimitRatio float64
	clearRatio           float64

	// goroutine_growth, heap_growth
	signals         []signal // first one present is used
	minValue        float64
	rise            riseConfig
	siteRise        riseConfig // goroutine_growth: one call site's goroutines (pprofscrape stacks)
	riseWideFloor   riseConfig // heap_growth on a signal with a GC sawtooth
	leakedThreshold float64

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
	defaultGCWindow       = 30 * time.Second
	defaultGrowthWindow   = 16 * time.Minute
	defaultMinHorizon     = time.Minute
	defaultCooldown       = 10 * time.Minute
	defaultSeverity       = "warning"
	defaultClearRatio     = 0.8
	defaultSignificance   = 0.02
	defaultMinPoints      = 6
	defaultSustainRatio   = 0.6
	defaultMemLimitRatio  = 0.9
	defaultMinBaselineGC  = 10
	defaultBaselineMult   = 4
	defaultBaselineWarmup = time.Minute
	defaultMinGCPerMinute = 30
	defaultMaxAllocRatio  = 0.15
	defaultMaxPause       = time.Second
	defaultGoroutineMin   = 50
	defaultGoroutineGrow  = 20
	defaultGoroutineRel   = 0.5
	defaultSiteGrow       = 10
	defaultSiteRel        = 0.5
	defaultSiteMinHorizon = 2 * time.Minute
	defaultSiteSignif     = 0.005
	defaultHeapMin        = 8 << 20
	defaultHeapGrow       = 4 << 20
	defaultHeapRel        = 0.1
	// Heap signals other than the heap goal rise and fall with every GC: their floor is the minimum over this span.
	heapFloorSpan = 2 * time.Minute
)

// defaultRules are what `readiness: {}` runs: the three runtime rules, capturing when a pprofcapture extension
// is there.
func defaultRules() []RuleConfig {
	actions := []string{ActionCapture, ActionAnnotate}
	return []RuleConfig{
		{Name: "goroutine-leak", Kind: KindGoroutineGrowth, Severity: "critical", Actions: actions},
		{Name: "heap-growth", Kind: KindHeapGrowth, Actions: actions},
		{Name: "gc-storm", Kind: KindGCFrequency, Actions: actions},
	}
}

// compileRules validates the rules of cfg and resolves their defaults.
func compileRules(cfg *Config) ([]*rule, error) {
	var errs []error
	names := map[string]int{}
	configured, defaults := cfg.Rules, false
	if len(configured) == 0 {
		configured, defaults = defaultRules(), true
	}
	rules := make([]*rule, 0, len(configured))
	for i := range configured {
		r, err := compileRule(cfg, configured[i], i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := names[r.name]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate rule name, also used by rules[%d]", ruleField(i, r.name, "name"), prev))
			continue
		}
		names[r.name] = i
		if defaults && r.capture {
			r.capture, r.captureIfAvailable = false, true
		}
		if defaults && cfg.Notify.enabled() {
			r.notify = true
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

func compileRule(cfg *Config, rc RuleConfig, i int) (*rule, error) {
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
	if r.notify && !cfg.Notify.enabled() {
		return nil, fmt.Errorf("%s: the notify action needs a target; set notify.alertmanager.endpoint or notify.webhook.endpoint, or remove notify", field("actions"))
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
		case ActionNotify:
			r.notify = true
		default:
			return fmt.Errorf("%s: unknown action %q; use capture, annotate or notify", field(fmt.Sprintf("actions[%d]", j)), a)
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
		switch rc.Kind {
		case KindGoroutineGrowth:
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineDelta, pprofcaptureextension.KindHeap}
		case KindGCFrequency:
			// What allocates during the storm names its cause; the live heap's top does not.
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindAllocsDelta, pprofcaptureextension.KindHeap}
		case KindHeapGrowth:
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindHeapDelta, pprofcaptureextension.KindHeap}
		default:
			r.captureKinds = []pprofcaptureextension.Kind{pprofcaptureextension.KindHeap}
		}
	}
	for j, k := range r.captureKinds {
		if !slices.Contains(pprofcaptureextension.Kinds(), k) {
			return fmt.Errorf("%s: unknown capture kind %q; use one of %v", field(fmt.Sprintf("capture.kinds[%d]", j)), k, pprofcaptureextension.Kinds())
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
	if p.MinPerMinute < 0 || p.MaxAllocRatio < 0 || p.MaxPerMinute < 0 || p.BaselineMultiple < 0 || p.MaxCPUFraction < 0 ||
		p.MaxPausePerMinute < 0 || p.MinBaselinePerMinute < 0 || p.BaselineWarmup < 0 {
		return fmt.Errorf("%s: thresholds must not be negative", field("params"))
	}
	if p.BaselineMultiple > 0 && p.BaselineMultiple <= 1 {
		return fmt.Errorf("%s: must be greater than 1 (e.g. 4)", field("params.baseline_multiple"))
	}
	if p.MaxAllocRatio >= 1 {
		return fmt.Errorf("%s: is a share of the heap goal in (0, 1), e.g. 0.15", field("params.max_alloc_per_cycle_ratio"))
	}
	if p.MaxCPUFraction > 1 {
		return fmt.Errorf("%s: is a fraction in (0, 1]", field("params.max_cpu_fraction"))
	}
	if p.NearMemoryLimitRatio < 0 || p.NearMemoryLimitRatio > 1 {
		return fmt.Errorf("%s: must be in (0, 1], e.g. 0.9", field("params.near_memory_limit_ratio"))
	}
	if p.Signal != "" || p.MinValue != 0 || p.MinGrowth != 0 || p.MinRelativeGrowth != 0 || p.Significance != 0 || p.MinPoints != 0 ||
		p.LeakedThreshold != nil || p.MinHorizon != 0 || p.SustainRatio != 0 || p.SiteMinGrowth != 0 {
		return fmt.Errorf("%s: signal, min_value, min_growth, min_relative_growth, significance, min_points, min_horizon, sustain_ratio, site_min_growth and leaked_threshold apply only to goroutine_growth and heap_growth", field("params"))
	}
	r.minPerMinute = orDefaultF(p.MinPerMinute, defaultMinGCPerMinute)
	r.maxAllocRatio = orDefaultF(p.MaxAllocRatio, defaultMaxAllocRatio)
	r.maxPerMinute = p.MaxPerMinute
	r.baselineMultiple = orDefaultF(p.BaselineMultiple, defaultBaselineMult)
	r.baselineWarmup = p.BaselineWarmup
	if r.baselineWarmup == 0 {
		r.baselineWarmup = defaultBaselineWarmup
	}
	r.minBaselinePerMinute = orDefaultF(p.MinBaselinePerMinute, defaultMinBaselineGC)
	r.maxCPUFraction = p.MaxCPUFraction
	r.maxPausePerMinute = p.MaxPausePerMinute.Seconds()
	if p.MaxPausePerMinute == 0 {
		r.maxPausePerMinute = defaultMaxPause.Seconds()
	}
	r.nearMemoryLimitRatio = orDefaultF(p.NearMemoryLimitRatio, defaultMemLimitRatio)
	return nil
}

// horizonsUpTo doubles from the shortest horizon up to the window (included).
func horizonsUpTo(shortest, window time.Duration) []time.Duration {
	var hs []time.Duration
	for h := shortest; h < window; h *= 2 {
		hs = append(hs, h)
	}
	return append(hs, window)
}

func compileGrowth(cfg *Config, r *rule, rc RuleConfig, field func(string) string) error {
	p := rc.Params
	if err := compileWindow(cfg, r, defaultGrowthWindow, field); err != nil {
		return err
	}
	if p.MinPerMinute != 0 || p.MaxAllocRatio != 0 || p.MaxPerMinute != 0 || p.BaselineMultiple != 0 || p.MaxCPUFraction != 0 ||
		p.MaxPausePerMinute != 0 || p.BaselineWarmup != 0 || p.MinBaselinePerMinute != 0 || p.NearMemoryLimitRatio != 0 {
		return fmt.Errorf("%s: min_per_minute, max_alloc_per_cycle_ratio, max_per_minute, baseline_*, max_cpu_fraction, max_pause_per_minute and near_memory_limit_ratio apply only to gc_frequency", field("params"))
	}
	if p.MinValue < 0 || p.MinGrowth < 0 || p.MinRelativeGrowth < 0 || p.MinPoints < 0 || p.MinHorizon < 0 || p.SiteMinGrowth < 0 {
		return fmt.Errorf("%s: min_value, min_growth, min_relative_growth, min_points, min_horizon and site_min_growth must not be negative", field("params"))
	}
	if p.Significance < 0 || p.Significance >= 0.5 {
		return fmt.Errorf("%s: must be in (0, 0.5), e.g. 0.02", field("params.significance"))
	}
	if p.SustainRatio < 0 || p.SustainRatio >= 1 {
		return fmt.Errorf("%s: must be in (0, 1), e.g. 0.6", field("params.sustain_ratio"))
	}
	minHorizon := p.MinHorizon
	if minHorizon == 0 {
		minHorizon = min(defaultMinHorizon, r.window)
	}
	if minHorizon > r.window {
		return fmt.Errorf("%s: %s is longer than window %s", field("params.min_horizon"), minHorizon, r.window)
	}
	if minHorizon < 3*cfg.EvaluationInterval/2 {
		return fmt.Errorf("%s: %s holds too few evaluations of evaluation_interval %s; use at least %s", field("params.min_horizon"), minHorizon, cfg.EvaluationInterval, 3*cfg.EvaluationInterval/2)
	}
	r.rise = riseConfig{
		horizons:     horizonsUpTo(minHorizon, r.window),
		minPoints:    p.MinPoints,
		significance: orDefaultF(p.Significance, defaultSignificance),
		sustainRatio: orDefaultF(p.SustainRatio, defaultSustainRatio),
	}
	if r.rise.minPoints == 0 {
		r.rise.minPoints = defaultMinPoints
	}
	if r.rise.minPoints < 4 {
		return fmt.Errorf("%s: must be at least 4", field("params.min_points"))
	}
	if rc.Kind == KindGoroutineGrowth {
		if p.Signal != "" && p.Signal != "goroutines" {
			return fmt.Errorf("%s: goroutine_growth reads the goroutines signal only", field("params.signal"))
		}
		r.signals = []signal{sigGoroutines}
		r.minValue = orDefaultF(p.MinValue, defaultGoroutineMin)
		r.rise.minGrowth = orDefaultF(p.MinGrowth, defaultGoroutineGrow)
		r.rise.minRelGrowth = orDefaultF(p.MinRelativeGrowth, defaultGoroutineRel)
		r.siteRise = riseConfig{
			horizons:     horizonsUpTo(min(max(minHorizon, defaultSiteMinHorizon), r.window), r.window),
			minPoints:    r.rise.minPoints,
			minGrowth:    orDefaultF(p.SiteMinGrowth, defaultSiteGrow),
			minRelGrowth: defaultSiteRel,
			significance: defaultSiteSignif,
			sustainRatio: r.rise.sustainRatio,
		}
		r.leakedThreshold = 1
		if p.LeakedThreshold != nil {
			if *p.LeakedThreshold < 0 {
				return fmt.Errorf("%s: must not be negative (0 disables)", field("params.leaked_threshold"))
			}
			r.leakedThreshold = *p.LeakedThreshold
		}
		return nil
	}
	if p.LeakedThreshold != nil || p.SiteMinGrowth != 0 {
		return fmt.Errorf("%s: leaked_threshold and site_min_growth apply only to goroutine_growth", field("params"))
	}
	switch p.Signal {
	case "":
		// The heap goal follows the live heap without the sawtooth of the heap between two GCs.
		r.signals = []signal{sigHeapGoal, sigHeapInuse, sigHeapAlloc, sigMemoryUsed}
	case "heap_goal":
		r.signals = []signal{sigHeapGoal}
	case "heap_inuse":
		r.signals = []signal{sigHeapInuse}
	case "heap_alloc":
		r.signals = []signal{sigHeapAlloc}
	case "memory_used":
		r.signals = []signal{sigMemoryUsed}
	default:
		return fmt.Errorf("%s: unknown signal %q for heap_growth; use heap_goal, heap_inuse, heap_alloc or memory_used", field("params.signal"), p.Signal)
	}
	r.minValue = orDefaultF(p.MinValue, defaultHeapMin)
	r.rise.minGrowth = orDefaultF(p.MinGrowth, defaultHeapGrow)
	r.rise.minRelGrowth = orDefaultF(p.MinRelativeGrowth, defaultHeapRel)
	r.riseWideFloor = r.rise
	r.riseWideFloor.floorSpan = heapFloorSpan
	return nil
}

// riseFor returns the rise configuration for the signal a growth rule reads: heap signals other than the goal
// need a wider floor.
func (r *rule) riseFor(sig signal) *riseConfig {
	if r.kind == KindHeapGrowth && sig != sigHeapGoal {
		return &r.riseWideFloor
	}
	return &r.rise
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
	if p.MaxPerMinute != 0 || p.MinPerMinute != 0 || p.MaxAllocRatio != 0 || p.BaselineMultiple != 0 || p.Signal != "" || p.MinValue != 0 ||
		p.MinGrowth != 0 || p.Significance != 0 || p.LeakedThreshold != nil || p.MinHorizon != 0 || p.SustainRatio != 0 || p.SiteMinGrowth != 0 {
		return fmt.Errorf("%s: threshold rules take metric, attributes, comparator, value and for only", field("params"))
	}
	r.metric = p.Metric
	r.attributes = p.Attributes
	r.comparator = cmp
	r.value = *p.Value
	r.forDur = p.For
	return nil
}

// signalRetention is how much history each signal needs for the rules that read it: windowed counters a little
// more than their window (a rate needs the sample before it), signals read for their last value only two
// evaluations.
func signalRetention(rules []*rule, cfg *Config) [numSignals]time.Duration {
	var keep [numSignals]time.Duration
	for i := range keep {
		keep[i] = cfg.MaxGap + 2*cfg.EvaluationInterval
	}
	need := func(sig signal, d time.Duration) { keep[sig] = max(keep[sig], d) }
	for _, r := range rules {
		switch r.kind {
		case KindGCFrequency:
			// The pause rate reads a minute at least; a rate needs the sample just before its window.
			w := max(r.window, time.Minute) + 3*cfg.EvaluationInterval
			need(sigGCCycles, w)
			need(sigGCPauseTotal, w)
			need(sigAllocBytes, w)
		case KindGoroutineGrowth, KindHeapGrowth:
			w := r.window + heapFloorSpan + 2*cfg.EvaluationInterval
			for _, sig := range r.signals {
				need(sig, w)
			}
		}
	}
	return keep
}

// fallbackOnlySignals marks the signals that every rule reading them reads only when the heap goal is absent (heap
// signals with the GC sawtooth): once a series sends its goal, they are not stored.
func fallbackOnlySignals(rules []*rule) [numSignals]bool {
	var fallback, primary [numSignals]bool
	for _, r := range rules {
		for i, sig := range r.signals {
			if i > 0 && r.signals[0] == sigHeapGoal {
				fallback[sig] = true
			} else {
				primary[sig] = true
			}
		}
	}
	for sig := range fallback {
		fallback[sig] = fallback[sig] && !primary[sig]
	}
	return fallback
}

// usedSignals lists the signals some rule reads (others are not stored).
func usedSignals(rules []*rule) [numSignals]bool {
	var used [numSignals]bool
	for _, r := range rules {
		switch r.kind {
		case KindGCFrequency:
			used[sigAllocBytes] = true
			used[sigGCCycles] = true
			used[sigGCPauseTotal] = true
			used[sigGCCPUFraction] = true
			used[sigHeapGoal] = true
			used[sigMemoryLimit] = true
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

// takesCaptures reports whether the rule's episodes request captures (when a capture broker is there).
func (r *rule) takesCaptures() bool { return r.capture || r.captureIfAvailable }

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

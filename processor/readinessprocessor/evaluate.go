package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"maps"
	"math"
	"strconv"
	"time"
)

// ruleState is the episode state of one rule for one series (or one attribute set of a threshold rule).
type ruleState struct {
	active   bool
	since    int64 // data time the episode started
	lastEnd  int64 // data time the last episode ended
	episodes int64
	details  map[string]string // values that started the current episode
	followed bool              // the follow-up capture of the current episode was requested
	clears   int               // consecutive clear verdicts of the active episode
}

// clearsToEnd is how many consecutive evaluations must agree that a windowed rule is clear before its episode ends.
const clearsToEnd = 2

// verdict is what one evaluation concluded.
type verdict int

const (
	verdictUnknown verdict = iota // not enough data: keep the state
	verdictFiring                 // the rule's condition holds
	verdictClear                  // the condition is below the clear (hysteresis) level
	verdictHold                   // between the fire and clear levels: keep the state
)

// transition is an episode start or end to act on.
type transition struct {
	series  *series
	rule    *rule
	start   bool
	at      int64
	details map[string]string
	reason  string
	// followUp marks the follow-up capture of an active episode (not a start or an end).
	followUp bool
}

// step applies a verdict; it returns true when the episode state changed.
// need is the number of consecutive clear verdicts that end an episode.
func (st *ruleState) step(v verdict, now int64, cooldown time.Duration, need int) (started, ended bool) {
	switch {
	case !st.active && v == verdictFiring:
		if st.lastEnd != 0 && now-st.lastEnd < int64(cooldown) {
			return false, false
		}
		st.active = true
		st.since = now
		st.episodes++
		st.followed = false
		st.clears = 0
		return true, false
	case st.active && v == verdictClear:
		st.clears++
		if st.clears < need {
			return false, false
		}
		st.active = false
		st.lastEnd = now
		return false, true
	case st.active && v != verdictUnknown:
		st.clears = 0
	}
	return false, false
}

// gcBaseline is the learned GC rate of a series for one gc_frequency rule.
type gcBaseline struct {
	perMinute float64
	learned   time.Duration // data time the baseline has been learning
}

// describe builds the values a transition reports; evaluations call it only when the episode state changes.
type describe func() map[string]string

// evaluateWindowed runs the windowed rules of s at data time now.
func (p *readinessProcessor) evaluateWindowed(s *series, now int64, emit func(transition)) {
	for _, r := range p.rules {
		if r.kind == KindThreshold {
			continue
		}
		var v verdict
		var details describe
		switch r.kind {
		case KindGCFrequency:
			v, details = p.evalGCFrequency(s, r, now)
		case KindGoroutineGrowth, KindHeapGrowth:
			v, details = p.evalGrowth(s, r, now)
		}
		st := &s.rules[r.index]
		started, ended := st.step(v, now, r.cooldown, clearsToEnd)
		if started {
			st.details = details()
			emit(transition{series: s, rule: r, start: true, at: now, details: st.details})
		}
		if ended {
			emit(transition{series: s, rule: r, start: false, at: now, details: details(), reason: "below clear level"})
		}
		if st.active && !started && r.capture && r.followUp > 0 && !st.followed && now-st.since >= int64(r.followUp) {
			st.followed = true
			d := map[string]string{"follow_up": "true", "episode_start": time.Unix(0, st.since).UTC().Format(time.RFC3339)}
			if details != nil {
				maps.Copy(d, details())
			}
			emit(transition{series: s, rule: r, at: now, details: d, followUp: true})
		}
	}
}

func (p *readinessProcessor) windowSamples(s *series, sig signal, now int64, window time.Duration) []sample {
	r := s.signals[sig]
	if r == nil {
		return nil
	}
	p.scratch.samples = r.window(p.scratch.samples[:0], now-int64(window), now)
	return p.scratch.samples
}

func (p *readinessProcessor) evalGCFrequency(s *series, r *rule, now int64) (verdict, describe) {
	maxGap := int64(p.cfg.MaxGap)
	window := int64(r.window)
	// The sample just before the window is included so the window's first interval is counted.
	cycles := trimBefore(p.windowSamples(s, sigGCCycles, now, r.window+p.cfg.MaxGap), now-window)
	rate, covered := counterRate(cycles, maxGap)
	if float64(covered) < minCoverage*float64(window) {
		return verdictUnknown, nil
	}
	firing, clear := false, true
	check := func(value, limit float64) {
		if value > limit {
			firing = true
		}
		if value >= limit*r.clearRatio {
			clear = false
		}
	}
	if r.maxPerMinute > 0 {
		check(rate, r.maxPerMinute)
	}
	b := &s.gcBaseline[r.index]
	baselineReady := r.baselineMultiple > 0 && b.learned >= r.baselineWarmup
	baselineLimit := math.Max(b.perMinute, r.minBaselinePerMinute) * r.baselineMultiple
	if baselineReady {
		check(rate, baselineLimit)
	}
	pauseRate, pauseKnown := 0.0, false
	if r.maxPausePerMinute > 0 {
		pauses := trimBefore(p.windowSamples(s, sigGCPauseTotal, now, r.window+p.cfg.MaxGap), now-window)
		var pc int64
		pauseRate, pc = counterRate(pauses, maxGap)
		if pauseKnown = float64(pc) >= minCoverage*float64(window); pauseKnown {
			check(pauseRate, r.maxPausePerMinute)
		}
	}
	cpu, cpuKnown := sample{}, false
	if r.maxCPUFraction > 0 {
		if cpu, cpuKnown = lastSample(s, sigGCCPUFraction); cpuKnown && now-cpu.ts <= window {
			check(cpu.v, r.maxCPUFraction)
		} else {
			cpuKnown = false
		}
	}
	baselineBefore := b.perMinute

	// Learn the baseline only from calm windows, so a storm does not teach the rule that storms are normal.
	if r.baselineMultiple > 0 && !firing && !s.rules[r.index].active {
		alpha := math.Min(1, float64(p.cfg.EvaluationInterval)/float64(r.baselineWarmup))
		if b.learned == 0 {
			b.perMinute = rate
		} else {
			b.perMinute += alpha * (rate - b.perMinute)
		}
		b.learned += p.cfg.EvaluationInterval
	}
	details := func() map[string]string {
		d := map[string]string{"gc_per_minute": fmtFloat(rate), "window": r.window.String()}
		if r.maxPerMinute > 0 {
			d["max_per_minute"] = fmtFloat(r.maxPerMinute)
		}
		if baselineReady {
			d["baseline_per_minute"] = fmtFloat(baselineBefore)
			d["baseline_limit_per_minute"] = fmtFloat(baselineLimit)
		}
		if pauseKnown {
			d["gc_pause_seconds_per_minute"] = fmtFloat(pauseRate)
		}
		if cpuKnown {
			d["gc_cpu_fraction"] = fmtFloat(cpu.v)
		}
		p.noteMemoryLimit(s, r, now, d)
		return d
	}
	switch {
	case firing:
		return verdictFiring, details
	case clear:
		return verdictClear, details
	default:
		return verdictHold, details
	}
}

// noteMemoryLimit reports a service whose heap goal (or used memory) is near its GOMEMLIMIT, when that is known.
func (p *readinessProcessor) noteMemoryLimit(s *series, r *rule, now int64, details map[string]string) {
	limit, ok := lastSample(s, sigMemoryLimit)
	if !ok || limit.v <= 0 || limit.v >= memoryLimitUnset || now-limit.ts > int64(r.window) {
		return
	}
	details["memory_limit_bytes"] = fmtFloat(limit.v)
	for _, sig := range []signal{sigHeapGoal, sigMemoryUsed} {
		if v, ok := lastSample(s, sig); ok && now-v.ts <= int64(r.window) {
			details[sig.String()+"_bytes"] = fmtFloat(v.v)
			if v.v >= r.nearMemoryLimitRatio*limit.v {
				details["near_memory_limit"] = "true"
			}
			return
		}
	}
}

func (p *readinessProcessor) evalGrowth(s *series, r *rule, now int64) (verdict, describe) {
	if r.kind == KindGoroutineGrowth && r.leakedThreshold > 0 {
		if leaked, ok := lastSample(s, sigGoroutinesLeaked); ok && now-leaked.ts <= int64(r.window) {
			details := func() map[string]string {
				return map[string]string{"goroutines_leaked": fmtFloat(leaked.v), "evidence": "goroutineleak profile"}
			}
			if leaked.v >= r.leakedThreshold {
				return verdictFiring, details
			}
			if st := s.rules[r.index]; st.active && st.details["evidence"] != "" {
				return verdictClear, details
			}
		}
	}
	var sig signal
	found := false
	for _, candidate := range r.signals {
		if rg := s.signals[candidate]; rg != nil && rg.len() > 0 {
			sig, found = candidate, true
			break
		}
	}
	if !found {
		return verdictUnknown, nil
	}
	// Start-up (first window and a half after the series or the process started) is not judged: caches and pools
	// fill, which looks like growth.
	if now-s.observedSince < int64(r.window)*3/2 {
		return verdictUnknown, nil
	}
	samples := p.windowSamples(s, sig, now, r.window)
	t := trendOf(samples, now, int64(r.window), r.minPoints, &p.scratch)
	if t.insufficient {
		return verdictUnknown, nil
	}
	details := func() map[string]string {
		return map[string]string{
			"signal":          sig.String(),
			"window":          r.window.String(),
			"latest":          fmtFloat(t.latest),
			"window_start":    fmtFloat(t.startLevel),
			"growth":          fmtFloat(t.growth),
			"relative_growth": fmtFloat(t.relGrowth),
			"floors":          fmtFloat(t.floors[0]) + "," + fmtFloat(t.floors[1]) + "," + fmtFloat(t.floors[2]),
			"slope_per_min":   fmtFloat(t.slope * 60),
			"p_value":         strconv.FormatFloat(t.pValue, 'g', 3, 64),
			"points":          strconv.Itoa(t.points),
		}
	}
	firing := t.pValue < r.significance &&
		t.growth >= r.minGrowth &&
		t.relGrowth >= r.minRelativeGrowth &&
		// The floor rises from each third of the window to the next: a start-up ramp, a load step or a
		// deploy seen through a gap rises once, a leak keeps rising.
		t.floors[1]-t.floors[0] >= r.minGrowth/4 &&
		t.floors[2]-t.floors[1] >= r.minGrowth/4 &&
		t.latest >= r.minValue
	switch {
	case firing:
		return verdictFiring, details
	case t.growth < r.minGrowth*r.clearRatio:
		// The robust slope says the floor stopped rising: a p-value that drifts up on a noisy but still
		// growing signal does not end the episode.
		return verdictClear, details
	default:
		return verdictHold, details
	}
}

// thresholdState tracks one threshold rule for one series and point attribute set.
type thresholdState struct {
	ruleState
	trueSince  int64 // data time the condition became true (0: false)
	falseSince int64 // data time the condition became false (0: true)
	lastTS     int64
}

// evalThreshold applies one point to a threshold rule.
func (st *thresholdState) evalThreshold(r *rule, ts int64, value float64) (started, ended bool) {
	if ts <= st.lastTS {
		return false, false
	}
	st.lastTS = ts
	holds := r.comparator(value, r.value)
	v := verdictHold
	if holds {
		st.falseSince = 0
		if st.trueSince == 0 {
			st.trueSince = ts
		}
		if ts-st.trueSince >= int64(r.forDur) {
			v = verdictFiring
		}
	} else {
		st.trueSince = 0
		if st.falseSince == 0 {
			st.falseSince = ts
		}
		// Hysteresis in time: the condition must stay false as long as it had to hold.
		if ts-st.falseSince >= int64(r.forDur) {
			v = verdictClear
		}
	}
	// The `for` duration is the threshold rule's hysteresis: one clear verdict after it ends the episode.
	return st.step(v, ts, r.cooldown, 1)
}

func lastSample(s *series, sig signal) (sample, bool) {
	if r := s.signals[sig]; r != nil {
		return r.last()
	}
	return sample{}, false
}

// trimBefore keeps the last sample at or before from and everything after it.
func trimBefore(samples []sample, from int64) []sample {
	i := 0
	for i+1 < len(samples) && samples[i+1].ts <= from {
		i++
	}
	return samples[i:]
}

func fmtFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

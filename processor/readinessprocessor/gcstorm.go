package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"strings"
	"time"
)

// gcBaseline is the learned GC rate of a series for one gc_frequency rule.
type gcBaseline struct {
	perMinute float64
	// allocPerCycle is the learned bytes allocated per GC cycle (0: unknown). A storm lowers it; more load does not.
	allocPerCycle float64
	learned       time.Duration // data time the baseline has been learning
	// strikes counts consecutive evaluations on which the rate alone (against the baseline) looked like a storm:
	// that evidence needs two, so a burst of load does not start an episode.
	strikes int
}

// gcMeasures are what one gc_frequency evaluation measured over the rule's window.
type gcMeasures struct {
	perMinute     float64 // GC cycles per minute
	allocPerCycle float64 // bytes allocated per GC cycle; NaN when unknown
	cycles        float64 // GC cycles in the window
	allocRatio    float64 // bytes allocated per GC cycle / heap goal; NaN when unknown
	pausePerMin   float64 // seconds of stop-the-world pause per minute; NaN when unknown
	cpuFraction   float64 // runtime-reported GC CPU fraction; NaN when unknown
	heapGoal      float64
	memLimit      float64 // 0 when unknown or unset
}

// measureGC reads the GC counters of s over the rule's window.
func (p *readinessProcessor) measureGC(s *series, r *rule, now int64) (gcMeasures, bool) {
	m := gcMeasures{allocRatio: math.NaN(), allocPerCycle: math.NaN(), pausePerMin: math.NaN(), cpuFraction: math.NaN()}
	maxGap := int64(p.cfg.MaxGap)
	window := int64(r.window)
	// The sample just before the window is included so the window's first interval is counted.
	counter := func(sig signal, w int64) (float64, int64) {
		if rg := s.signals[sig]; rg != nil {
			return rg.counterRate(now, w, maxGap)
		}
		return 0, 0
	}
	var covered int64
	m.perMinute, covered = counter(sigGCCycles, window)
	if float64(covered) < gcMinCoverage*float64(window) {
		return m, false
	}
	m.cycles = m.perMinute * float64(covered) / 60e9
	if allocPerMin, ac := counter(sigAllocBytes, window); float64(ac) >= gcMinCoverage*float64(window) && m.perMinute > 0 {
		m.allocPerCycle = allocPerMin / m.perMinute
	}
	if goal, ok := lastSample(s, sigHeapGoal); ok && now-goal.ts <= window && goal.v > 0 {
		m.heapGoal = goal.v
		m.allocRatio = m.allocPerCycle / goal.v // NaN when the allocation is unknown
	}
	// Pause time is measured over at least a minute: single pauses are uneven.
	if pause, pc := counter(sigGCPauseTotal, max(window, int64(time.Minute))); pc > 0 && float64(pc) >= gcMinCoverage*float64(window) {
		m.pausePerMin = pause
	}
	if cpu, ok := lastSample(s, sigGCCPUFraction); ok && now-cpu.ts <= window {
		m.cpuFraction = cpu.v
	}
	if limit, ok := lastSample(s, sigMemoryLimit); ok && limit.v > 0 && limit.v < memoryLimitUnset && now-limit.ts <= max(window, int64(time.Minute)) {
		m.memLimit = limit.v
	}
	return m, true
}

// gcMinCoverage is the share of the gc_frequency window that the counters must cover.
const gcMinCoverage = 0.6

// evalGCFrequency flags a GC storm. Evidence that needs no history comes first, so a service that storms from its
// first scrape, or starts storming before any baseline exists, is flagged within one window:
//   - alloc_per_cycle: the GC runs after the program allocated only a small share of its heap goal (an effective
//     GOGC of a few percent, or a heap pinned at GOMEMLIMIT), at a rate that matters;
//   - memory_limit: the heap goal is at GOMEMLIMIT and the GC runs often;
//   - pause and cpu limits, and an absolute rate limit, when configured.
//
// Next to them the service's own baseline: a rate several times the learned one, on two evaluations in a row, with
// allocation per cycle (when known) low enough that more load alone does not explain it.
func (p *readinessProcessor) evalGCFrequency(s *series, r *rule, now int64) (verdict, describe) {
	m, ok := p.measureGC(s, r, now)
	if !ok {
		return verdictUnknown, nil
	}
	b := &s.gcBaseline[r.index]
	active := s.rules[r.index].active
	var evidence []string
	clear := true
	check := func(name string, fires, stillHigh bool) {
		if fires {
			evidence = append(evidence, name)
		}
		if stillHigh {
			clear = false
		}
	}
	ratioKnown := !math.IsNaN(m.allocRatio)
	busy := m.perMinute >= r.minPerMinute && m.cycles >= 3
	check("alloc_per_cycle",
		ratioKnown && busy && m.allocRatio <= r.maxAllocRatio,
		ratioKnown && m.perMinute >= r.minPerMinute*r.clearRatio && m.allocRatio <= r.maxAllocRatio/r.clearRatio)
	nearLimit := m.memLimit > 0 && m.heapGoal >= r.nearMemoryLimitRatio*m.memLimit
	check("memory_limit", nearLimit && busy, nearLimit && m.perMinute >= r.minPerMinute*r.clearRatio)
	if r.maxPerMinute > 0 {
		check("max_per_minute", m.perMinute > r.maxPerMinute, m.perMinute >= r.maxPerMinute*r.clearRatio)
	}

	if r.maxCPUFraction > 0 && !math.IsNaN(m.cpuFraction) {
		check("cpu_fraction", m.cpuFraction > r.maxCPUFraction, m.cpuFraction >= r.maxCPUFraction*r.clearRatio)
	}
	baselineReady := r.baselineMultiple > 0 && b.learned >= r.baselineWarmup
	baselineLimit := math.Max(b.perMinute, r.minBaselinePerMinute) * r.baselineMultiple
	// The GC runs more often than the allocation explains: after a small share of its goal, or after at most half
	// the bytes per cycle it learned. Pause time alone is not a storm: a machine short of CPU stretches every pause.
	// (The goal counts goroutine stacks too, so a healthy service with many goroutines runs well below 0.5 of it:
	// the service's own bytes per cycle, once learned, is the better reference.)
	gcOutpacesAlloc := ratioKnown && m.allocRatio <= r.maxAllocRatio
	if b.allocPerCycle > 0 && !math.IsNaN(m.allocPerCycle) {
		gcOutpacesAlloc = m.allocPerCycle <= 0.5*b.allocPerCycle
	}
	if r.maxPausePerMinute > 0 && !math.IsNaN(m.pausePerMin) {
		check("pause", m.pausePerMin > r.maxPausePerMinute && (gcOutpacesAlloc || math.IsNaN(m.allocPerCycle)) && busy,
			m.pausePerMin >= r.maxPausePerMinute*r.clearRatio)
	}
	if baselineReady {
		// More load raises the GC rate with the same allocation per cycle; a storm lowers it: the GC now runs after
		// allocating at most half of what it used to (or, with no learned allocation, a small share of its goal).
		plausible := math.IsNaN(m.allocPerCycle) || gcOutpacesAlloc
		if m.perMinute > baselineLimit && plausible {
			b.strikes++
		} else {
			b.strikes = 0
		}
		check("baseline", b.strikes >= 2, m.perMinute >= baselineLimit*r.clearRatio)
	}
	firing := len(evidence) > 0
	baselineBefore := b.perMinute

	// Learn only from windows that look calm by every measure, never during an episode: a storm, or a warm-up that
	// storms, does not teach the rule that storms are normal. The baseline follows a falling rate quickly and a
	// rising one slowly, so a storm that starts while it is young still stands out.
	looksCalm := (!ratioKnown || m.allocRatio > 2*r.maxAllocRatio) && b.strikes == 0
	if r.baselineMultiple > 0 && !firing && !active && looksCalm {
		slowRise := math.Min(1, float64(p.cfg.EvaluationInterval)/float64(baselineRiseTime))
		switch {
		case b.learned == 0:
			b.perMinute = m.perMinute
		case m.perMinute < b.perMinute:
			b.perMinute += 0.5 * (m.perMinute - b.perMinute)
		default:
			b.perMinute += slowRise * (m.perMinute - b.perMinute)
		}
		// Bytes per cycle: a fall is what a storm looks like, so the baseline follows it slowly, and a rise quickly.
		if a := m.allocPerCycle; !math.IsNaN(a) && a > 0 {
			switch {
			case b.allocPerCycle == 0:
				b.allocPerCycle = a
			case a > b.allocPerCycle:
				b.allocPerCycle += 0.5 * (a - b.allocPerCycle)
			default:
				b.allocPerCycle += slowRise * (a - b.allocPerCycle)
			}
		}
		b.learned += p.cfg.EvaluationInterval
	}
	if !firing && !active {
		// Nothing to report: no episode starts, ends or is followed up (and no closure is allocated).
		if clear {
			return verdictClear, nil
		}
		return verdictHold, nil
	}
	details := func() map[string]string {
		d := map[string]string{"gc_per_minute": fmtFloat(m.perMinute), "window": r.window.String()}
		if len(evidence) > 0 {
			d["evidence"] = strings.Join(evidence, ",")
		}
		if ratioKnown {
			d["alloc_per_cycle_ratio"] = fmtFloat(m.allocRatio)
		}
		if !math.IsNaN(m.allocPerCycle) {
			d["alloc_bytes_per_cycle"] = fmtFloat(m.allocPerCycle)
			if b.allocPerCycle > 0 {
				d["baseline_alloc_bytes_per_cycle"] = fmtFloat(b.allocPerCycle)
			}
		}
		if m.heapGoal > 0 {
			d["heap_goal_bytes"] = fmtFloat(m.heapGoal)
		}
		if r.maxPerMinute > 0 {
			d["max_per_minute"] = fmtFloat(r.maxPerMinute)
		}
		if baselineReady {
			d["baseline_per_minute"] = fmtFloat(baselineBefore)
			d["baseline_limit_per_minute"] = fmtFloat(baselineLimit)
		}
		if !math.IsNaN(m.pausePerMin) {
			d["gc_pause_seconds_per_minute"] = fmtFloat(m.pausePerMin)
		}
		if !math.IsNaN(m.cpuFraction) {
			d["gc_cpu_fraction"] = fmtFloat(m.cpuFraction)
		}
		if m.memLimit > 0 {
			d["memory_limit_bytes"] = fmtFloat(m.memLimit)
			if nearLimit {
				d["near_memory_limit"] = "true"
			}
		}
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

// baselineRiseTime is how long a sustained higher GC rate takes to become the baseline (about 63 % of the way).
const baselineRiseTime = 10 * time.Minute

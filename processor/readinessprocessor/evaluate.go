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
	// growth kinds: the floor's slope when the episode started, and the call site it was started on (if any).
	startSlope float64
	site       string
	horizon    time.Duration
	seen       lastVerdict // the last evaluation, for the readiness page (view.go)
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
		st.seen = lastVerdict{v: v, at: now, details: details} // readiness page (view.go)
		if started {
			st.details = details()
			emit(transition{series: s, rule: r, start: true, at: now, details: st.details})
		}
		if ended {
			emit(transition{series: s, rule: r, start: false, at: now, details: details(), reason: "below clear level"})
		}
		if st.active && !started && r.takesCaptures() && r.followUp > 0 && !st.followed && now-st.since >= int64(r.followUp) {
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

// clearSlopeShare ends a growth episode: the floor's recent slope fell below this share of its slope when the
// episode started (the ramp went flat, the leak stopped).
const clearSlopeShare = 0.3

// clearMinHorizon is the shortest horizon an episode's end is judged on.
const clearMinHorizon = 2 * time.Minute

func (p *readinessProcessor) evalGrowth(s *series, r *rule, now int64) (verdict, describe) {
	st := &s.rules[r.index]
	if r.kind == KindGoroutineGrowth && r.leakedThreshold > 0 {
		if leaked, ok := lastSample(s, sigGoroutinesLeaked); ok && now-leaked.ts <= int64(r.window) {
			details := func() map[string]string {
				return map[string]string{"goroutines_leaked": fmtFloat(leaked.v), "evidence": "goroutineleak profile"}
			}
			if leaked.v >= r.leakedThreshold {
				return verdictFiring, details
			}
			if st.active && st.details["evidence"] == "goroutineleak profile" {
				return verdictClear, details
			}
		}
	}
	var sig signal
	found := false
	for _, candidate := range r.signals {
		if rg := s.signals[candidate]; rg != nil && rg.len() > 1 {
			sig, found = candidate, true
			break
		}
	}
	var total riseResult
	if found {
		cfg := r.riseFor(sig)
		full := st.active && st.site == ""
		// A healthy series is told apart from the lowest value it holds (its history is the window and a little
		// more) and its last four, without the tests of every horizon.
		if lowest, highest := s.signals[sig].spread(4); !full && cannotRise(lowest, highest, cfg) {
			last, _ := s.signals[sig].last()
			total = riseResult{judged: true, latest: last.v}
		} else {
			total = riseOf(p.windowSamples(s, sig, now, r.window+heapFloorSpan), now, cfg, full, &p.scratch)
		}
	}
	var site siteFinding
	if r.kind == KindGoroutineGrowth && r == p.siteRule {
		site = p.judgeSites(s, r, now)
	}
	if !total.judged && !site.judged {
		return verdictUnknown, nil
	}
	totalFires := total.firing && total.latest >= r.minValue
	evidence, slope := "", 0.0
	switch {
	case totalFires:
		evidence, slope = "total", total.slopePerMin
		if r == p.siteRule && len(s.sites) > 0 && !st.active {
			// Name the site whose goroutines grew most over the horizon the total rose on, when it carries at least
			// half of that growth: otherwise the stacks were read before the leak showed, and the captures name it.
			site.name, site.rise.growth, site.rise.horizon = p.siteThatGrew(s, now, total.horizon)
			if site.rise.growth < total.growth/2 {
				site.name = ""
			}
		}
	case site.rise.firing && site.streak >= siteStreakToFire:
		evidence, slope = "call site", site.rise.slopePerMin
	}
	details := func() describe { return growthDetails(r, sig, total, site, evidence) }
	if evidence != "" {
		if !st.active {
			st.startSlope, st.site, st.horizon = slope, "", total.horizon
			if evidence == "call site" {
				st.site, st.horizon = site.name, site.rise.horizon
			}
		}
		return verdictFiring, details()
	}
	if !st.active {
		return verdictHold, nil // nothing to report: no episode starts or ends
	}
	// Active and no horizon fires now: the episode ends once the floor it was started on has gone flat, measured
	// on the horizon that started it (two minutes at least): a short noisy dip does not end a slow leak.
	clearOn := max(st.horizon, clearMinHorizon)
	recent, judged := total.slopeFor(r.riseFor(sig), clearOn)
	if st.site != "" {
		recent, judged = p.siteRecentSlope(s, r, st.site, now, clearOn)
	}
	if judged && recent < clearSlopeShare*st.startSlope {
		return verdictClear, details()
	}
	return verdictHold, details()
}

// growthDetails builds, when an episode starts, ends or is followed up, the values a growth evaluation reports.
func growthDetails(r *rule, sig signal, total riseResult, site siteFinding, evidence string) describe {
	return func() map[string]string {
		d := map[string]string{"window": r.window.String()}
		if evidence != "" {
			d["evidence"] = evidence
		}
		if total.judged {
			d["signal"] = sig.String()
			d["latest"] = fmtFloat(total.latest)
			d["horizon"] = total.horizon.String()
			d["level"] = fmtFloat(total.level)
			d["growth"] = fmtFloat(total.growth)
			d["relative_growth"] = fmtFloat(total.relGrowth)
			d["slope_per_min"] = fmtFloat(total.slopePerMin)
			d["p_value"] = strconv.FormatFloat(total.pValue, 'g', 3, 64)
			d["points"] = strconv.Itoa(total.points)
			if total.decelerating {
				d["ramp"] = "true"
			}
		}
		if site.name != "" {
			d["top_site"] = site.name
			d["site_growth"] = fmtFloat(site.rise.growth)
			d["site_horizon"] = site.rise.horizon.String()
			d["site_latest"] = fmtFloat(site.rise.latest)
		}
		return d
	}
}

// siteFinding is the judgement of a series' call sites: the site that fires (or, when none does, the one that grew
// most), with its rise.
type siteFinding struct {
	judged bool
	name   string
	rise   riseResult
	// streak counts consecutive judgements on which this site fired: a site's counts come from one stack read
	// every 30 s or so, so one read that happens to catch a crowd does not make a leak.
	streak int
}

// siteStreakToFire is how many consecutive site judgements must agree before a site alone starts an episode.
const siteStreakToFire = 2

// judgeSites runs the rise test on every call site of s. Sites are judged again only when a new site sample
// arrived (the receiver reads stacks less often than it scrapes); in between the last finding stands.
func (p *readinessProcessor) judgeSites(s *series, r *rule, now int64) siteFinding {
	if len(s.sites) == 0 {
		return siteFinding{}
	}
	if s.sitesJudged == s.sitesLatest {
		return s.siteFinding
	}
	s.sitesJudged = s.sitesLatest
	var best siteFinding
	for name, rg := range s.sites {
		samples := rg.window(p.scratch.samples[:0], now-int64(r.window+heapFloorSpan), now)
		p.scratch.samples = samples
		rr := riseOf(samples, now, &r.siteRise, false, &p.scratch)
		if !rr.judged {
			continue
		}
		better := !best.judged ||
			(rr.firing && !best.rise.firing) ||
			(rr.firing == best.rise.firing && (rr.growth > best.rise.growth || (rr.growth == best.rise.growth && name < best.name)))
		if better {
			best = siteFinding{judged: true, name: name, rise: rr}
		}
	}
	if best.judged && best.rise.growth <= 0 && !best.rise.firing {
		best.name = "" // nothing grew: no site to name
	}
	if best.rise.firing {
		best.streak = 1
		if prev := s.siteFinding; prev.rise.firing && prev.name == best.name {
			best.streak = prev.streak + 1
		}
	}
	s.siteFinding = best
	return best
}

// siteThatGrew returns the call site whose goroutine count rose fastest over the horizon before now (robust slope
// × horizon). A site that appeared within the horizon, while others were already read, rose from nothing: it gets
// a count of zero just before its first.
func (p *readinessProcessor) siteThatGrew(s *series, now int64, horizon time.Duration) (name string, growth float64, h time.Duration) {
	start := now - int64(horizon)
	for site, rg := range s.sites {
		samples := rg.window(p.scratch.samples[:0], start, now)
		p.scratch.samples = samples
		if len(samples) == 0 {
			continue
		}
		pts := p.scratch.buckets[:0]
		if first := rg.at(0).ts; first > s.sitesSince && first > start {
			// New since the stacks were last read without it: it rose from nothing since that read.
			pts = append(pts, floorPoint{x: float64(max(s.sitesBefore(first), start)-start) / 1e9})
		}
		if len(samples)+len(pts) < 2 {
			continue
		}
		for _, smp := range samples {
			pts = append(pts, floorPoint{x: float64(smp.ts-start) / 1e9, y: smp.v})
		}
		p.scratch.buckets = pts
		slope, _ := theilSenPoints(pts, &p.scratch)
		if g := slope * horizon.Seconds(); g > 0 && (g > growth || (g == growth && site < name)) {
			name, growth = site, g
		}
	}
	return name, growth, horizon
}

// siteRecentSlope is the recent slope of one call site's goroutine count.
func (p *readinessProcessor) siteRecentSlope(s *series, r *rule, name string, now int64, h time.Duration) (float64, bool) {
	rg := s.sites[name]
	if rg == nil {
		return 0, true // the site is gone: its goroutines ended
	}
	samples := rg.window(p.scratch.samples[:0], now-int64(r.window+heapFloorSpan), now)
	p.scratch.samples = samples
	rr := riseOf(samples, now, &r.siteRise, true, &p.scratch)
	return rr.slopeFor(&r.siteRise, h)
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

package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
)

// lastVerdict is what the last windowed evaluation of a rule concluded for a series, for the readiness page ("what
// every rule sees now"). details is the evaluation's own closure (nil when it had nothing to report); it is called
// only when a page asks.
type lastVerdict struct {
	v       verdict
	at      int64
	details describe
}

// hubView is the processor's read-only view of the series it keeps, registered with the readiness hub. It reads the
// processor's history under its lock and keeps nothing of its own.
type hubView struct{ p *readinessProcessor }

var _ readinesshubextension.Source = hubView{}

// rateSpan is the span GC counters are turned into per-minute rates over on the page.
const rateSpan = time.Minute

// The page plots an hour: the rules keep only what their windows need (a GC counter about a minute and a half), so
// while a hub is present each series also keeps viewPoints samples of the four plotted signals over viewSpan
// (one per viewSpan/viewPoints at most: 9 s, about the default scrape interval). Bounded: 4 rings × 400 samples ×
// 16 bytes, about 26 KB per series, grown as data arrives.
const (
	viewSpan   = time.Hour
	viewPoints = 400
)

// viewHistory is the hour of history one series keeps for the page.
type viewHistory struct {
	goroutines, heap, gcCycles, gcPause *ring
	heapSignal                          signal // the heap signal in heap: in-use, allocated, else the goal
}

// viewRecord keeps a sample of a plotted signal for the page; the caller holds p.mu.
func (p *readinessProcessor) viewRecord(s *series, sig signal, ts int64, v float64) {
	if !p.keepView {
		return
	}
	if s.view == nil {
		s.view = &viewHistory{heapSignal: numSignals}
	}
	vh := s.view
	var rg **ring
	switch sig {
	case sigGoroutines:
		rg = &vh.goroutines
	case sigGCCycles:
		rg = &vh.gcCycles
	case sigGCPauseTotal:
		rg = &vh.gcPause
	case sigHeapInuse, sigHeapAlloc, sigHeapGoal:
		// The live heap is preferred (in use, then allocated; the signals are declared in that order), the goal only
		// when the series sends neither.
		if sig > vh.heapSignal {
			return
		}
		if sig != vh.heapSignal {
			vh.heapSignal, vh.heap = sig, nil
		}
		rg = &vh.heap
	default:
		return
	}
	if *rg == nil {
		*rg = newRing(viewPoints)
	}
	if last, ok := (*rg).last(); ok && (ts <= last.ts || ts-last.ts < int64(viewSpan/viewPoints)) {
		return
	}
	(*rg).push(sample{ts: ts, v: v})
	(*rg).dropBefore(ts - int64(viewSpan))
}

// metricTargetUp is pprofscrape's 1/0 per scrape: a target that is down sends it and nothing else.
const metricTargetUp = "pprofscrape.target.up"

// maxViewTargets bounds the targets whose up value the view remembers.
const maxViewTargets = 256

// viewTargetMap holds the targets' last up value, by target.
type viewTargetMap map[pprofcaptureextension.TargetKey]*targetUp

// targetUp is a pprofscrape target's last up value.
type targetUp struct {
	up       bool
	identity []attr
	seen     time.Time // collector clock
}

// viewTargetUp remembers whether a pprofscrape target answered its last scrape, so that the page lists a target
// that is down (it sends no runtime metric, so it has no series); the caller holds p.mu.
func (p *readinessProcessor) viewTargetUp(res pcommon.Resource, m pmetric.Metric) {
	if !p.keepView || m.Name() != metricTargetUp || m.Type() != pmetric.MetricTypeGauge || m.Gauge().DataPoints().Len() == 0 {
		return
	}
	_, identity, target := seriesIdentity(res)
	if target.ServiceName == "" && target.ServiceInstanceID == "" {
		return
	}
	if p.viewTargets == nil {
		p.viewTargets = viewTargetMap{}
	}
	now := p.now()
	t := p.viewTargets[target]
	if t == nil {
		if len(p.viewTargets) >= maxViewTargets {
			for k, old := range p.viewTargets {
				if now.Sub(old.seen) > p.cfg.IdleTimeout {
					delete(p.viewTargets, k)
				}
			}
			if len(p.viewTargets) >= maxViewTargets {
				return
			}
		}
		t = &targetUp{identity: identity}
		p.viewTargets[target] = t
	}
	dps := m.Gauge().DataPoints()
	t.up, t.seen = numberValue(dps.At(dps.Len()-1)) > 0, now
}

// downTarget returns the status of a target that is down and has no series; the caller holds p.mu.
func (p *readinessProcessor) downTarget(target pprofcaptureextension.TargetKey, t *targetUp) readinesshubextension.ServiceStatus {
	st := readinesshubextension.ServiceStatus{Target: target, Identity: map[string]string{}, LastSeen: t.seen, Latest: map[string]float64{}, Down: true}
	for _, a := range t.identity {
		st.Identity[a.key] = a.value
	}
	return st
}

// plotted is what the page plots of a series: per signal, the hour the view keeps, then the rules' own (denser)
// history from where it starts.
type plotted struct {
	goroutines, heap, gcCycles, gcPause []sample
	heapSig                             signal
}

// plotSamples merges the view's hour with the rules' history; the caller holds p.mu.
func plotSamples(s *series) plotted {
	var pl plotted
	ruleHeap, ruleHeapSig := liveHeapRing(s), sigHeapInuse
	if ruleHeap == nil {
		ruleHeap, ruleHeapSig = s.signals[sigHeapGoal], sigHeapGoal
	} else if rg := s.signals[sigHeapInuse]; rg != ruleHeap {
		ruleHeapSig = sigHeapAlloc
	}
	vh := s.view
	if vh == nil {
		vh = &viewHistory{heapSignal: numSignals}
	}
	pl.goroutines = mergeSamples(vh.goroutines, s.signals[sigGoroutines])
	pl.gcCycles = mergeSamples(vh.gcCycles, s.signals[sigGCCycles])
	pl.gcPause = mergeSamples(vh.gcPause, s.signals[sigGCPauseTotal])
	switch {
	case vh.heap != nil && vh.heap.len() > 0 && vh.heapSignal == ruleHeapSig:
		pl.heap, pl.heapSig = mergeSamples(vh.heap, ruleHeap), ruleHeapSig
	case vh.heap != nil && vh.heap.len() > 0 && vh.heapSignal < ruleHeapSig:
		pl.heap, pl.heapSig = mergeSamples(vh.heap, nil), vh.heapSignal
	default:
		pl.heap, pl.heapSig = mergeSamples(nil, ruleHeap), ruleHeapSig
	}
	return pl
}

// mergeSamples returns the samples of older before the first of newer, then newer's.
func mergeSamples(older, newer *ring) []sample {
	var out []sample
	first := int64(math.MaxInt64)
	if newer != nil && newer.len() > 0 {
		first = newer.at(0).ts
	}
	if older != nil {
		out = older.window(out, math.MinInt64, first-1)
	}
	if newer != nil {
		out = newer.window(out, math.MinInt64, math.MaxInt64)
	}
	return out
}

// Services lists every series with its newest values.
func (v hubView) Services() []readinesshubextension.ServiceStatus {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]readinesshubextension.ServiceStatus, 0, len(p.series))
	watched := make(map[pprofcaptureextension.TargetKey]bool, len(p.series))
	for _, s := range p.series {
		out = append(out, p.statusOf(s))
		watched[s.target] = true
	}
	for target, t := range p.viewTargets {
		if !t.up && !watched[target] && p.now().Sub(t.seen) <= p.cfg.IdleTimeout {
			out = append(out, p.downTarget(target, t))
		}
	}
	slices.SortFunc(out, func(a, b readinesshubextension.ServiceStatus) int {
		if c := strings.Compare(a.Target.ServiceName, b.Target.ServiceName); c != 0 {
			return c
		}
		return strings.Compare(a.Target.ServiceInstanceID, b.Target.ServiceInstanceID)
	})
	return out
}

// History returns the stored samples, call sites and rule states of one series.
func (v hubView) History(target pprofcaptureextension.TargetKey) (readinesshubextension.ServiceHistory, bool) {
	p := v.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var s *series
	for _, cand := range p.series {
		if cand.target == target {
			s = cand
			break
		}
	}
	if s == nil {
		if t := p.viewTargets[target]; t != nil && !t.up && p.now().Sub(t.seen) <= p.cfg.IdleTimeout {
			return readinesshubextension.ServiceHistory{ServiceStatus: p.downTarget(target, t)}, true
		}
		return readinesshubextension.ServiceHistory{}, false
	}
	h := readinesshubextension.ServiceHistory{
		ServiceStatus: p.statusOf(s),
		Signals:       map[string][]readinesshubextension.Point{},
	}
	pl := plotSamples(s)
	if pts := samplePoints(pl.goroutines); len(pts) > 0 {
		h.Signals[readinesshubextension.SignalGoroutines] = pts
	}
	if pts := samplePoints(pl.heap); len(pts) > 0 {
		h.Signals[heapName(pl.heapSig)] = pts
	}
	if pts := ratePoints(pl.gcCycles, int64(p.cfg.MaxGap)); len(pts) > 0 {
		h.Signals[readinesshubextension.SignalGCPerMinute] = pts
	}
	if pts := ratePoints(pl.gcPause, int64(p.cfg.MaxGap)); len(pts) > 0 {
		h.Signals[readinesshubextension.SignalGCPausePerMin] = pts
	}
	if len(s.sites) > 0 {
		h.Sites = make(map[string][]readinesshubextension.Point, len(s.sites))
		for name, rg := range s.sites {
			h.Sites[name] = samplePoints(rg.window(nil, math.MinInt64, math.MaxInt64))
		}
	}
	h.Rules = p.ruleStatuses(s)
	return h, true
}

// statusOf is the current state of s; the caller holds p.mu.
func (p *readinessProcessor) statusOf(s *series) readinesshubextension.ServiceStatus {
	st := readinesshubextension.ServiceStatus{
		Target:   s.target,
		Identity: make(map[string]string, len(s.identity)),
		LastSeen: s.lastSeen,
		Latest:   map[string]float64{},
		Down:     p.now().Sub(s.lastSeen) > p.cfg.MaxGap,
	}
	if t := p.viewTargets[s.target]; t != nil && !t.up && !t.seen.Before(s.lastSeen) {
		st.Down = true // the receiver says the last scrape failed
	}
	if s.latest != 0 {
		st.LastData = time.Unix(0, s.latest).UTC()
	}
	for _, a := range s.identity {
		st.Identity[a.key] = a.value
	}
	pl := plotSamples(s)
	if n := len(pl.goroutines); n > 0 {
		st.Latest[readinesshubextension.SignalGoroutines] = pl.goroutines[n-1].v
	}
	if n := len(pl.heap); n > 0 {
		st.Latest[heapName(pl.heapSig)] = pl.heap[n-1].v
	}
	for name, samples := range map[string][]sample{readinesshubextension.SignalGCPerMinute: pl.gcCycles, readinesshubextension.SignalGCPausePerMin: pl.gcPause} {
		if n := len(samples); n > 1 {
			last := samples[n-1].ts
			if rate, covered := counterRate(trimBefore(samples, last-int64(rateSpan)), int64(p.cfg.MaxGap)); covered > 0 {
				st.Latest[name] = rate
			}
		}
	}
	for _, r := range p.rules {
		if r.kind != KindThreshold && s.rules[r.index].active {
			st.ActiveRules = append(st.ActiveRules, r.name)
		}
	}
	for key, ts := range s.thresholds {
		if ts.active {
			name, _, _ := strings.Cut(key, "\x00")
			if !slices.Contains(st.ActiveRules, name) {
				st.ActiveRules = append(st.ActiveRules, name)
			}
		}
	}
	slices.Sort(st.ActiveRules)
	return st
}

func heapName(sig signal) string {
	if sig == sigHeapGoal {
		return readinesshubextension.SignalHeapGoal
	}
	return readinesshubextension.SignalHeapLive
}

// liveHeapRing is the live-heap history the series keeps: heap in use, else allocated heap; nil when the series
// reports its heap goal (the rules then keep the goal only, and the page plots that).
func liveHeapRing(s *series) *ring {
	for _, sig := range []signal{sigHeapInuse, sigHeapAlloc} {
		if rg := s.signals[sig]; rg != nil && rg.len() > 0 {
			return rg
		}
	}
	return nil
}

func samplePoints(samples []sample) []readinesshubextension.Point {
	if len(samples) == 0 {
		return nil
	}
	out := make([]readinesshubextension.Point, len(samples))
	for i, smp := range samples {
		out[i] = readinesshubextension.Point{Time: time.Unix(0, smp.ts).UTC(), Value: smp.v}
	}
	return out
}

// ratePoints turns a cumulative counter into a per-minute rate at each sample, over the rateSpan before it (pairs
// further apart than maxGap and counter resets are not counted).
func ratePoints(samples []sample, maxGap int64) []readinesshubextension.Point {
	if len(samples) < 2 {
		return nil
	}
	out := make([]readinesshubextension.Point, 0, len(samples)-1)
	from := 0
	for i := 1; i < len(samples); i++ {
		cur := samples[i]
		for from < i-1 && samples[from+1].ts <= cur.ts-int64(rateSpan) {
			from++
		}
		if rate, covered := counterRate(samples[from:i+1], maxGap); covered > 0 {
			out = append(out, readinesshubextension.Point{Time: time.Unix(0, cur.ts).UTC(), Value: rate})
		}
	}
	return out
}

// ruleStatuses says what every rule sees now for s; the caller holds p.mu.
func (p *readinessProcessor) ruleStatuses(s *series) []readinesshubextension.RuleStatus {
	out := make([]readinesshubextension.RuleStatus, 0, len(p.rules))
	for _, r := range p.rules {
		if r.kind == KindThreshold {
			out = append(out, p.thresholdStatuses(s, r)...)
			continue
		}
		st := &s.rules[r.index]
		rs := readinesshubextension.RuleStatus{
			Name: r.name, Kind: r.kind, Severity: r.severity, Firing: st.active,
			Threshold: ruleThreshold(r),
		}
		if st.active {
			rs.Since = time.Unix(0, st.since).UTC()
		}
		var d map[string]string
		if st.seen.details != nil {
			d = st.seen.details()
		}
		switch r.kind {
		case KindGCFrequency:
			if d == nil && s.latest != 0 {
				if m, ok := p.measureGC(s, r, s.latest); ok {
					d = map[string]string{"gc_per_minute": fmtFloat(m.perMinute)}
					if !math.IsNaN(m.allocRatio) {
						d["alloc_per_cycle_ratio"] = fmtFloat(m.allocRatio)
					}
					if !math.IsNaN(m.pausePerMin) {
						d["gc_pause_seconds_per_minute"] = fmtFloat(m.pausePerMin)
					}
				}
			}
		default:
			if d == nil {
				for _, sig := range r.signals {
					if last, ok := lastSample(s, sig); ok {
						d = map[string]string{"signal": sig.String(), "latest": fmtFloat(last.v)}
						break
					}
				}
			}
		}
		rs.Measure = measureText(d)
		rs.Why = whyText(r, st, d)
		out = append(out, rs)
	}
	return out
}

func (p *readinessProcessor) thresholdStatuses(s *series, r *rule) []readinesshubextension.RuleStatus {
	var out []readinesshubextension.RuleStatus
	for key, st := range s.thresholds {
		name, attrs, _ := strings.Cut(key, "\x00")
		if name != r.name {
			continue
		}
		rs := readinesshubextension.RuleStatus{
			Name: r.name, Kind: r.kind, Severity: r.severity, Firing: st.active,
			Threshold: fmt.Sprintf("%s %s %s held for %s", r.metric, p.comparatorOf(r), fmtFloat(r.value), r.forDur),
			Measure:   strings.ReplaceAll(attrs, "\x00", " "),
		}
		if st.active {
			rs.Since = time.Unix(0, st.since).UTC()
		}
		switch {
		case st.active:
			rs.Why = "firing: the condition held for the whole `for` duration"
		case st.trueSince != 0:
			rs.Why = "condition holds since " + time.Unix(0, st.trueSince).UTC().Format(time.TimeOnly) + ", not yet for the whole `for` duration"
		default:
			rs.Why = "condition does not hold"
		}
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b readinesshubextension.RuleStatus) int { return strings.Compare(a.Measure, b.Measure) })
	return out
}

// comparatorOf is the comparator a threshold rule was configured with.
func (p *readinessProcessor) comparatorOf(r *rule) string {
	for _, rc := range p.cfg.Rules {
		if rc.Name == r.name {
			return rc.Params.Comparator
		}
	}
	return "?"
}

// ruleThreshold describes a rule's firing condition from its parameters.
func ruleThreshold(r *rule) string {
	switch r.kind {
	case KindGoroutineGrowth, KindHeapGrowth:
		hs := r.rise.horizons
		t := fmt.Sprintf("floor rises ≥ %s and ≥ %s%% of its level on a horizon of %s…%s (p < %s), value ≥ %s",
			fmtFloat(r.rise.minGrowth), fmtFloat(100*r.rise.minRelGrowth), hs[0], hs[len(hs)-1],
			fmtFloat(r.rise.significance), fmtFloat(r.minValue))
		if r.leakedThreshold > 0 {
			t += fmt.Sprintf("; or goroutineleak ≥ %s", fmtFloat(r.leakedThreshold))
		}
		return t
	case KindGCFrequency:
		parts := []string{fmt.Sprintf("≥ %s GC/min with alloc per cycle ≤ %s of the heap goal", fmtFloat(r.minPerMinute), fmtFloat(r.maxAllocRatio))}
		if r.baselineMultiple > 0 {
			parts = append(parts, fmt.Sprintf("> %s× its learned rate", fmtFloat(r.baselineMultiple)))
		}
		if r.maxPerMinute > 0 {
			parts = append(parts, fmt.Sprintf("> %s GC/min", fmtFloat(r.maxPerMinute)))
		}
		if r.maxPausePerMinute > 0 {
			parts = append(parts, fmt.Sprintf("pause > %ss/min", fmtFloat(r.maxPausePerMinute)))
		}
		return strings.Join(parts, "; or ") + fmt.Sprintf(" (over %s)", r.window)
	}
	return ""
}

// measureOrder is the order measureText lists the details it knows; others follow in key order.
var measureOrder = []string{
	"signal", "latest", "growth", "horizon", "slope_per_min", "p_value", "goroutines_leaked", "top_site", "site_growth",
	"gc_per_minute", "alloc_per_cycle_ratio", "gc_pause_seconds_per_minute", "baseline_per_minute",
}

func measureText(d map[string]string) string {
	if len(d) == 0 {
		return "no data yet"
	}
	var parts []string
	for _, k := range measureOrder {
		if v, ok := d[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func whyText(r *rule, st *ruleState, d map[string]string) string {
	switch {
	case st.seen.at == 0:
		return "not evaluated yet"
	case st.seen.v == verdictUnknown:
		return "not enough data to judge (the window is not covered yet)"
	case st.seen.v == verdictFiring:
		why := "firing"
		if ev := d["evidence"]; ev != "" {
			why += ": evidence " + ev
		}
		if site := d["top_site"]; site != "" {
			why += ", site " + site
		}
		return why
	case st.active && st.seen.v == verdictClear:
		return fmt.Sprintf("clearing: below the clear level (%d of %d evaluations)", st.clears, clearsToEnd)
	case st.active:
		return "still active: not yet below the clear level"
	case r.kind == KindGCFrequency:
		return "not firing: no storm evidence over the window"
	case d["ramp"] == "true":
		return "not firing: the rise decelerates (a start-up ramp)"
	default:
		return "not firing: no horizon shows a significant, sustained rise above the minimum growth"
	}
}

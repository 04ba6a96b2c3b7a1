package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// Reasons a point is skipped (the reason attribute of processor_readiness_points_skipped).
const (
	skipWrongType      = "wrong_type"
	skipNoTimestamp    = "no_timestamp"
	skipInvalidValue   = "invalid_value"
	skipOutOfOrder     = "out_of_order"
	skipSeriesLimit    = "series_limit"
	skipAttributeLimit = "attribute_limit"
	skipNoIdentity     = "missing_identity"
	skipSiteLimit      = "site_limit"
	// skipCounterDecrease: a cumulative counter stepped back by less than half (not a restart).
	skipCounterDecrease = "counter_decrease"
)

// maxThresholdStatesPerSeries bounds the attribute sets a threshold rule tracks per series.
const maxThresholdStatesPerSeries = 64

type readinessProcessor struct {
	cfg       *Config
	rules     []*rule
	threshold map[string][]*rule // metric name -> threshold rules
	// reads holds, by metric name, what the rules read from a metric: one lookup per metric on the data path.
	reads     map[string]metricReads
	used      [numSignals]bool
	retention [numSignals]int64 // history kept per signal (ns)
	spacing   [numSignals]int64 // minimum distance between stored samples (ns)
	// siteRule is the goroutine_growth rule that judges call sites (nil: site counts are not read).
	siteRule      *rule
	siteRetention int64
	siteSpacing   int64
	// fallbackOnly marks signals that every rule reading them reads only when the heap goal is absent.
	fallbackOnly [numSignals]bool

	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	startTime pcommon.Timestamp

	mu           sync.Mutex
	series       map[string]*series
	lastEviction time.Time
	scratch      trendScratch
	keyScratch   []byte // series key of the resource being read
	pending      []transition

	captures *captureWorker
	hub      readinesshubextension.Hub
	notifier *notifier // nil: no notify target
	// telemetrySettings are the notify clients' (notify.go).
	telemetrySettings component.TelemetrySettings
	// unregisterView removes the processor's view from the hub (view.go); nil without a hub.
	unregisterView func()
	keepView       bool          // the hub reads the plotted history (the page is served): keep an hour of it per series
	viewTargets    viewTargetMap // pprofscrape targets' last up value (view.go)
}

func newReadinessProcessor(set processor.Settings, cfg *Config) (*readinessProcessor, error) {
	rules, err := compileRules(cfg)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &readinessProcessor{
		cfg:       cfg,
		rules:     rules,
		threshold: map[string][]*rule{},
		used:      usedSignals(rules),
		logger:    set.Logger,
		telemetry: tb,
		now:       time.Now,
		series:    map[string]*series{},
	}
	for _, r := range rules {
		if r.kind == KindThreshold {
			p.threshold[r.metric] = append(p.threshold[r.metric], r)
		}
	}
	p.fallbackOnly = fallbackOnlySignals(rules)
	p.reads = map[string]metricReads{}
	for name, sources := range signalSources {
		if p.anyUsed(sources) {
			p.reads[name] = metricReads{sources: sources}
		}
	}
	for name, rs := range p.threshold {
		read := p.reads[name]
		read.thresholds = rs
		p.reads[name] = read
	}
	for sig, keep := range signalRetention(rules, cfg) {
		p.retention[sig] = int64(keep)
		p.spacing[sig] = int64(keep) / int64(cfg.MaxHistoryPoints)
	}
	for _, r := range rules {
		if r.kind == KindGoroutineGrowth && p.siteRule == nil {
			p.siteRule = r
			p.siteRetention = int64(r.window + 2*cfg.EvaluationInterval + time.Minute)
			p.siteSpacing = p.siteRetention / int64(cfg.MaxHistoryPoints)
		}
	}
	p.startTime = pcommon.NewTimestampFromTime(p.now())
	p.telemetrySettings = set.TelemetrySettings
	return p, nil
}

func (p *readinessProcessor) start(_ context.Context, host component.Host) error {
	hub, err := p.findHub(host)
	if err != nil {
		return err
	}
	p.hub = hub
	if hub != nil {
		p.unregisterView = hub.RegisterSource(hubView{p: p}) // readiness page (view.go)
		p.keepView = hub.ReadsHistory()
	}
	if err := p.startNotifier(host); err != nil {
		return err
	}
	required, optional := false, false
	for _, r := range p.rules {
		required = required || r.capture
		optional = optional || r.captureIfAvailable
	}
	if !required && !optional {
		return nil
	}
	broker, err := findBroker(host, p.cfg.CaptureExtension)
	if err != nil {
		if required {
			return err
		}
		p.logger.Info("readiness: the default rules take no captures (no pprofcapture extension); add one to get profiles of flagged services", zap.Error(err))
		return nil
	}
	p.captures = newCaptureWorker(broker, p.episodeSink(), p.cfg, p.logger, p.telemetry)
	p.captures.start()
	return nil
}

func (p *readinessProcessor) shutdown(context.Context) error {
	if p.unregisterView != nil {
		p.unregisterView()
	}
	if p.captures != nil {
		p.captures.stop()
	}
	if p.notifier != nil {
		p.notifier.stop()
	}
	p.telemetry.Shutdown()
	return nil
}

// processMetrics reads the runtime signals of md, evaluates the rules and appends the annotations.
func (p *readinessProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c counts
	touched := make([]*series, 0, 4)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		var s *series
		skipReason := skipSeriesLimit
		lookup := func() *series {
			if s == nil {
				s, skipReason = p.lookupSeries(rm.Resource(), &c)
				if s != nil && !s.touched {
					s.touched = true
					touched = append(touched, s)
				}
			}
			return s
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			if sms.At(j).Scope().Name() == metadata.ScopeName {
				continue // our own annotations, when pipelines are chained
			}
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				p.viewTargetUp(rm.Resource(), m) // readiness page: targets that are down (view.go)
				if m.Name() == metricGoroutineSites && p.siteRule != nil {
					if lookup() == nil {
						c.skip(skipReason, countPoints(m))
						continue
					}
					p.ingestSites(s, m, &c)
					continue
				}
				read, ok := p.reads[m.Name()]
				if !ok {
					continue
				}
				sources, thresholds := read.sources, read.thresholds
				isSignal := len(sources) > 0
				if lookup() == nil {
					c.skip(skipReason, countPoints(m))
					continue
				}
				if isSignal {
					p.ingestSignals(s, m, sources, &c)
				}
				for _, r := range thresholds {
					p.ingestThreshold(s, m, r, &c)
				}
			}
		}
	}

	for _, s := range touched {
		s.touched = false
		if s.latest-s.lastEval >= int64(p.cfg.EvaluationInterval) {
			s.lastEval = s.latest
			p.evaluateWindowed(s, s.latest, func(t transition) { p.pending = append(p.pending, t) })
		}
	}
	p.evictIdle()
	for _, t := range p.pending {
		t.series.changed = true
		p.act(ctx, t)
	}
	p.pending = p.pending[:0]
	p.annotate(md, touched)
	c.record(ctx, p.telemetry)
	return md, nil
}

// metricReads is what the rules read from one metric: runtime signals and threshold rules.
type metricReads struct {
	sources    []signalSource
	thresholds []*rule
}

func (p *readinessProcessor) anyUsed(sources []signalSource) bool {
	for _, src := range sources {
		if p.used[src.signal] {
			return true
		}
	}
	return false
}

// lookupSeries finds or creates the series of a resource; when it cannot, it says why.
func (p *readinessProcessor) lookupSeries(res pcommon.Resource, c *counts) (*series, string) {
	var identified bool
	p.keyScratch, identified = appendIdentityKey(p.keyScratch[:0], res.Attributes())
	if s, ok := p.series[string(p.keyScratch)]; ok {
		s.lastSeen = p.now()
		return s, ""
	}
	key, identity, target := seriesIdentity(res)
	if !identified || (target.ServiceName == "" && target.ServiceInstanceID == "") {
		// Without service.name or service.instance.id the series cannot be told apart nor captured.
		return nil, skipNoIdentity
	}
	if len(p.series) >= p.cfg.MaxSeries {
		p.evictIdle()
		if len(p.series) >= p.cfg.MaxSeries {
			return nil, skipSeriesLimit
		}
	}
	s := &series{
		key:        key,
		target:     target,
		identity:   identity,
		lastSeen:   p.now(),
		rules:      make([]ruleState, len(p.rules)),
		gcBaseline: make([]gcBaseline, len(p.rules)),
	}
	p.series[key] = s
	c.seriesDelta++
	return s, ""
}

// evictIdle forgets series that sent nothing for idle_timeout; their open episodes end (reason "series idle").
// It scans at most every tenth of idle_timeout.
func (p *readinessProcessor) evictIdle() {
	now := p.now()
	if now.Sub(p.lastEviction) < p.cfg.IdleTimeout/10 {
		return
	}
	p.lastEviction = now
	deadline := now.Add(-p.cfg.IdleTimeout)
	for key, s := range p.series {
		if !s.lastSeen.Before(deadline) {
			continue
		}
		for _, r := range p.rules {
			if r.kind != KindThreshold && s.rules[r.index].active {
				p.pending = append(p.pending, transition{series: s, rule: r, at: s.latest, details: s.rules[r.index].details, reason: "series idle"})
			}
		}
		for key, st := range s.thresholds {
			if st.active {
				r := p.thresholdRule(key)
				p.pending = append(p.pending, transition{series: s, rule: r, at: s.latest, details: st.details, reason: "series idle"})
			}
		}
		delete(p.series, key)
		p.telemetry.ProcessorReadinessSeriesTracked.Add(context.Background(), -1)
		p.logger.Debug("readiness: evicted idle series", zap.String("series", key))
	}
}

// thresholdRule finds the rule of a threshold state key (rule name, NUL, attributes).
func (p *readinessProcessor) thresholdRule(key string) *rule {
	name, _, _ := strings.Cut(key, "\x00")
	for _, r := range p.rules {
		if r.name == name {
			return r
		}
	}
	return nil
}

// ingestSignals stores the points of a runtime metric in the series history.
func (p *readinessProcessor) ingestSignals(s *series, m pmetric.Metric, sources []signalSource, c *counts) {
	for _, src := range sources {
		if !p.used[src.signal] {
			continue
		}
		switch src.from {
		case fromNumber:
			dps, ok := numberPoints(m)
			if !ok {
				c.skip(skipWrongType, countPoints(m))
				continue
			}
			if src.sumPoints && dps.Len() > 1 {
				p.ingestSummed(s, src, dps, c)
				continue
			}
			for i := 0; i < dps.Len(); i++ {
				dp := dps.At(i)
				p.ingestPoint(s, src.signal, int64(dp.Timestamp()), int64(dp.StartTimestamp()), numberValue(dp)*src.scale, dp.Flags().NoRecordedValue(), c)
			}
		case fromSummaryCount, fromSummarySum:
			switch m.Type() {
			case pmetric.MetricTypeSummary:
				dps := m.Summary().DataPoints()
				for i := 0; i < dps.Len(); i++ {
					dp := dps.At(i)
					v := float64(dp.Count())
					if src.from == fromSummarySum {
						v = dp.Sum()
					}
					p.ingestPoint(s, src.signal, int64(dp.Timestamp()), int64(dp.StartTimestamp()), v*src.scale, dp.Flags().NoRecordedValue(), c)
				}
			case pmetric.MetricTypeHistogram:
				dps := m.Histogram().DataPoints()
				for i := 0; i < dps.Len(); i++ {
					dp := dps.At(i)
					v := float64(dp.Count())
					if src.from == fromSummarySum {
						v = dp.Sum()
					}
					p.ingestPoint(s, src.signal, int64(dp.Timestamp()), int64(dp.StartTimestamp()), v*src.scale, dp.Flags().NoRecordedValue(), c)
				}
			default:
				c.skip(skipWrongType, countPoints(m))
			}
		}
	}
}

// ingestSummed adds up the points of each timestamp (a signal split by an attribute such as go.memory.type).
func (p *readinessProcessor) ingestSummed(s *series, src signalSource, dps pmetric.NumberDataPointSlice, c *counts) {
	type acc struct {
		ts, start int64
		v         float64
	}
	var sums []acc
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if dp.Flags().NoRecordedValue() {
			continue
		}
		ts := int64(dp.Timestamp())
		found := false
		for j := range sums {
			if sums[j].ts == ts {
				sums[j].v += numberValue(dp)
				found = true
			}
		}
		if !found {
			sums = append(sums, acc{ts: ts, start: int64(dp.StartTimestamp()), v: numberValue(dp)})
		}
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].ts < sums[j].ts })
	for _, a := range sums {
		p.ingestPoint(s, src.signal, a.ts, a.start, a.v*src.scale, false, c)
	}
}

// ingestPoint appends one sample to a signal history, rejecting what would corrupt it.
func (p *readinessProcessor) ingestPoint(s *series, sig signal, ts, start int64, v float64, noValue bool, c *counts) {
	switch {
	case ts == 0:
		c.skip(skipNoTimestamp, 1)
		return
	case noValue || math.IsNaN(v) || math.IsInf(v, 0):
		c.skip(skipInvalidValue, 1)
		return
	}
	p.viewRecord(s, sig, ts, v) // the readiness page's hour of history (view.go)
	if sig == sigHeapGoal {
		// The goal is the heap signal the rules prefer: the fallbacks' history is not needed once it arrives.
		for fb, only := range p.fallbackOnly {
			if only {
				s.signals[fb] = nil
			}
		}
	} else if p.fallbackOnly[sig] && s.signals[sigHeapGoal] != nil {
		c.evaluated++
		return
	}
	rg := s.signals[sig]
	if rg == nil {
		rg = newRing(p.cfg.MaxHistoryPoints)
		s.signals[sig] = rg
	}
	spacing, retention := p.spacing[sig], p.retention[sig]
	last, hasLast := rg.last()
	if hasLast && ts <= last.ts {
		c.skip(skipOutOfOrder, 1)
		return
	}
	if sig.cumulative() && hasLast {
		prevStart := s.startTimes[sig]
		// A process that started after our last sample, or a counter that fell to less than half: a restart.
		// A smaller step back is two sources (or a cached value) disagreeing about one process: skip the point.
		newProcess := start != 0 && prevStart != 0 && start != prevStart && start > last.ts
		switch {
		case newProcess || v < last.v/2:
			p.restart(s, ts)
			rg = s.signals[sig]
			hasLast = false
		case v < last.v:
			c.skip(skipCounterDecrease, 1)
			return
		}
	}
	c.evaluated++
	if sig.cumulative() {
		s.startTimes[sig] = start
	}
	if hasLast && ts-last.ts < spacing {
		// Denser than the history can hold for the longest window: thin.
		s.latest = max(s.latest, ts)
		return
	}
	rg.push(sample{ts: ts, v: v})
	rg.dropBefore(ts - retention)
	s.latest = max(s.latest, ts)
	if s.observedSince == 0 {
		s.observedSince = ts
	}
}

// restart handles a process restart seen in a cumulative counter: the old history is for another process, so it is
// dropped and open episodes of windowed rules end.
func (p *readinessProcessor) restart(s *series, ts int64) {
	s.restarted()
	s.observedSince = ts
	for _, r := range p.rules {
		st := &s.rules[r.index]
		if r.kind == KindThreshold || !st.active {
			continue
		}
		st.active = false
		st.lastEnd = ts
		p.pending = append(p.pending, transition{series: s, rule: r, start: false, at: ts, details: st.details, reason: "process restarted"})
	}
	s.gcBaseline = make([]gcBaseline, len(p.rules))
}

// ingestSites stores the goroutine count of each call site. A site seen for the first time when the series already
// tracks maxSitesPerSeries is skipped (site_limit); sites that sent nothing for the retention are forgotten.
func (p *readinessProcessor) ingestSites(s *series, m pmetric.Metric, c *counts) {
	dps, ok := numberPoints(m)
	if !ok {
		c.skip(skipWrongType, countPoints(m))
		return
	}
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		name, ok := dp.Attributes().Get(siteAttribute)
		ts, v := int64(dp.Timestamp()), numberValue(dp)
		switch {
		case !ok || name.Str() == "" || name.Str() == siteOther:
			continue
		case ts == 0:
			c.skip(skipNoTimestamp, 1)
			continue
		case dp.Flags().NoRecordedValue() || math.IsNaN(v) || math.IsInf(v, 0):
			c.skip(skipInvalidValue, 1)
			continue
		}
		rg := s.sites[name.Str()]
		if rg == nil {
			if s.sites == nil {
				s.sites = map[string]*ring{}
			}
			if len(s.sites) >= maxSitesPerSeries {
				p.forgetStaleSites(s, ts)
			}
			if len(s.sites) >= maxSitesPerSeries {
				c.skip(skipSiteLimit, 1)
				continue
			}
			rg = newRing(p.cfg.MaxHistoryPoints)
			s.sites[name.Str()] = rg
		}
		if last, ok := rg.last(); ok && (ts <= last.ts || ts-last.ts < p.siteSpacing) {
			if ts <= last.ts {
				c.skip(skipOutOfOrder, 1)
			}
			continue
		}
		c.evaluated++
		rg.push(sample{ts: ts, v: v})
		rg.dropBefore(ts - p.siteRetention)
		s.sitesLatest = max(s.sitesLatest, ts)
		if s.sitesSince == 0 {
			s.sitesSince = ts
		}
		s.latest = max(s.latest, ts)
		if s.observedSince == 0 {
			s.observedSince = ts
		}
	}
}

// forgetStaleSites drops the sites with no sample within the site retention before now.
func (p *readinessProcessor) forgetStaleSites(s *series, now int64) {
	for name, rg := range s.sites {
		if last, ok := rg.last(); !ok || now-last.ts > p.siteRetention {
			delete(s.sites, name)
		}
	}
}

// numberPoints returns the points of a gauge or sum; other types hold no plain numbers.
func numberPoints(m pmetric.Metric) (pmetric.NumberDataPointSlice, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints(), true
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints(), true
	default:
		return pmetric.NumberDataPointSlice{}, false
	}
}

// ingestThreshold evaluates a threshold rule on every point of m.
func (p *readinessProcessor) ingestThreshold(s *series, m pmetric.Metric, r *rule, c *counts) {
	dps, ok := numberPoints(m)
	if !ok {
		c.skip(skipWrongType, countPoints(m))
		return
	}
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !matchAttributes(r.attributes, dp.Attributes(), s) {
			continue
		}
		ts := int64(dp.Timestamp())
		v := numberValue(dp)
		switch {
		case ts == 0:
			c.skip(skipNoTimestamp, 1)
			continue
		case dp.Flags().NoRecordedValue() || math.IsNaN(v) || math.IsInf(v, 0):
			c.skip(skipInvalidValue, 1)
			continue
		}
		key := r.name + "\x00" + attributesKey(dp.Attributes())
		st := s.thresholds[key]
		if st == nil {
			if len(s.thresholds) >= maxThresholdStatesPerSeries {
				c.skip(skipAttributeLimit, 1)
				continue
			}
			if s.thresholds == nil {
				s.thresholds = map[string]*thresholdState{}
			}
			st = &thresholdState{}
			s.thresholds[key] = st
		}
		if ts <= st.lastTS {
			c.skip(skipOutOfOrder, 1)
			continue
		}
		c.evaluated++
		s.latest = max(s.latest, ts)
		started, ended := st.evalThreshold(r, ts, v)
		if !started && !ended {
			continue
		}
		details := map[string]string{"metric": r.metric, "value": fmtFloat(v), "threshold": fmtFloat(r.value), "for": r.forDur.String()}
		if a := attributesKey(dp.Attributes()); a != "" {
			details["attributes"] = a
		}
		if started {
			st.details = details
			p.pending = append(p.pending, transition{series: s, rule: r, start: true, at: ts, details: details})
		}
		if ended {
			p.pending = append(p.pending, transition{series: s, rule: r, start: false, at: ts, details: details, reason: "condition no longer holds"})
		}
	}
}

func matchAttributes(want map[string]string, point pcommon.Map, s *series) bool {
	for k, v := range want {
		if got, ok := point.Get(k); ok {
			if got.AsString() != v {
				return false
			}
			continue
		}
		found := false
		for _, a := range s.identity {
			if a.key == k {
				if a.value != v {
					return false
				}
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func attributesKey(m pcommon.Map) string {
	if m.Len() == 0 {
		return ""
	}
	keys := make([]string, 0, m.Len())
	m.Range(func(k string, _ pcommon.Value) bool {
		keys = append(keys, k)
		return true
	})
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		v, _ := m.Get(k)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v.AsString())
	}
	return b.String()
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func countPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// counts accumulates the telemetry of one batch, recorded once.
type counts struct {
	evaluated   int64
	skipped     map[string]int64
	seriesDelta int64
}

func (c *counts) skip(reason string, n int) {
	if n == 0 {
		return
	}
	if c.skipped == nil {
		c.skipped = map[string]int64{}
	}
	c.skipped[reason] += int64(n)
}

func (c *counts) record(ctx context.Context, tb *metadata.TelemetryBuilder) {
	if c.evaluated > 0 {
		tb.ProcessorReadinessPointsEvaluated.Add(ctx, c.evaluated)
	}
	for reason, n := range c.skipped {
		tb.ProcessorReadinessPointsSkipped.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
	}
	if c.seriesDelta != 0 {
		tb.ProcessorReadinessSeriesTracked.Add(ctx, c.seriesDelta)
	}
}

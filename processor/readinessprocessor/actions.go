package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// Names of the metrics the annotate action emits (documented in the README).
const (
	metricAnomalyActive   = "readiness.anomaly.active"
	metricAnomalyEpisodes = "readiness.anomaly.episodes"
	attrRuleName          = "readiness.rule.name"
	attrRuleKind          = "readiness.rule.kind"
	attrRuleSeverity      = "readiness.rule.severity"
)

// maxAttributionSites bounds the call sites named in a leak attribution log record.
const maxAttributionSites = 10

// act logs an episode start or end once and runs the rule's actions.
func (p *readinessProcessor) act(ctx context.Context, t transition) {
	fields := []zap.Field{
		zap.String("rule", t.rule.name),
		zap.String("kind", t.rule.kind),
		zap.String("severity", t.rule.severity),
		zap.String("service.name", t.series.target.ServiceName),
		zap.String("service.instance.id", t.series.target.ServiceInstanceID),
		zap.Time("data_time", time.Unix(0, t.at).UTC()),
	}
	for _, k := range slices.Sorted(maps.Keys(t.details)) {
		fields = append(fields, zap.String(k, t.details[k]))
	}
	p.publish(t)
	if t.followUp {
		p.logger.Info("readiness: follow-up capture requested", fields...)
		p.requestCapture(ctx, t)
		return
	}
	if !t.start {
		st := p.episodeState(t)
		if st != nil && st.since != 0 {
			fields = append(fields, zap.Duration("episode_duration", time.Duration(t.at-st.since)))
		}
		p.logger.Info("readiness anomaly ended", append(fields, zap.String("reason", t.reason))...)
		return
	}
	p.logger.Warn("readiness anomaly started", fields...)
	p.telemetry.ProcessorReadinessAnomalies.Add(ctx, 1, metric.WithAttributes(
		attribute.String("rule", t.rule.name), attribute.String("kind", t.rule.kind)))
	p.requestCapture(ctx, t)
}

// requestCapture queues the rule's captures of the series, when the rule has the capture action.
func (p *readinessProcessor) requestCapture(ctx context.Context, t transition) {
	if t.rule.takesCaptures() && p.captures != nil {
		p.captures.enqueue(ctx, captureJob{
			rule:      t.rule.name,
			episodeID: p.episodeID(t),
			request: pprofcaptureextension.Request{
				Target:   t.series.target,
				Kinds:    slices.Clone(t.rule.captureKinds),
				Reason:   t.rule.name,
				Details:  maps.Clone(t.details),
				Duration: t.rule.captureDur,
			},
		})
	}
}

func (p *readinessProcessor) episodeState(t transition) *ruleState {
	if t.rule.kind == KindThreshold {
		return nil
	}
	return &t.series.rules[t.rule.index]
}

// annotate appends, for every series seen in this batch whose report is due (an episode started or ended, or
// annotate_interval passed in data time), the state of its annotated rules.
func (p *readinessProcessor) annotate(md pmetric.Metrics, touched []*series) {
	for _, s := range touched {
		first := s.lastAnnotated == 0
		due := s.changed || first || s.latest-s.lastAnnotated >= int64(p.cfg.AnnotateInterval)
		s.changed = false
		if !due {
			continue
		}
		s.lastAnnotated = s.latest
		// After its first report a series' rules that never fired for it are left out (like Prometheus' ALERTS
		// series, which exist only for alerts that fire): on a healthy fleet the heartbeat then costs nothing.
		// With annotate_interval 0 every rule is reported in every batch.
		everyRule := first || p.cfg.AnnotateInterval == 0
		var rm pmetric.ResourceMetrics
		var active, episodes pmetric.NumberDataPointSlice
		for _, r := range p.rules {
			if !r.annotate {
				continue
			}
			isActive, count := p.ruleSummary(s, r)
			if !everyRule && !isActive && count == 0 {
				continue
			}
			if rm == (pmetric.ResourceMetrics{}) {
				rm = md.ResourceMetrics().AppendEmpty()
				for _, a := range s.identity {
					rm.Resource().Attributes().PutStr(a.key, a.value)
				}
				sm := rm.ScopeMetrics().AppendEmpty()
				sm.Scope().SetName(metadata.ScopeName)
				ma := sm.Metrics().AppendEmpty()
				ma.SetName(metricAnomalyActive)
				ma.SetDescription("1 while an anomaly episode of the rule is active for the service, 0 otherwise.")
				ma.SetUnit("1")
				active = ma.SetEmptyGauge().DataPoints()
				me := sm.Metrics().AppendEmpty()
				me.SetName(metricAnomalyEpisodes)
				me.SetDescription("Number of anomaly episodes of the rule that started for the service since the processor started.")
				me.SetUnit("{episode}")
				sum := me.SetEmptySum()
				sum.SetIsMonotonic(true)
				sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				episodes = sum.DataPoints()
			}
			ts := pcommon.Timestamp(s.latest)
			dp := active.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(boolToInt(isActive))
			putRuleAttributes(dp.Attributes(), r)
			de := episodes.AppendEmpty()
			de.SetStartTimestamp(p.startTime)
			de.SetTimestamp(ts)
			de.SetIntValue(count)
			putRuleAttributes(de.Attributes(), r)
		}
	}
}

// ruleSummary folds the state of a rule for a series (threshold rules: over their attribute sets).
func (p *readinessProcessor) ruleSummary(s *series, r *rule) (active bool, episodes int64) {
	if r.kind != KindThreshold {
		st := s.rules[r.index]
		return st.active, st.episodes
	}
	prefix := r.name + "\x00"
	for key, st := range s.thresholds {
		if len(key) >= len(prefix) && key[:len(prefix)] == prefix {
			active = active || st.active
			episodes += st.episodes
		}
	}
	return active, episodes
}

func putRuleAttributes(m pcommon.Map, r *rule) {
	m.EnsureCapacity(3)
	m.PutStr(attrRuleName, r.name)
	m.PutStr(attrRuleKind, r.kind)
	m.PutStr(attrRuleSeverity, r.severity)
}

func boolToInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// findBroker resolves the pprofcapture broker: the named extension, else the only one present.
func findBroker(host component.Host, id *component.ID) (pprofcaptureextension.Broker, error) {
	broker, err := pprofcaptureextension.FindBroker(host, id)
	if err != nil {
		if id != nil {
			return nil, fmt.Errorf("capture_extension: %w", err)
		}
		return nil, fmt.Errorf("a rule uses the capture action: %w (or set capture_extension)", err)
	}
	return broker, nil
}

// captureJob is one capture request waiting for the worker.
type captureJob struct {
	rule string
	// episodeID names the episode in the hub's update event.
	episodeID string
	request   pprofcaptureextension.Request
}

// captureWorker sends capture requests to the broker one at a time, off the data path: captures take seconds
// (goroutine_delta, cpu), ConsumeMetrics must never wait for them.
type captureWorker struct {
	broker    pprofcaptureextension.Broker
	hub       episodeSink // nil: no readiness_hub extension and no notifier
	timeout   time.Duration
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	queue     chan captureJob

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newCaptureWorker(broker pprofcaptureextension.Broker, hub episodeSink, cfg *Config, logger *zap.Logger, tb *metadata.TelemetryBuilder) *captureWorker {
	ctx, cancel := context.WithCancel(context.Background())
	return &captureWorker{
		broker:    broker,
		hub:       hub,
		timeout:   cfg.CaptureTimeout,
		logger:    logger,
		telemetry: tb,
		queue:     make(chan captureJob, cfg.CaptureQueueSize),
		ctx:       ctx,
		cancel:    cancel,
	}
}

func (w *captureWorker) start() {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.ctx.Done():
				return
			case job := <-w.queue:
				w.run(job)
			}
		}
	}()
}

func (w *captureWorker) stop() {
	w.cancel()
	w.wg.Wait()
}

// enqueue hands a job to the worker without blocking; a full queue refuses it.
func (w *captureWorker) enqueue(ctx context.Context, job captureJob) {
	select {
	case w.queue <- job:
	default:
		w.refused(ctx, job, "queue_full", errors.New("capture queue is full"))
	}
}

func (w *captureWorker) refused(ctx context.Context, job captureJob, reason string, err error) {
	w.telemetry.ProcessorReadinessCapturesRefused.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	w.logger.Info("readiness: capture not taken",
		zap.String("rule", job.rule),
		zap.String("service.name", job.request.Target.ServiceName),
		zap.String("service.instance.id", job.request.Target.ServiceInstanceID),
		zap.String("reason", reason), zap.Error(err))
}

func (w *captureWorker) run(job captureJob) {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	w.telemetry.ProcessorReadinessCapturesRequested.Add(ctx, 1)
	results, err := w.broker.Capture(ctx, job.request)
	if err != nil {
		reason := "error"
		switch {
		case errors.Is(err, pprofcaptureextension.ErrUnknownTarget):
			reason = "unknown_target"
		case errors.Is(err, pprofcaptureextension.ErrKindNotAllowed):
			reason = "kind_not_allowed"
		case errors.Is(err, pprofcaptureextension.ErrRateLimited):
			reason = "rate_limited"
		}
		w.refused(w.ctx, job, reason, err)
		return
	}
	w.report(job, results)
}

// report logs the captures and, for growth captures, the call sites that grew: what turns an alert into a fix.
func (w *captureWorker) report(job captureJob, results []pprofcaptureextension.Result) {
	base := []zap.Field{
		zap.String("rule", job.rule),
		zap.String("service.name", job.request.Target.ServiceName),
		zap.String("service.instance.id", job.request.Target.ServiceInstanceID),
	}
	// Goroutines per function from a full goroutine capture of the same request. The receiver takes a request's kinds
	// at once and the dump takes milliseconds, so it shows the counts at the start of the delta's sampling time:
	// with a delta capture it gives before, and after = before + growth.
	var atStart map[string]int64
	for _, res := range results {
		if res.Kind == pprofcaptureextension.KindGoroutine && res.Err == nil {
			atStart = map[string]int64{}
			for _, e := range res.Summary {
				atStart[e.Function] += e.Value
			}
		}
	}
	var named []string
	defer func() { publishCaptures(w.hub, job, results, named, time.Now()) }()
	for _, res := range results {
		fields := append(slices.Clone(base), zap.String("capture_kind", string(res.Kind)))
		if res.Err != nil {
			w.logger.Info("readiness: capture kind failed", append(fields, zap.Error(res.Err))...)
			continue
		}
		fields = append(fields, zap.String("path", res.Path), zap.Int64("size", res.Size))
		sites, grew := attributionSites(res, atStart)
		switch {
		case grew:
			named = append(named, sites...)
			fields = append(fields, zap.String("sample_type", res.SampleType), zap.Strings("sites", sites), zap.String("top_site", sites[0]))
			w.logger.Warn("readiness: leak attribution", fields...)
		case res.Kind == pprofcaptureextension.KindAllocsDelta && len(sites) > 0:
			named = append(named, sites...)
			// What allocated during the capture: the cause of a GC storm, not the top of the live heap.
			fields = append(fields, zap.String("sample_type", res.SampleType), zap.Strings("sites", sites), zap.String("top_site", sites[0]))
			w.logger.Warn("readiness: allocation attribution", fields...)
		default:
			if len(sites) > 0 {
				fields = append(fields, zap.String("sample_type", res.SampleType), zap.Strings("top", sites))
			}
			w.logger.Info("readiness: capture taken", fields...)
		}
	}
}

// attributionSites formats the summary of a capture. For a comparison (heap entries with before/after values) and
// for a goroutine delta it names the call sites that grew, biggest growth first, and reports grew = true; for other
// captures it names the top entries. atStart (goroutines per function when the delta's sampling began) turns a
// delta into before and after.
func attributionSites(res pprofcaptureextension.Result, atStart map[string]int64) (sites []string, grew bool) {
	entries := slices.Clone(res.Summary)
	compared := slices.ContainsFunc(entries, func(e pprofcaptureextension.SummaryEntry) bool { return e.Before != 0 || e.After != 0 })
	// Delta captures list what changed during the capture: positive values grew.
	delta := res.Kind == pprofcaptureextension.KindGoroutineDelta || res.Kind == pprofcaptureextension.KindHeapDelta
	grew = compared || delta
	if grew {
		entries = slices.DeleteFunc(entries, func(e pprofcaptureextension.SummaryEntry) bool {
			return (compared && e.After-e.Before <= 0) || (!compared && e.Value <= 0)
		})
		for i := range entries {
			e := &entries[i]
			if !compared {
				e.Value = max(e.Value, 0)
				if before, ok := atStart[e.Function]; ok {
					e.Before, e.After = before, before+e.Value
				}
			} else {
				e.Value = e.After - e.Before
			}
		}
		sort.SliceStable(entries, func(i, j int) bool { return entries[i].Value > entries[j].Value })
	}
	if len(entries) > maxAttributionSites {
		entries = entries[:maxAttributionSites]
	}
	for _, e := range entries {
		site := e.Function + " " + e.File + ":" + strconv.FormatInt(e.Line, 10)
		switch {
		case grew && (e.Before != 0 || e.After != 0):
			site += fmt.Sprintf(" before=%d after=%d (+%d)", e.Before, e.After, e.Value)
		case grew:
			site += fmt.Sprintf(" (+%d)", e.Value)
		default:
			site += fmt.Sprintf(" value=%d", e.Value)
		}
		sites = append(sites, site)
	}
	return sites, grew && len(sites) > 0
}

package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// target is one scraped service and what the receiver remembers about it between scrapes.
type target struct {
	cfg       *TargetConfig
	rcfg      *Config
	client    *http.Client
	baseURL   string
	host      string
	port      int64
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	mb        *metadata.MetricsBuilder

	// scrapeMu serialises scrapes of this target (a slow scrape is never overlapped by the next one).
	scrapeMu sync.Mutex
	// sites bounds pprofscrape.goroutine.site.count; used by scrapes only, under scrapeMu.
	sites *siteTracker
	// The fields below are read by captures too, under mu.
	mu       sync.Mutex
	identity pprofcaptureextension.TargetKey
	// fallbackIdentity is the configured identity, else the endpoint's host:port.
	fallbackIdentity pprofcaptureextension.TargetKey
	up               *bool // nil until the first scrape
	downReason       string
	startTime        pcommon.Timestamp
	lastOK           pcommon.Timestamp
	prevMem          *memStats
	// expvarAbsent and leakAbsent remember a 404 until the target restarts or comes back up.
	expvarAbsent   bool
	leakAbsent     bool
	lastHeapRead   time.Time
	lastStacksRead time.Time
	lastLeakRead   time.Time
	lastCaptureAt  time.Time
	lastCaptureOK  bool
}

func newTarget(cfg *TargetConfig, rcfg *Config, client *http.Client, set receiver.Settings, tb *metadata.TelemetryBuilder) (*target, error) {
	host, port, err := cfg.hostPort()
	if err != nil {
		return nil, err
	}
	hostPort := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	t := &target{
		cfg:       cfg,
		rcfg:      rcfg,
		client:    client,
		baseURL:   strings.TrimSuffix(cfg.Endpoint, "/"),
		host:      host,
		port:      port,
		logger:    set.Logger.With(zap.String("target", cfg.Endpoint)),
		telemetry: tb,
		mb:        metadata.NewMetricsBuilder(rcfg.MetricsBuilderConfig, set),
		sites:     newSiteTracker(rcfg.GoroutineMaxSites),
	}
	t.identity = pprofcaptureextension.TargetKey{ServiceName: cfg.ServiceName, ServiceInstanceID: cfg.ServiceInstanceID}
	if t.identity.ServiceName == "" {
		t.identity.ServiceName = hostPort
	}
	if t.identity.ServiceInstanceID == "" {
		t.identity.ServiceInstanceID = hostPort
	}
	t.fallbackIdentity = t.identity
	return t, nil
}

func (t *target) key() pprofcaptureextension.TargetKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.identity
}

// scrapeResult is what one scrape learned, before it is turned into metrics.
type scrapeResult struct {
	mem         *memStats
	goroutines  *int64
	stacks      []stackGroup
	sites       []sitePoint
	threads     *int64
	leaked      *int64
	mutexEvents *int64
	blockEvents *int64
	identity    *expvarPage
	// successes counts the requests that returned runtime data; the target is up when there is at least one.
	successes int
	errs      []error
	// unreachable is set once a request failed to connect or timed out: the rest of the scrape is skipped.
	unreachable bool
}

// errSkipped marks the requests not sent because the target already proved unreachable in this scrape.
var errSkipped = errors.New("skipped: target unreachable")

// get sends one request unless an earlier one of this scrape found the target unreachable (connection refused or
// timeout): a hung target then costs one request_timeout per scrape, not one per request.
func (r *scrapeResult) get(ctx context.Context, t *target, url string, consume func(io.Reader) error) error {
	if r.unreachable {
		return errSkipped
	}
	err := t.get(ctx, url, consume)
	if reason := reasonOf(err); err != nil && (reason == reasonConnection || reason == reasonTimeout) {
		r.unreachable = true
	}
	return err
}

func (r *scrapeResult) fail(t *target, err error) {
	if errors.Is(err, errSkipped) {
		return
	}
	r.errs = append(r.errs, err)
	t.telemetry.PprofscrapeScrapeErrors.Add(context.Background(), 1,
		metric.WithAttributes(attribute.String("reason", reasonOf(err))))
}

func (t *target) url(path string) string { return t.baseURL + path }

// pprofURL is the URL of a profile; an empty profile names the index page.
func (t *target) pprofURL(profile, query string) string {
	u := t.baseURL + t.cfg.pathPrefix() + "/" + profile
	if query != "" {
		u += "?" + query
	}
	return u
}

// get runs one scrape request with the receiver's request timeout and body limit.
func (t *target) get(ctx context.Context, url string, consume func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, t.rcfg.RequestTimeout)
	defer cancel()
	return fetch(ctx, t.client, url, t.rcfg.MaxBodySize, consume)
}

// due reports whether a costly read last done at last is due again. A quarter of the collection interval of
// slack keeps a 1m read on a 30s schedule at every second scrape despite timer jitter.
func (t *target) due(now, last time.Time, interval time.Duration) bool {
	return last.IsZero() || now.Sub(last)+t.rcfg.CollectionInterval/4 >= interval
}

func (t *target) memStatsWanted() bool {
	m := t.rcfg.Metrics
	return m.GoMemoryUsed.Enabled || m.GoMemoryAllocated.Enabled || m.GoMemoryAllocations.Enabled ||
		m.GoMemoryGcGoal.Enabled || m.GoMemoryGcCycles.Enabled || m.PprofscrapeGcPauseTotal.Enabled ||
		m.PprofscrapeGcCPUFraction.Enabled || m.PprofscrapeHeapInuse.Enabled || m.PprofscrapeHeapAlloc.Enabled ||
		m.PprofscrapeHeapSys.Enabled || m.PprofscrapeHeapObjects.Enabled
}

// collect performs the requests of one scrape. Requests run one after the other so that a target is never hit by
// more than one request of this receiver at a time.
func (t *target) collect(ctx context.Context, now time.Time) *scrapeResult {
	res := &scrapeResult{}
	m := t.rcfg.Metrics

	t.mu.Lock()
	expvarAbsent, leakAbsent, lastHeap, lastStacks, lastLeak := t.expvarAbsent, t.leakAbsent, t.lastHeapRead, t.lastStacksRead, t.lastLeakRead
	t.mu.Unlock()

	expvarPath := t.cfg.expvarPath()
	if expvarPath != "" && !expvarAbsent {
		var page expvarPage
		err := res.get(ctx, t, t.url(expvarPath), func(r io.Reader) error {
			var perr error
			page, perr = parseExpvar(r)
			if errors.Is(perr, errNoMemStats) {
				return nil
			}
			return perr
		})
		switch {
		case err == nil:
			res.successes++
			res.identity = &page
			res.mem = page.MemStats
			if page.MemStats == nil {
				expvarAbsent = true
			}
		case isNotFound(err):
			expvarAbsent = true
		default:
			res.fail(t, err)
		}
	}

	if res.mem == nil && expvarAbsent && t.memStatsWanted() && t.due(now, lastHeap, t.rcfg.HeapMemStatsInterval) {
		err := res.get(ctx, t, t.pprofURL("heap", "debug=1"), func(r io.Reader) error {
			mem, perr := parseHeapMemStats(r)
			if perr == nil {
				res.mem = &mem
			}
			return perr
		})
		if err != nil {
			res.fail(t, err)
		} else {
			res.successes++
			lastHeap = now
		}
	}

	// The pprof index page carries the goroutine, threadcreate and goroutineleak totals, computed without
	// walking any stack: one cheap request instead of three profile renderings.
	var indexCounts map[string]int64
	if m.GoGoroutineCount.Enabled || m.PprofscrapeThreadCount.Enabled || m.PprofscrapeGoroutineLeaked.Enabled {
		err := res.get(ctx, t, t.pprofURL("", ""), func(r io.Reader) error {
			var perr error
			indexCounts, perr = parseIndexCounts(r)
			return perr
		})
		if err != nil {
			t.logger.Debug("pprof index page unusable, reading the profiles one by one", zap.Error(err))
			indexCounts = nil
		} else {
			res.successes++
		}
	}

	// One read of the stack groups feeds both the top stacks and the per-owner counts.
	wantStacks := (m.PprofscrapeGoroutineStackCount.Enabled && t.rcfg.GoroutineTopStacks > 0) || m.PprofscrapeGoroutineSiteCount.Enabled
	withStacks := wantStacks && t.due(now, lastStacks, t.rcfg.GoroutineStacksInterval)
	if total, ok := indexCounts["goroutine"]; ok && m.GoGoroutineCount.Enabled {
		res.goroutines = &total
	}
	if withStacks || (m.GoGoroutineCount.Enabled && res.goroutines == nil) {
		err := res.get(ctx, t, t.pprofURL("goroutine", "debug=1"), func(r io.Reader) error {
			if withStacks {
				total, stacks, perr := parseGoroutineStacks(r)
				if perr == nil {
					if m.PprofscrapeGoroutineStackCount.Enabled {
						res.stacks = stacks[:min(len(stacks), t.rcfg.GoroutineTopStacks)]
					}
					if m.PprofscrapeGoroutineSiteCount.Enabled {
						res.sites = t.sites.update(goroutinesByOwner(stacks))
					}
					if m.GoGoroutineCount.Enabled && res.goroutines == nil {
						res.goroutines = &total
					}
				}
				return perr
			}
			total, perr := parseProfileTotal(r, "goroutine")
			if perr == nil {
				res.goroutines = &total
			}
			return perr
		})
		res.record(t, err)
		if err == nil && withStacks {
			lastStacks = now
		}
	}

	if total, ok := indexCounts["threadcreate"]; ok && m.PprofscrapeThreadCount.Enabled {
		res.threads = &total
	} else if m.PprofscrapeThreadCount.Enabled {
		err := res.get(ctx, t, t.pprofURL("threadcreate", "debug=1"), func(r io.Reader) error {
			total, perr := parseProfileTotal(r, "threadcreate")
			if perr == nil {
				res.threads = &total
			}
			return perr
		})
		res.record(t, err)
	}

	// The index page's goroutineleak count is the result of the last leak-detecting GC, which only runs when the
	// profile itself is written; reading the profile runs one (a full GC in the target), so it has its own rate.
	_, leakListed := indexCounts["goroutineleak"]
	leakServed := leakListed || (indexCounts == nil && !leakAbsent)
	if m.PprofscrapeGoroutineLeaked.Enabled && leakServed && t.due(now, lastLeak, t.rcfg.GoroutineLeakInterval) {
		err := res.get(ctx, t, t.pprofURL("goroutineleak", "debug=1"), func(r io.Reader) error {
			total, perr := parseProfileTotal(r, "goroutineleak")
			if perr == nil {
				res.leaked = &total
			}
			return perr
		})
		switch {
		case isNotFound(err):
			// Served only by Go 1.26+ built with GOEXPERIMENT=goroutineleakprofile: absence is normal.
			leakAbsent = true
		case err == nil:
			res.successes++
			lastLeak = now
		default:
			res.fail(t, err)
		}
	}

	if m.PprofscrapeMutexContentions.Enabled {
		err := res.get(ctx, t, t.pprofURL("mutex", "debug=1"), func(r io.Reader) error {
			n, perr := parseContentionCount(r)
			if perr == nil {
				res.mutexEvents = &n
			}
			return perr
		})
		res.record(t, err)
	}
	if m.PprofscrapeBlockEvents.Enabled {
		err := res.get(ctx, t, t.pprofURL("block", "debug=1"), func(r io.Reader) error {
			n, perr := parseContentionCount(r)
			if perr == nil {
				res.blockEvents = &n
			}
			return perr
		})
		res.record(t, err)
	}

	t.mu.Lock()
	t.expvarAbsent, t.leakAbsent, t.lastHeapRead, t.lastStacksRead, t.lastLeakRead = expvarAbsent, leakAbsent, lastHeap, lastStacks, lastLeak
	t.mu.Unlock()
	return res
}

func (r *scrapeResult) record(t *target, err error) {
	if err != nil {
		r.fail(t, err)
		return
	}
	r.successes++
}

// scrape collects the target and returns its metrics (one ResourceMetrics).
func (t *target) scrape(ctx context.Context) pmetric.Metrics {
	t.scrapeMu.Lock()
	defer t.scrapeMu.Unlock()

	begin := time.Now()
	res := t.collect(ctx, begin)
	now := pcommon.NewTimestampFromTime(time.Now())
	t.telemetry.PprofscrapeScrapes.Add(context.Background(), 1)

	up := res.successes > 0
	t.mu.Lock()
	if t.startTime == 0 {
		t.startTime = pcommon.NewTimestampFromTime(begin)
	}
	restarted := false
	if res.identity != nil && res.identity.ServiceInstanceID != "" && t.identity.ServiceInstanceID != res.identity.ServiceInstanceID &&
		t.lastOK != 0 {
		restarted = true // a new instance answers at the same endpoint
	}
	if res.mem != nil && t.prevMem != nil && res.mem.countersWentDown(t.prevMem) {
		restarted = true
	}
	if restarted {
		// The process restarted between the last good scrape and this one: its counters begin again there.
		t.startTime = t.lastOK
		t.expvarAbsent, t.leakAbsent, t.lastHeapRead, t.lastLeakRead = false, false, time.Time{}, time.Time{}
	}
	if res.mem != nil {
		t.prevMem = res.mem
	}
	if res.identity != nil {
		// What the target reports wins over the configuration, which wins over the endpoint.
		t.identity = t.fallbackIdentity
		if res.identity.ServiceName != "" {
			t.identity.ServiceName = res.identity.ServiceName
		}
		if res.identity.ServiceInstanceID != "" {
			t.identity.ServiceInstanceID = res.identity.ServiceInstanceID
		}
	}
	if up {
		t.lastOK = now
	}
	changed := t.up == nil || *t.up != up
	if !up && !changed && len(res.errs) > 0 && reasonOf(res.errs[0]) != t.downReason {
		changed = true
	}
	if changed {
		t.up = &up
		t.downReason = ""
		if !up && len(res.errs) > 0 {
			t.downReason = reasonOf(res.errs[0])
		}
		if !up {
			// A target that comes back may be a new process: probe the optional endpoints again.
			t.expvarAbsent, t.leakAbsent = false, false
		}
	}
	identity, start := t.identity, t.startTime
	t.mu.Unlock()

	t.logState(changed, up, restarted, res)
	return t.emit(res, now, start, identity, up, time.Since(begin))
}

func (t *target) logState(changed, up, restarted bool, res *scrapeResult) {
	if restarted {
		t.logger.Info("Target restarted: counters start again", zap.String("service.instance.id", t.key().ServiceInstanceID))
	}
	switch {
	case changed && up:
		t.logger.Info("Target is up")
	case changed && !up:
		var err error
		if len(res.errs) > 0 {
			err = res.errs[0]
		}
		t.logger.Warn("Target is down", zap.String("reason", reasonOf(err)), zap.Error(err))
	}
	if up {
		// Partial failures of an up target are routine (e.g. a cut body): keep them out of the warn level.
		for _, err := range res.errs {
			t.logger.Debug("Scrape request failed", zap.String("reason", reasonOf(err)), zap.Error(err))
		}
	}
}

func (t *target) emit(res *scrapeResult, now, start pcommon.Timestamp, id pprofcaptureextension.TargetKey, up bool, took time.Duration) pmetric.Metrics {
	mb := t.mb
	if res.mem != nil {
		m := res.mem
		mb.RecordGoMemoryUsedDataPoint(now, int64(m.Sys-min(m.HeapReleased, m.Sys)))
		mb.RecordGoMemoryAllocatedDataPoint(now, int64(m.TotalAlloc))
		mb.RecordGoMemoryAllocationsDataPoint(now, int64(m.Mallocs))
		mb.RecordGoMemoryGcGoalDataPoint(now, int64(m.NextGC))
		mb.RecordGoMemoryGcCyclesDataPoint(now, int64(m.NumGC))
		if m.hasPauseTotal {
			mb.RecordPprofscrapeGcPauseTotalDataPoint(now, float64(m.PauseTotalNs)/1e9)
		}
		mb.RecordPprofscrapeGcCPUFractionDataPoint(now, m.GCCPUFraction)
		mb.RecordPprofscrapeHeapInuseDataPoint(now, int64(m.HeapInuse))
		mb.RecordPprofscrapeHeapAllocDataPoint(now, int64(m.HeapAlloc))
		mb.RecordPprofscrapeHeapSysDataPoint(now, int64(m.HeapSys))
		mb.RecordPprofscrapeHeapObjectsDataPoint(now, int64(m.HeapObjects))
	}
	if res.goroutines != nil {
		mb.RecordGoGoroutineCountDataPoint(now, *res.goroutines)
	}
	for _, s := range res.stacks {
		mb.RecordPprofscrapeGoroutineStackCountDataPoint(now, s.Count, s.Function, s.ID)
	}
	for _, s := range res.sites {
		mb.RecordPprofscrapeGoroutineSiteCountDataPoint(now, s.count, s.function)
	}
	if res.threads != nil {
		mb.RecordPprofscrapeThreadCountDataPoint(now, *res.threads)
	}
	if res.leaked != nil {
		mb.RecordPprofscrapeGoroutineLeakedDataPoint(now, *res.leaked)
	}
	if res.mutexEvents != nil {
		mb.RecordPprofscrapeMutexContentionsDataPoint(now, *res.mutexEvents)
	}
	if res.blockEvents != nil {
		mb.RecordPprofscrapeBlockEventsDataPoint(now, *res.blockEvents)
	}
	upValue := int64(0)
	if up {
		upValue = 1
	}
	mb.RecordPprofscrapeTargetUpDataPoint(now, upValue)
	mb.RecordPprofscrapeScrapeDurationDataPoint(now, took.Seconds())

	return mb.Emit(metadata.WithResource(t.resource(id)), metadata.WithStartTimeOverride(start))
}

func (t *target) resource(id pprofcaptureextension.TargetKey) pcommon.Resource {
	rb := t.mb.NewResourceBuilder()
	rb.SetServiceName(id.ServiceName)
	rb.SetServiceInstanceID(id.ServiceInstanceID)
	rb.SetServerAddress(t.host)
	rb.SetServerPort(t.port)
	res := rb.Emit()
	for k, v := range t.cfg.Attributes {
		res.Attributes().PutStr(k, v)
	}
	return res
}

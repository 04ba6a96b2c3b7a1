package readinessprocessor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// envE2E enables the end-to-end test when no prebuilt binary is given ($OTELCOL_READY_BIN): building the
// distribution takes minutes, too long for the package's unit test run.
const envE2E = "READINESS_E2E"

// Timing of the end-to-end runs; testdata/e2e.yaml.tmpl holds the matching collector config.
const (
	e2eGrowthWindow = 40 * time.Second
	e2eEvaluation   = 4 * time.Second
	// The healthy phase before a knob is switched on: the growth rules' start-up grace (1.5 windows, not judged)
	// plus one judged window. The gc_frequency rule (30 s window, 40 s baseline warm-up) is judged for most of it.
	e2eHealthyFor = e2eGrowthWindow*3/2 + e2eGrowthWindow
	// Bounds of the waits; a healthy run needs far less.
	e2eDetectTimeout  = 2 * time.Minute
	e2eCaptureTimeout = 45 * time.Second

	leakingFunction = "leakyHandlerWorker"
	ruleLeak        = "goroutine-leak"
	ruleGCStorm     = "gc-storm"
)

// TestE2E runs the real otelcol-ready binary next to demo services, two collectors in parallel. Each demo
// service starts with its healthy noisy knob for e2eHealthyFor (no rule may fire for any of them), then a problem
// knob is switched on:
//   - pprofscrape as the source, one collector scraping two demo services: the leak knob on "leaky" gives exactly
//     one goroutine-growth episode, goroutine, goroutine delta and heap captures on disk that parse and name the
//     leaking function, the capture log records and the processor's leak attribution naming it; the GC-storm knob on
//     "stormy" gives a gc_frequency episode;
//   - the prometheus receiver as the only source of the readiness pipeline (pprofscrape only serves the captures):
//     the leak knob gives exactly one goroutine-growth episode and captures naming the leaking function.
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with the real binary: not in -short mode")
	}
	if os.Getenv(testbed.EnvCollectorBinary) == "" && os.Getenv(envE2E) == "" {
		t.Skipf("set $%s (prebuilt distro/otelcol-ready; $%s for a prebuilt demo service) or %s=1 to run the end-to-end test",
			testbed.EnvCollectorBinary, testbed.EnvDemoAppBinary, envE2E)
	}
	bins := testbed.NewBinaries(t.TempDir())
	collectorBin, err := bins.Collector()
	require.NoError(t, err)
	demoBin, err := bins.DemoApp()
	require.NoError(t, err)

	t.Run("pprofscrape", func(t *testing.T) {
		t.Parallel()
		const leaky, stormy = "leaky", "stormy"
		r := startE2E(t, collectorBin, demoBin, "pprofscrape", leaky, stormy)
		r.healthyPhase()

		stormAt := time.Now()
		require.NoError(t, r.demos[stormy].Control(r.ctx, "gcstorm", true, nil))
		leakAt := time.Now()
		require.NoError(t, r.demos[leaky].Control(r.ctx, "leak", true, nil))
		storm := r.waitEpisode(stormy, ruleGCStorm, stormAt)
		// The storm costs CPU that everything on the machine shares: switch it off once it was seen.
		require.NoError(t, r.demos[stormy].Control(r.ctx, "gcstorm", false, nil))
		t.Logf("gc storm detected %s after the knob (log data_time; annotation point at +%s): %v",
			storm.dataTime.Sub(stormAt).Round(time.Second), storm.annotationAt.Sub(stormAt).Round(time.Second), storm.details)

		r.leakScenario(leaky, leakAt, true)
		assert.Equal(t, 1, r.episodesStarted(stormy, ruleGCStorm), "episodes of %s for %s", ruleGCStorm, stormy)
	})
	t.Run("prometheus", func(t *testing.T) {
		t.Parallel()
		const service = "checkout"
		r := startE2E(t, collectorBin, demoBin, "prometheus", service)
		r.healthyPhase()
		leakAt := time.Now()
		require.NoError(t, r.demos[service].Control(r.ctx, "leak", true, nil))
		r.leakScenario(service, leakAt, false)
	})
}

// e2eRun is one collector next to demo services.
type e2eRun struct {
	t           *testing.T
	ctx         context.Context
	source      string
	services    []string
	demos       map[string]*testbed.DemoApp
	col         *testbed.Collector
	metricsFile string
	logsFile    string
	captureDir  string
}

func startE2E(t *testing.T, collectorBin, demoBin, source string, services ...string) *e2eRun {
	templatePath, err := filepath.Abs(filepath.Join("testdata", "e2e.yaml.tmpl"))
	require.NoError(t, err)
	dir := t.TempDir()
	r := &e2eRun{
		t: t, ctx: context.Background(), source: source, services: services, demos: map[string]*testbed.DemoApp{},
		metricsFile: filepath.Join(dir, "metrics.json"), logsFile: filepath.Join(dir, "logs.json"),
		captureDir: filepath.Join(dir, "captures"),
	}
	var targets []map[string]string
	for _, service := range services {
		// -duration bounds the demo service even if the test's cleanup never ran.
		demo := testbed.StartDemoApp(t, demoBin, testbed.DemoAppOptions{
			Name: service, Modes: []string{"healthy"}, Args: []string{"-service-name", service, "-duration", "6m"},
		})
		r.demos[service] = demo
		targets = append(targets, map[string]string{"Addr": demo.Addr(), "Name": service})
	}
	r.col = testbed.NewCollector(t, collectorBin, testbed.CollectorConfig{
		Name:     "readiness-" + source,
		Template: templatePath,
		Vars: map[string]any{
			"Source": source, "Targets": targets, "CaptureDir": r.captureDir,
			"MetricsFile": r.metricsFile, "LogsFile": r.logsFile,
		},
	})
	r.col.MustStart()
	return r
}

// goroutineMetric is the name of the goroutine count in the source's naming.
func (r *e2eRun) goroutineMetric() string {
	if r.source == "prometheus" {
		return "go_goroutines"
	}
	return "go.goroutine.count"
}

// healthyPhase waits until the source's goroutine series of every demo service covers e2eHealthyFor of data time
// with the healthy knob on, and checks that no rule fired: no episode in the annotations and no start in the log.
func (r *e2eRun) healthyPhase() {
	t := r.t
	covered := func(p []testbed.MetricPoint) bool {
		for _, service := range r.services {
			first, last := r.seriesSpan(p, service)
			if first.IsZero() || last.Sub(first) < e2eHealthyFor {
				return false
			}
		}
		return true
	}
	points, err := testbed.WaitForMetrics(r.ctx, r.metricsFile, e2eHealthyFor+time.Minute, covered)
	require.NoError(t, err, "the %s series of %v cover the healthy phase", r.goroutineMetric(), r.services)
	for _, service := range r.services {
		var annotations int
		for _, p := range points {
			if p.Resource["service.name"] != service {
				continue
			}
			switch p.Name {
			case metricAnomalyActive:
				annotations++
				if p.Value != 0 {
					t.Errorf("healthy phase: rule %v active for %s at %s", p.Attrs[attrRuleName], service, p.Time.Format(time.RFC3339))
				}
			case metricAnomalyEpisodes:
				assert.Zero(t, p.Value, "healthy phase: episodes of rule %v for %s", p.Attrs[attrRuleName], service)
			}
		}
		require.Positive(t, annotations, "the processor annotates the series of %s", service)
		first, last := r.seriesSpan(points, service)
		t.Logf("healthy phase of %s: %s of %s data (%s to %s), no anomaly in %d annotation points", service,
			last.Sub(first).Round(time.Second), r.goroutineMetric(), first.Format(time.TimeOnly), last.Format(time.TimeOnly), annotations)
	}
	for _, line := range r.logLines("readiness anomaly started") {
		t.Errorf("healthy phase: %v", evidence(line))
	}
}

func (r *e2eRun) seriesSpan(points []testbed.MetricPoint, service string) (first, last time.Time) {
	name := r.goroutineMetric()
	for _, p := range points {
		if p.Name != name || p.Resource["service.name"] != service {
			continue
		}
		if first.IsZero() || p.Time.Before(first) {
			first = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
	}
	return first, last
}

// episodeStart is what the collector reported when an episode started.
type episodeStart struct {
	dataTime     time.Time // data_time of the "readiness anomaly started" log line
	annotationAt time.Time // first readiness.anomaly.active = 1 point
	details      map[string]any
}

// waitEpisode waits for the first episode of the rule for the service, in the annotations and in the log.
func (r *e2eRun) waitEpisode(service, rule string, knobAt time.Time) episodeStart {
	t := r.t
	var start episodeStart
	_, err := testbed.WaitForMetrics(r.ctx, r.metricsFile, e2eDetectTimeout, func(p []testbed.MetricPoint) bool {
		for _, pt := range p {
			if pt.Name == metricAnomalyActive && pt.Value == 1 && pt.Attrs[attrRuleName] == rule &&
				pt.Resource["service.name"] == service {
				start.annotationAt = pt.Time
				return true
			}
		}
		return false
	})
	require.NoError(t, err, "an episode of %s for %s after the knob was switched on at %s", rule, service, knobAt.Format(time.TimeOnly))
	var line map[string]any
	require.True(t, testbed.WaitUntil(r.ctx, 10*time.Second, 200*time.Millisecond, func() bool {
		for _, l := range r.logLines("readiness anomaly started") {
			if l["rule"] == rule && l["service.name"] == service {
				line = l
				return true
			}
		}
		return false
	}), "the collector logs the start of the %s episode of %s", rule, service)
	dataTime, _ := line["data_time"].(string)
	start.dataTime, err = time.Parse(time.RFC3339Nano, dataTime)
	require.NoError(t, err, "data_time of %v", line)
	assert.False(t, start.dataTime.Before(knobAt.Add(-e2eEvaluation)), "the episode started after the knob: %v", line)
	start.details = evidence(line)
	return start
}

// evidence keeps the fields of an episode log line that describe the episode.
func evidence(line map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range line {
		switch {
		case k == "caller", k == "level", k == "msg", k == "ts", k == "resource", strings.HasPrefix(k, "otelcol."):
		default:
			out[k] = v
		}
	}
	return out
}

// leakScenario checks what follows the leak knob switched on for the service at knobAt: one goroutine-growth
// episode, a goroutine and a heap capture that parse and name the leaking function, the capture's log record.
// full adds the goroutine delta capture and the processor's leak attribution.
func (r *e2eRun) leakScenario(service string, knobAt time.Time, full bool) {
	t := r.t
	start := r.waitEpisode(service, ruleLeak, knobAt)
	t.Logf("%s: goroutine leak of %s detected %s after the knob (log data_time; annotation point at +%s): %v", r.source,
		service, start.dataTime.Sub(knobAt).Round(time.Second), start.annotationAt.Sub(knobAt).Round(time.Second), start.details)
	serviceDir := filepath.Join(r.captureDir, service, "*")

	// The goroutine dump (debug=2 text) names the leaking worker.
	dumps, err := testbed.WaitForFiles(r.ctx, filepath.Join(serviceDir, "*-goroutine.txt"), 1, e2eCaptureTimeout)
	require.NoError(t, err, "a goroutine capture on disk")
	dump, err := os.ReadFile(dumps[0])
	require.NoError(t, err)
	assert.Contains(t, string(dump), "main."+leakingFunction, "the goroutine capture %s", dumps[0])

	heaps, err := testbed.WaitForFiles(r.ctx, filepath.Join(serviceDir, "*-heap.pb.gz"), 1, e2eCaptureTimeout)
	require.NoError(t, err, "a heap capture on disk")
	heap := parseProfile(t, heaps[0])
	assert.NotEmpty(t, heap.Sample, "heap samples in %s", heaps[0])
	if full {
		deltas, err := testbed.WaitForFiles(r.ctx, filepath.Join(serviceDir, "*-goroutine_delta.pb.gz"), 1, e2eCaptureTimeout)
		require.NoError(t, err, "a goroutine delta capture on disk")
		delta := parseProfile(t, deltas[0])
		assert.True(t, profileHasFunction(delta, leakingFunction), "the goroutine delta %s names %s", deltas[0], leakingFunction)
	}

	// The capture's log record on the logs pipeline names the rule and the leaking function.
	_, err = testbed.WaitForLogs(r.ctx, r.logsFile, e2eCaptureTimeout, func(logs []plog.Logs) bool {
		return captureRecordNames(logs, service, ruleLeak, "goroutine", leakingFunction)
	})
	require.NoError(t, err, "a pprofscrape.capture log record of the goroutine capture names %s", leakingFunction)
	if full {
		var attribution map[string]any
		require.True(t, testbed.WaitUntil(r.ctx, e2eCaptureTimeout, 250*time.Millisecond, func() bool {
			for _, l := range r.logLines("readiness: leak attribution") {
				site, _ := l["top_site"].(string)
				if l["rule"] == ruleLeak && l["service.name"] == service && strings.Contains(site, leakingFunction) {
					attribution = l
					return true
				}
			}
			return false
		}), "the processor's leak attribution names %s", leakingFunction)
		t.Logf("leak attribution: %v", attribution["sites"])
	}

	// A few more evaluations with the leak going on: the episode stays one episode.
	_, err = testbed.WaitForMetrics(r.ctx, r.metricsFile, time.Minute, func(p []testbed.MetricPoint) bool {
		_, last := r.seriesSpan(p, service)
		return last.Sub(start.dataTime) >= 4*e2eEvaluation
	})
	require.NoError(t, err)
	r.stop()
	assert.Equal(t, 1, r.episodesStarted(service, ruleLeak), "episodes of %s for %s", ruleLeak, service)
	batches, err := testbed.ReadMetricsFile(r.metricsFile)
	require.NoError(t, err)
	var episodes, leaked float64
	for _, p := range testbed.FlattenMetrics(batches) {
		if p.Resource["service.name"] != service {
			continue
		}
		switch {
		case p.Name == metricAnomalyEpisodes && p.Attrs[attrRuleName] == ruleLeak:
			episodes = max(episodes, p.Value)
		case p.Name == "pprofscrape.goroutine.leaked":
			leaked = max(leaked, p.Value)
		}
	}
	assert.Equal(t, 1.0, episodes, "%s of %s for %s", metricAnomalyEpisodes, ruleLeak, service)
	if r.source == "pprofscrape" {
		t.Logf("highest pprofscrape.goroutine.leaked of %s: %g (0 when the demo is built without goroutineleakprofile)", service, leaked)
	}
}

// stop shuts the collector down gracefully (the file exporters flush, the log is complete); the demo services
// are stopped by the test's cleanup.
func (r *e2eRun) stop() {
	require.NoError(r.t, r.col.Stop())
	for _, l := range r.logLines("readiness anomaly started") {
		r.t.Logf("episode started: %v", evidence(l))
	}
}

// episodesStarted counts the collector's "readiness anomaly started" lines of a rule for a service.
func (r *e2eRun) episodesStarted(service, rule string) int {
	n := 0
	for _, l := range r.logLines("readiness anomaly started") {
		if l["rule"] == rule && l["service.name"] == service {
			n++
		}
	}
	return n
}

// logLines returns the collector's JSON log lines with the message msg.
func (r *e2eRun) logLines(msg string) []map[string]any {
	b, err := os.ReadFile(r.col.LogPath())
	if err != nil {
		return nil
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(msg)) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func parseProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	prof, err := profile.Parse(f)
	require.NoError(t, err, "parsing %s", path)
	return prof
}

func profileHasFunction(prof *profile.Profile, name string) bool {
	for _, fn := range prof.Function {
		if strings.Contains(fn.Name, name) {
			return true
		}
	}
	return false
}

// captureRecordNames reports whether a pprofscrape.capture record of the service, rule and kind carries the
// rule's details and has text in its summary.
func captureRecordNames(logs []plog.Logs, service, rule, kind, text string) bool {
	for _, l := range logs {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			if name, _ := l.ResourceLogs().At(i).Resource().Attributes().Get("service.name"); name.Str() != service {
				continue
			}
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					reason, _ := lr.Attributes().Get("reason")
					gotKind, _ := lr.Attributes().Get("kind")
					summary, _ := lr.Attributes().Get("summary")
					// The values that crossed the rule travel with the request into the record.
					details, _ := lr.Attributes().Get("details")
					if lr.EventName() == "pprofscrape.capture" && reason.Str() == rule && gotKind.Str() == kind &&
						details.Type() == pcommon.ValueTypeMap && details.Map().Len() > 0 &&
						strings.Contains(fmt.Sprint(summary.AsRaw()), text) {
						return true
					}
				}
			}
		}
	}
	return false
}

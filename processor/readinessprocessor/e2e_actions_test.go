package readinessprocessor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// envAlertmanagerBin overrides where the Alertmanager binary of TestE2ENotify is found.
const envAlertmanagerBin = "ALERTMANAGER_BIN"

// skipUnlessE2E skips a test that runs the real binary unless a prebuilt one is given (or READINESS_E2E=1).
func skipUnlessE2E(t *testing.T) (collectorBin, demoBin string) {
	t.Helper()
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
	demoBin, err = bins.DemoApp()
	require.NoError(t, err)
	return collectorBin, demoBin
}

// TestE2ENotify runs the real binary next to the demo service, a real Alertmanager (the Debian package
// prometheus-alertmanager) and a webhook receiver in the test:
//   - Alertmanager is down when the leak starts: the episode's start reaches the webhook, the failed attempts to
//     Alertmanager are counted, the metrics pipeline keeps flowing;
//   - Alertmanager comes up within the retry window: the alert arrives, with the rule, the severity and the
//     leaking function named by the captures;
//   - the leak stops, the episode ends: the alert resolves (it leaves /api/v2/alerts) and the webhook sees the end,
//     after start and update, under one episode id.
func TestE2ENotify(t *testing.T) {
	collectorBin, demoBin := skipUnlessE2E(t)
	amBin := alertmanagerBinary(t)
	t.Parallel()
	ctx := context.Background()
	const service = "payments"

	hook := newWebhookReceiver(t)
	amAddr := testbed.FreeEndpoint(t)
	dir := t.TempDir()
	metricsFile := filepath.Join(dir, "metrics.json")
	demo := testbed.StartDemoApp(t, demoBin, testbed.DemoAppOptions{
		Name: service, Modes: []string{"healthy"}, Args: []string{"-service-name", service, "-duration", "8m"},
	})
	templatePath, err := filepath.Abs(filepath.Join("testdata", "e2e_notify.yaml.tmpl"))
	require.NoError(t, err)
	col := testbed.NewCollector(t, collectorBin, testbed.CollectorConfig{
		Name: "readiness-notify", Template: templatePath,
		Vars: map[string]any{
			"Target": demo.Addr(), "Service": service, "CaptureDir": filepath.Join(dir, "captures"),
			"MetricsFile": metricsFile, "AlertmanagerEndpoint": "http://" + amAddr, "WebhookEndpoint": hook.srv.URL,
		},
	})
	col.MustStart()
	leakAt := time.Now()
	require.NoError(t, demo.Control(ctx, "leak", true, nil))

	// Alertmanager down: the start reaches the webhook, the attempts to Alertmanager fail and are retried.
	start := hook.wait(t, "start", 2*time.Minute)
	t.Logf("episode started %s after the leak knob: %s", time.Since(leakAt).Round(time.Second), start.Episode.Summary)
	assert.Equal(t, "goroutine-leak", start.Episode.Rule)
	assert.Equal(t, service, start.Episode.ServiceName)
	var failedAt time.Time
	require.True(t, testbed.WaitUntil(ctx, 30*time.Second, 250*time.Millisecond, func() bool {
		totals, err := col.TelemetryTotals("otelcol_processor_readiness_notifications")
		if err != nil || totals["otelcol_processor_readiness_notifications_retried"] < 1 {
			return false
		}
		failedAt = time.Now()
		t.Logf("Alertmanager down: %v", totals)
		return true
	}), "failed notifications to the Alertmanager that is down are counted")
	_, err = testbed.WaitForMetrics(ctx, metricsFile, 20*time.Second, func(points []testbed.MetricPoint) bool {
		for _, p := range points {
			if p.Name == "go.goroutine.count" && p.Resource["service.name"] == service && p.Time.After(failedAt) {
				return true
			}
		}
		return false
	})
	require.NoError(t, err, "the metrics pipeline keeps flowing while Alertmanager is down")

	// Alertmanager comes up: the alert (retried, then its update with the named site) arrives.
	am := startAlertmanager(t, amBin, amAddr)
	upAt := time.Now()
	var alert amGettableAlert
	require.True(t, testbed.WaitUntil(ctx, 90*time.Second, 500*time.Millisecond, func() bool {
		for _, a := range am.alerts(t) {
			if a.Labels["alertname"] == "goroutine-leak" && a.Labels["service_name"] == service &&
				strings.Contains(a.Annotations["site"], leakingFunction) {
				alert = a
				return true
			}
		}
		return false
	}), "an alert of goroutine-leak for %s naming %s in Alertmanager", service, leakingFunction)
	t.Logf("alert in Alertmanager %s after it came up: labels %v annotations %v state %s", time.Since(upAt).Round(time.Second),
		alert.Labels, alert.Annotations, alert.Status.State)
	assert.Equal(t, "critical", alert.Labels["severity"])
	assert.Equal(t, KindGoroutineGrowth, alert.Labels["kind"])
	assert.NotEmpty(t, alert.Labels["service_instance_id"])
	assert.Equal(t, "active", alert.Status.State)
	assert.Contains(t, alert.Annotations["summary"], "goroutine-leak (critical) on "+service)
	assert.Contains(t, alert.Annotations["captures"], "goroutine")
	update := hook.wait(t, "update", 30*time.Second)
	assert.Contains(t, strings.Join(update.Episode.Sites, " "), leakingFunction)

	// The leak stops: the episode ends and the alert resolves.
	require.NoError(t, demo.Control(ctx, "leak", false, nil))
	stopAt := time.Now()
	end := hook.wait(t, "end", 4*time.Minute)
	t.Logf("episode ended %s after the leak stopped: %s", time.Since(stopAt).Round(time.Second), end.Episode.EndReason)
	assert.Equal(t, start.Episode.ID, end.Episode.ID)
	assert.Equal(t, start.Episode.ID, update.Episode.ID)
	require.True(t, testbed.WaitUntil(ctx, 30*time.Second, 500*time.Millisecond, func() bool {
		for _, a := range am.alerts(t) {
			if a.Labels["alertname"] == "goroutine-leak" && a.Labels["service_name"] == service {
				return false
			}
		}
		return true
	}), "the alert resolves in Alertmanager after the episode's end")

	require.NoError(t, col.Stop())
	totals, err := col.TelemetryTotals("otelcol_processor_readiness_notifications")
	if err == nil {
		t.Logf("notification telemetry at the end: %v", totals)
	}
}

// webhookReceiver records the documents of the notify webhook.
type webhookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs []WebhookEvent
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var doc WebhookEvent
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.docs = append(w.docs, doc)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// wait returns the first document of the phase.
func (w *webhookReceiver) wait(t *testing.T, phase string, timeout time.Duration) WebhookEvent {
	t.Helper()
	var doc WebhookEvent
	ok := testbed.WaitUntil(context.Background(), timeout, 200*time.Millisecond, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, d := range w.docs {
			if d.Phase == phase {
				doc = d
				return true
			}
		}
		return false
	})
	require.True(t, ok, "a webhook document of phase %s", phase)
	return doc
}

// alertmanagerBinary finds the Alertmanager binary: $ALERTMANAGER_BIN, prometheus-alertmanager (Debian) or
// alertmanager on the PATH. Without one the test is skipped, except under CI, where it fails.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envAlertmanagerBin); p != "" {
		return p
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Alertmanager binary: install the Debian package prometheus-alertmanager (.ci/run does) or set $" + envAlertmanagerBin
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// alertmanager is a real Alertmanager on loopback with its own storage, clustering off.
type alertmanager struct {
	addr string
}

func startAlertmanager(t *testing.T, bin, addr string) *alertmanager {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(`route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
`), 0o600))
	logFile, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=info")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("alertmanager log:\n%s", b)
		}
	})
	am := &alertmanager{addr: addr}
	require.True(t, testbed.WaitUntil(context.Background(), 30*time.Second, 200*time.Millisecond, func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}), "Alertmanager ready on %s", addr)
	return am
}

// amGettableAlert is what GET /api/v2/alerts returns per alert (the fields the test reads).
type amGettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// alerts lists the alerts Alertmanager holds that are not resolved.
func (a *alertmanager) alerts(t *testing.T) []amGettableAlert {
	t.Helper()
	resp, err := http.Get("http://" + a.addr + "/api/v2/alerts")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []amGettableAlert
	if err := json.Unmarshal(body, &out); err != nil {
		t.Logf("GET /api/v2/alerts: %s: %v", body, err)
	}
	return out
}

// TestE2ESampling sends traces of two services through the real binary with the readiness sampler at a base rate of
// 10 %, flags one of them through a real readiness episode (a threshold rule on a metric the test sends) and
// measures the kept share of each service: before the episode, right after its start, and after its end and tail.
func TestE2ESampling(t *testing.T) {
	collectorBin, _ := skipUnlessE2E(t)
	t.Parallel()
	const (
		flagged, calm = "inventory", "catalog"
		perPhase      = 3000
		base          = 0.10
		tail          = 3 * time.Second
	)
	dir := t.TempDir()
	tracesFile := filepath.Join(dir, "traces.json")
	otlp := testbed.FreeEndpoint(t)
	templatePath, err := filepath.Abs(filepath.Join("testdata", "e2e_sampling.yaml.tmpl"))
	require.NoError(t, err)
	col := testbed.NewCollector(t, collectorBin, testbed.CollectorConfig{
		Name: "readiness-sampling", Template: templatePath,
		Vars: map[string]any{"OTLPEndpoint": otlp, "TracesFile": tracesFile, "MetricsFile": filepath.Join(dir, "metrics.json"), "Tail": tail.String()},
	})
	col.MustStart()
	s := &traceSender{t: t, url: "http://" + otlp, rng: rand.New(rand.NewPCG(11, 12))}

	measure := func(phase string) map[string]float64 {
		t.Helper()
		for _, svc := range []string{flagged, calm} {
			s.send(svc, phase, perPhase)
		}
		return keptShares(t, tracesFile, phase, perPhase)
	}
	check := func(phase string, shares map[string]float64, wantFlagged float64) {
		t.Helper()
		t.Logf("%s: kept %s %.1f %%, %s %.1f %%", phase, flagged, 100*shares[flagged], calm, 100*shares[calm])
		assertShare(t, shares[flagged], wantFlagged, perPhase, phase+" "+flagged)
		assertShare(t, shares[calm], base, perPhase, phase+" "+calm)
	}

	check("before", measure("before"), base)

	// The flag starts an episode at the point that carries it (a threshold rule judges every point): the traces sent
	// right after it are kept at the episode rate.
	flagAt := time.Now()
	s.sendFlag(flagged, 1, flagAt)
	check("episode", measure("episode"), 1.0)
	line := waitLogLine(t, col, "readiness anomaly started", 10*time.Second)
	assert.Equal(t, "e2e-flag", line["rule"])
	assert.Equal(t, flagged, line["service.name"])
	marked := episodeMarkedSpans(t, tracesFile, "episode", flagged)
	assertShare(t, float64(marked)/perPhase, 1-base, perPhase, "spans marked readiness.sampling.reason=episode")

	// The flag clears: the episode ends; after the tail the flagged service is back at the base rate.
	s.sendFlag(flagged, 0, flagAt.Add(time.Second))
	waitLogLine(t, col, "readiness anomaly ended", 10*time.Second)
	time.Sleep(tail + time.Second)
	check("after", measure("after"), base)

	totals, err := col.TelemetryTotals("otelcol_processor_readiness_sampler")
	require.NoError(t, err)
	t.Logf("sampler telemetry: %v", totals)
	assert.Positive(t, totals["otelcol_processor_readiness_sampler_spans_kept"])
	assert.Positive(t, totals["otelcol_processor_readiness_sampler_spans_dropped"])
}

// assertShare checks a kept share against the binomial spread of n decisions (5 standard deviations).
func assertShare(t *testing.T, got, want float64, n int, what string) {
	t.Helper()
	tol := 5*math.Sqrt(want*(1-want)/float64(n)) + 0.5/float64(n)
	assert.InDelta(t, want, got, tol, "%s: kept share %.4f, want %.2f ± %.4f", what, got, want, tol)
}

// traceSender posts single-span traces and gauge points over OTLP/HTTP (protobuf).
type traceSender struct {
	t   *testing.T
	url string
	rng *rand.Rand
}

func (s *traceSender) post(path string, body []byte) {
	s.t.Helper()
	resp, err := http.Post(s.url+path, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "%s: %s", path, msg)
}

// send posts n traces of the service named phase, then a marker trace (named phase+"/end") whose trace id every
// rate keeps: once the marker is in the file, the whole phase is.
func (s *traceSender) send(service, phase string, n int) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := pcommon.NewTimestampFromTime(time.Now())
	add := func(name string, id pcommon.TraceID) {
		span := spans.AppendEmpty()
		span.SetName(name)
		span.SetTraceID(id)
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], s.rng.Uint64()|1)
		span.SetSpanID(sid)
		span.SetStartTimestamp(now)
		span.SetEndTimestamp(now)
	}
	for i := 0; i < n; i++ {
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], s.rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], s.rng.Uint64())
		add(phase, id)
	}
	marker := pcommon.TraceID{0x01, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	add(phase+"/end", marker)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(s.t, err)
	s.post("/v1/traces", body)
}

// sendFlag posts one point of the e2e.flag gauge for the service.
func (s *traceSender) sendFlag(service string, v float64, at time.Time) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	rm.Resource().Attributes().PutStr("service.instance.id", service+"-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("e2e.flag")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.SetDoubleValue(v)
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(s.t, err)
	s.post("/v1/metrics", body)
}

// phaseSpans waits until both services' markers of the phase are in the traces file and returns its spans of that
// phase.
func phaseSpans(t *testing.T, path, phase string, markers int) []ptrace.Span {
	t.Helper()
	var spans []ptrace.Span
	ok := testbed.WaitUntil(context.Background(), 20*time.Second, 100*time.Millisecond, func() bool {
		batches, err := testbed.ReadTracesFile(path)
		if err != nil {
			return false
		}
		spans = spans[:0]
		seen := 0
		for _, td := range batches {
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				rs := td.ResourceSpans().At(i)
				for j := 0; j < rs.ScopeSpans().Len(); j++ {
					ss := rs.ScopeSpans().At(j).Spans()
					for k := 0; k < ss.Len(); k++ {
						switch ss.At(k).Name() {
						case phase + "/end":
							seen++
						case phase:
							span := ptrace.NewSpan()
							ss.At(k).CopyTo(span)
							span.Attributes().PutStr("service.name", serviceOf(rs))
							spans = append(spans, span)
						}
					}
				}
			}
		}
		return seen >= markers
	})
	require.True(t, ok, "the markers of phase %s reach the traces file", phase)
	return spans
}

func serviceOf(rs ptrace.ResourceSpans) string {
	v, _ := rs.Resource().Attributes().Get("service.name")
	return v.Str()
}

// keptShares returns the share of the phase's traces kept per service.
func keptShares(t *testing.T, path, phase string, sent int) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, span := range phaseSpans(t, path, phase, 2) {
		svc, _ := span.Attributes().Get("service.name")
		out[svc.Str()] += 1 / float64(sent)
	}
	return out
}

// episodeMarkedSpans counts the phase's spans of the service marked as kept because of an episode.
func episodeMarkedSpans(t *testing.T, path, phase, service string) int {
	t.Helper()
	n := 0
	for _, span := range phaseSpans(t, path, phase, 2) {
		svc, _ := span.Attributes().Get("service.name")
		reason, _ := span.Attributes().Get("readiness.sampling.reason")
		rule, _ := span.Attributes().Get("readiness.sampling.rule")
		if svc.Str() == service && reason.Str() == "episode" {
			assert.Equal(t, "e2e-flag", rule.Str())
			n++
		}
	}
	return n
}

// waitLogLine waits for a JSON log line of the collector with the message and returns it.
func waitLogLine(t *testing.T, col *testbed.Collector, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	var line map[string]any
	ok := testbed.WaitUntil(context.Background(), timeout, 100*time.Millisecond, func() bool {
		b, err := os.ReadFile(col.LogPath())
		if err != nil {
			return false
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
				line = m
				return true
			}
		}
		return false
	})
	require.True(t, ok, "the collector logs %q", msg)
	return line
}

package readinessprocessor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadatatest"
)

// recorder is an HTTP endpoint that records the bodies posted to it and answers with the statuses it is given
// (200 once they are used up).
type recorder struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	status []int
	bodies [][]byte
	paths  []string
	got    chan struct{}
	// hold, when set, keeps every request waiting until it is closed.
	hold chan struct{}
}

func newRecorder(t *testing.T, status ...int) *recorder {
	r := &recorder{t: t, status: status, got: make(chan struct{}, 1024)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.hold != nil {
			select {
			case <-r.hold:
			case <-req.Context().Done():
				return
			}
		}
		r.mu.Lock()
		code := http.StatusOK
		if len(r.status) > 0 {
			code, r.status = r.status[0], r.status[1:]
		}
		if code == http.StatusOK {
			r.bodies = append(r.bodies, body)
			r.paths = append(r.paths, req.URL.Path)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait blocks until n requests were accepted.
func (r *recorder) wait(n int) [][]byte {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.bodies) >= n {
			out := append([][]byte(nil), r.bodies...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			r.t.Fatalf("%d notifications accepted, want %d: %s", len(r.bodies), n, r.bodies)
		}
	}
}

func notifyTestConfig(am, webhook string) *NotifyConfig {
	cfg := defaultNotifyConfig()
	cfg.Alertmanager.Endpoint = am
	cfg.Webhook.Endpoint = webhook
	cfg.RetryOnFailure.InitialInterval = time.Millisecond
	cfg.RetryOnFailure.MaxInterval = 5 * time.Millisecond
	cfg.RetryOnFailure.MaxElapsedTime = 10 * time.Second
	return &cfg
}

type notifyFixture struct {
	n    *notifier
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
	now  time.Time
}

// startNotifierForTest runs a notifier with a fixed clock and a hub that serves page links.
func startNotifierForTest(t *testing.T, cfg *NotifyConfig) *notifyFixture {
	t.Helper()
	require.NoError(t, confmap.Validate(cfg))
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := tel.NewTelemetrySettings()
	core, logs := observer.New(zap.DebugLevel)
	set.Logger = zap.New(core)
	tb, err := metadata.NewTelemetryBuilder(set)
	require.NoError(t, err)
	f := &notifyFixture{tel: tel, logs: logs, now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	n, err := newNotifier(context.Background(), cfg, &testHost{}, pageHub{}, set, tb)
	require.NoError(t, err)
	n.now = func() time.Time { return f.now }
	n.start()
	t.Cleanup(n.stop)
	f.n = n
	return f
}

// pageHub is a hub that serves a readiness page (only EpisodeURL is used by the notifier).
type pageHub struct{ readinesshubextension.Hub }

func (pageHub) EpisodeURL(ep readinesshubextension.Episode) string {
	return "http://collector:13133/readiness/episodes/" + ep.Rule
}

func testEpisode() readinesshubextension.Episode {
	return readinesshubextension.Episode{
		ID: "svc\x00a\x00goroutine-leak\x001", Rule: "goroutine-leak", Kind: KindGoroutineGrowth, Severity: "critical",
		Target:   pprofcaptureextension.TargetKey{ServiceName: "checkout", ServiceInstanceID: "pod-1"},
		Identity: map[string]string{"service.name": "checkout", "service.instance.id": "pod-1", "k8s.pod.name": "checkout-7d9"},
		Start:    time.Date(2026, 12, 2, 9, 58, 0, 0, time.UTC),
		Details:  map[string]string{"growth": "+45", "value": "145"},
	}
}

func decodeAlerts(t *testing.T, body []byte) amAlert {
	t.Helper()
	var alerts []amAlert
	require.NoError(t, json.Unmarshal(body, &alerts))
	require.Len(t, alerts, 1)
	return alerts[0]
}

// One episode through both targets: Alertmanager gets a firing alert, its update (named site, captures) and the
// resolving one; the webhook gets start, update and end documents of one episode ID.
func TestNotifyEpisodeLifecycle(t *testing.T) {
	am, hook := newRecorder(t), newRecorder(t)
	f := startNotifierForTest(t, notifyTestConfig(am.srv.URL, hook.srv.URL+"/hooks/readiness"))
	ep := testEpisode()
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: ep})

	a := decodeAlerts(t, am.wait(1)[0])
	assert.Equal(t, "/api/v2/alerts", am.paths[0])
	assert.Equal(t, map[string]string{
		"alertname": "goroutine-leak", "service_name": "checkout", "service_instance_id": "pod-1",
		"severity": "critical", "kind": KindGoroutineGrowth, "k8s_pod_name": "checkout-7d9",
	}, a.Labels)
	assert.Equal(t, ep.Start, a.StartsAt)
	assert.Equal(t, f.now.Add(4*time.Minute), a.EndsAt, "firing: endsAt four re-send intervals ahead")
	assert.Equal(t, "goroutine-leak (critical) on checkout/pod-1: growth=+45 value=145", a.Annotations["summary"])
	assert.Equal(t, "http://collector:13133/readiness/episodes/goroutine-leak", a.Annotations["readiness_page"])

	update := readinesshubextension.Episode{ID: ep.ID, Sites: []string{"main.leakyHandlerWorker"},
		Captures: []readinesshubextension.Capture{{Kind: "goroutine", Path: "/data/captures/checkout/pod-1/x-goroutine.txt"}, {Kind: "heap", Err: "timeout"}}}
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseUpdate, Episode: update})
	a = decodeAlerts(t, am.wait(2)[1])
	assert.Equal(t, "main.leakyHandlerWorker", a.Annotations["site"])
	assert.Equal(t, "x-goroutine.txt", a.Annotations["captures"], "file names of the successful captures")
	assert.Contains(t, a.Annotations["summary"], "; site main.leakyHandlerWorker")
	assert.Equal(t, "goroutine-leak", a.Labels["alertname"], "the update is completed from the start")

	f.now = f.now.Add(3 * time.Minute)
	end := readinesshubextension.Episode{ID: ep.ID, End: ep.Start.Add(5 * time.Minute), EndReason: "growth stopped"}
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseEnd, Episode: end})
	a = decodeAlerts(t, am.wait(3)[2])
	assert.Equal(t, f.now, a.EndsAt, "resolved at the end")
	assert.Equal(t, ep.Start, a.StartsAt)

	bodies := hook.wait(3)
	assert.Equal(t, "/hooks/readiness", hook.paths[0])
	var docs []WebhookEvent
	for _, b := range bodies {
		var d WebhookEvent
		require.NoError(t, json.Unmarshal(b, &d))
		docs = append(docs, d)
	}
	assert.Equal(t, []string{"start", "update", "end"}, []string{docs[0].Phase, docs[1].Phase, docs[2].Phase})
	for _, d := range docs {
		assert.Equal(t, "1", d.Version)
		assert.Equal(t, docs[0].Episode.ID, d.Episode.ID)
		assert.Equal(t, "checkout", d.Episode.ServiceName)
		assert.Equal(t, "goroutine-leak", d.Episode.Rule)
	}
	assert.Empty(t, docs[0].Episode.Sites)
	assert.Equal(t, []string{"main.leakyHandlerWorker"}, docs[1].Episode.Sites)
	require.Len(t, docs[1].Episode.Captures, 2)
	assert.Equal(t, "timeout", docs[1].Episode.Captures[1].Error)
	require.NotNil(t, docs[2].Episode.End)
	assert.Equal(t, end.End, *docs[2].Episode.End)
	assert.Equal(t, "growth stopped", docs[2].Episode.EndReason)
	assert.Equal(t, "http://collector:13133/readiness/episodes/goroutine-leak", docs[2].Episode.URL)

	f.n.stop()
	metadatatest.AssertEqualProcessorReadinessNotificationsSent(t, f.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"), attribute.String("phase", "start"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"), attribute.String("phase", "update"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"), attribute.String("phase", "end"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("phase", "start"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("phase", "update"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("phase", "end"))},
	}, metricdatatest.IgnoreTimestamp())
}

// Updates and ends of episodes whose start the notifier never saw (rules without notify) are not sent.
func TestNotifyIgnoresEpisodesOfOtherRules(t *testing.T) {
	hook := newRecorder(t)
	f := startNotifierForTest(t, notifyTestConfig("", hook.srv.URL))
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseUpdate, Episode: readinesshubextension.Episode{ID: "other"}})
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseEnd, Episode: readinesshubextension.Episode{ID: "other"}})
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: testEpisode()})
	var d WebhookEvent
	require.NoError(t, json.Unmarshal(hook.wait(1)[0], &d))
	assert.Equal(t, "start", d.Phase)
}

// Active episodes are re-sent to Alertmanager (not to the webhook) with a fresh endsAt.
func TestNotifyResendsActiveAlerts(t *testing.T) {
	am, hook := newRecorder(t), newRecorder(t)
	f := startNotifierForTest(t, notifyTestConfig(am.srv.URL, hook.srv.URL))
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: testEpisode()})
	am.wait(1)
	hook.wait(1)
	require.Eventually(t, func() bool { return f.n.targets[0].idle() }, 10*time.Second, time.Millisecond)
	f.now = f.now.Add(time.Minute)
	for _, tg := range f.n.targets {
		if tg.resends {
			f.n.resendActive(tg)
		}
	}
	a := decodeAlerts(t, am.wait(2)[1])
	assert.Equal(t, f.now.Add(4*time.Minute), a.EndsAt)
	assert.Equal(t, testEpisode().Start, a.StartsAt)
	f.n.stop()
	metadatatest.AssertEqualProcessorReadinessNotificationsSent(t, f.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"), attribute.String("phase", "start"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"), attribute.String("phase", "resend"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("phase", "start"))},
	}, metricdatatest.IgnoreTimestamp())
}

// A target that fails (503, 429) gets the notification once it answers again; the attempts are counted.
func TestNotifyRetriesWithBackoff(t *testing.T) {
	am := newRecorder(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	f := startNotifierForTest(t, notifyTestConfig(am.srv.URL, ""))
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: testEpisode()})
	am.wait(1)
	f.n.stop()
	metadatatest.AssertEqualProcessorReadinessNotificationsRetried(t, f.tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("target", "alertmanager"))},
	}, metricdatatest.IgnoreTimestamp())
}

// A 4xx is not retried; a target that stays down is given up after the retry window; both are counted and logged.
func TestNotifyDrops(t *testing.T) {
	hook := newRecorder(t, http.StatusBadRequest)
	cfg := notifyTestConfig("", hook.srv.URL)
	cfg.RetryOnFailure.MaxElapsedTime = 20 * time.Millisecond
	f := startNotifierForTest(t, cfg)
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: testEpisode()})
	<-hook.got
	hook.srv.Close() // connection refused from now on
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseEnd, Episode: readinesshubextension.Episode{ID: testEpisode().ID}})
	require.Eventually(t, func() bool {
		return f.logs.FilterMessage("readiness: notification dropped").Len() >= 1 && len(f.n.targets[0].queue) == 0 && f.n.targets[0].idle()
	}, 10*time.Second, time.Millisecond)
	f.n.stop()
	metadatatest.AssertEqualProcessorReadinessNotificationsDropped(t, f.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("reason", "rejected"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("target", "webhook"), attribute.String("reason", "retries_exhausted"))},
	}, metricdatatest.IgnoreTimestamp())
	// Drops are logged at most once per interval per target: the second one (same fixed clock) is held back.
	assert.Equal(t, 1, f.logs.FilterMessage("readiness: notification dropped").Len())
}

// A target that hangs never blocks Publish: the queue fills and further notifications are dropped.
func TestNotifyNeverBlocks(t *testing.T) {
	hook := newRecorder(t)
	hook.hold = make(chan struct{})
	cfg := notifyTestConfig("", hook.srv.URL)
	cfg.QueueSize = 2
	f := startNotifierForTest(t, cfg)
	const events = 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < events; i++ {
			ep := testEpisode()
			ep.ID = string(rune('a' + i))
			f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: ep})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a hanging target")
	}
	close(hook.hold)
	f.n.stop()
	var dropped int64
	var rm metricdata.ResourceMetrics
	require.NoError(t, f.tel.Reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "otelcol_processor_readiness_notifications_dropped" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				dropped += dp.Value
			}
		}
	}
	// At most one in flight and two queued were not dropped for a full queue; the rest were (queue_full or shutdown).
	assert.GreaterOrEqual(t, dropped, int64(events-3))
}

func TestNotifyConfig(t *testing.T) {
	t.Run("notify without target", func(t *testing.T) {
		rule := goroutineRule()
		rule.Actions = []string{ActionAnnotate, ActionNotify}
		err := testConfig(rule).Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), `rules[0] ("goroutine-leak").actions`)
		assert.Contains(t, err.Error(), "notify.alertmanager.endpoint or notify.webhook.endpoint")
	})
	t.Run("default rules notify when a target is set", func(t *testing.T) {
		cfg := testConfig()
		rules, err := compileRules(cfg)
		require.NoError(t, err)
		for _, r := range rules {
			assert.False(t, r.notify, r.name)
		}
		cfg.Notify.Webhook.Endpoint = "http://hooks:8080"
		rules, err = compileRules(cfg)
		require.NoError(t, err)
		require.Len(t, rules, 3)
		for _, r := range rules {
			assert.True(t, r.notify, r.name)
		}
	})
	t.Run("explicit rules notify only when listed", func(t *testing.T) {
		cfg := testConfig(goroutineRule())
		cfg.Notify.Alertmanager.Endpoint = "http://am:9093"
		rules, err := compileRules(cfg)
		require.NoError(t, err)
		assert.False(t, rules[0].notify)
	})
	t.Run("invalid", func(t *testing.T) {
		cfg := defaultNotifyConfig()
		cfg.Alertmanager.Endpoint = "alertmanager:9093"
		cfg.QueueSize = 0
		cfg.ResendInterval = 0
		err := cfg.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "notify.alertmanager.endpoint")
		assert.Contains(t, err.Error(), "notify.queue_size")
		assert.Contains(t, err.Error(), "notify.resend_interval")
	})
	t.Run("from yaml", func(t *testing.T) {
		cfg, err := loadConfig(t, "notify")
		require.NoError(t, err)
		assert.Equal(t, "http://alertmanager:9093", cfg.Notify.Alertmanager.Endpoint)
		assert.Equal(t, 3*time.Second, cfg.Notify.Alertmanager.Timeout)
		assert.Equal(t, "https://hooks.example.com/readiness", cfg.Notify.Webhook.Endpoint)
		auth, ok := cfg.Notify.Webhook.Headers.Get("X-Auth")
		assert.True(t, ok)
		assert.Equal(t, "token", string(auth))
		assert.Equal(t, 30*time.Second, cfg.Notify.ResendInterval)
		assert.Equal(t, 2*time.Minute, cfg.Notify.RetryOnFailure.MaxElapsedTime)
		assert.Equal(t, []string{ActionCapture, ActionNotify}, cfg.Rules[0].Actions)
	})
}

// The processor sends the episodes of its notify rules, with the sites named by the capture worker, to the
// webhook; the readiness log line and captures are unchanged.
func TestProcessorNotifies(t *testing.T) {
	hook := newRecorder(t)
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture, ActionAnnotate, ActionNotify}
	rule.Capture.Kinds = []pprofcaptureextension.Kind{"goroutine_delta"}
	cfg := testConfig(rule)
	cfg.Notify.Webhook.Endpoint = hook.srv.URL
	h := newHarness(t, cfg)
	h.capturer.results = []pprofcaptureextension.Result{
		{Kind: pprofcaptureextension.KindGoroutineDelta, Path: "/tmp/d.pb.gz", Size: 100, SampleType: "goroutine",
			Summary: []pprofcaptureextension.SummaryEntry{{Function: "main.leakyHandler.func1", File: "leak.go", Line: 42, Value: 60}}},
	}
	h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries())
	require.Len(t, h.starts("goroutine-leak"), 1)
	// The capture worker runs apart from the data path: the update (named sites) is sent once it is done, and an
	// update that comes after the episode's end is not sent. Wait for it before ending the episode.
	hook.wait(2)
	h.clock = h.clock.Add(h.p.cfg.IdleTimeout + time.Minute)
	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "b"), epoch, runtimeSample{OffsetMillis: 1, Goroutines: 5}))

	bodies := hook.wait(3)
	phases := map[string]WebhookEvent{}
	for _, b := range bodies {
		var d WebhookEvent
		require.NoError(t, json.Unmarshal(b, &d))
		phases[d.Phase] = d
	}
	require.Contains(t, phases, "start")
	require.Contains(t, phases, "update")
	require.Contains(t, phases, "end")
	assert.Equal(t, "svc", phases["start"].Episode.ServiceName)
	assert.Contains(t, phases["start"].Episode.Details, "growth")
	assert.Equal(t, []string{"main.leakyHandler.func1"}, phases["update"].Episode.Sites)
	assert.Equal(t, "series idle", phases["end"].Episode.EndReason)
	assert.Equal(t, phases["start"].Episode.ID, phases["end"].Episode.ID)
}

// The notifier works without a readiness_hub extension.
func TestProcessorNotifiesWithoutHub(t *testing.T) {
	hook := newRecorder(t)
	rule := goroutineRule()
	rule.Actions = []string{ActionNotify}
	cfg := testConfig(rule)
	cfg.Notify.Webhook.Endpoint = hook.srv.URL
	p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), &testHost{}))
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	require.Nil(t, p.hub)
	clock := epoch
	p.now = func() time.Time { return clock }
	for _, s := range leakSeries() {
		clock = epoch.Add(s.at())
		_, err := p.processMetrics(context.Background(), toMetrics(namingPprofscrape, serviceResource("svc", "a"), epoch.Add(-time.Hour), s))
		require.NoError(t, err)
	}
	var d WebhookEvent
	require.NoError(t, json.Unmarshal(hook.wait(1)[0], &d))
	assert.Equal(t, "start", d.Phase)
	assert.Equal(t, "goroutine-leak", d.Episode.Rule)
}

// The targets are confighttp clients: configured headers reach the endpoint.
func TestNotifyClientHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	cfg := notifyTestConfig("", srv.URL)
	cfg.Webhook.Headers.Set("Authorization", "Bearer s3cret")
	f := startNotifierForTest(t, cfg)
	f.n.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseStart, Episode: testEpisode()})
	select {
	case h := <-got:
		assert.Equal(t, "Bearer s3cret", h.Get("Authorization"))
		assert.Equal(t, "application/json", h.Get("Content-Type"))
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the webhook")
	}
}

func TestLabelName(t *testing.T) {
	assert.Equal(t, "k8s_pod_name", labelName("k8s.pod.name"))
	assert.Equal(t, "_lives", labelName("9lives"))
	assert.Equal(t, "deployment_environment_name", labelName("deployment.environment.name"))
}

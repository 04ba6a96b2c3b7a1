package readinesshubextension

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension/internal/metadata"
)

var (
	t0       = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	leaky    = pprofcaptureextension.TargetKey{ServiceName: "shop", ServiceInstanceID: "shop-1"}
	quietSvc = pprofcaptureextension.TargetKey{ServiceName: "quiet", ServiceInstanceID: "q-1"}
)

// pageSource watches two services: "shop" leaks goroutines (a firing rule, call sites), "quiet" is down.
type pageSource struct{}

func (pageSource) Services() []ServiceStatus {
	return []ServiceStatus{fakeHistory(leaky).ServiceStatus, fakeHistory(quietSvc).ServiceStatus}
}

func (pageSource) History(t pprofcaptureextension.TargetKey) (ServiceHistory, bool) {
	if t != leaky && t != quietSvc {
		return ServiceHistory{}, false
	}
	return fakeHistory(t), true
}

func fakeHistory(t pprofcaptureextension.TargetKey) ServiceHistory {
	h := ServiceHistory{
		ServiceStatus: ServiceStatus{
			Target: t, Identity: map[string]string{"service.name": t.ServiceName},
			LastData: t0.Add(30 * time.Minute), Latest: map[string]float64{},
		},
		Signals: map[string][]Point{},
	}
	if t == quietSvc {
		h.Down = true
		return h
	}
	for i := 0; i <= 180; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		g := 50.0
		if i > 60 {
			g += float64(i-60) * 3
		}
		h.Signals[SignalGoroutines] = append(h.Signals[SignalGoroutines], Point{at, g})
		h.Signals[SignalHeapGoal] = append(h.Signals[SignalHeapGoal], Point{at, 8 << 20})
		h.Signals[SignalGCPerMinute] = append(h.Signals[SignalGCPerMinute], Point{at, 4})
		h.Signals[SignalGCPausePerMin] = append(h.Signals[SignalGCPausePerMin], Point{at, 0.002})
		h.Sites = map[string][]Point{"main.leakyHandler.func1": {{at, g - 40}}, "net/http.(*conn).serve": {{at, 3}}}
	}
	for _, sig := range []string{SignalGoroutines, SignalHeapGoal, SignalGCPerMinute, SignalGCPausePerMin} {
		pts := h.Signals[sig]
		h.Latest[sig] = pts[len(pts)-1].Value
	}
	h.ActiveRules = []string{"goroutine-leak"}
	h.Rules = []RuleStatus{
		{Name: "goroutine-leak", Kind: "goroutine_growth", Severity: "warning", Firing: true, Since: t0.Add(15 * time.Minute),
			Measure: "growth=300 horizon=8m0s", Threshold: "floor rises ≥ 30", Why: "firing: evidence total"},
		{Name: "gc-storm", Kind: "gc_frequency", Severity: "warning", Measure: "gc_per_minute=4", Threshold: "≥ 30 GC/min", Why: "not firing: no storm evidence over the window"},
	}
	return h
}

// fakeCapturer writes a real heap profile for "heap" and refuses when rate-limited.
type fakeCapturer struct {
	dir string

	mu      sync.Mutex
	limited bool
	reqs    []pprofcaptureextension.Request
}

func (c *fakeCapturer) Owns(t pprofcaptureextension.TargetKey) bool { return t == leaky }

func (c *fakeCapturer) Capture(_ context.Context, req pprofcaptureextension.Request) ([]pprofcaptureextension.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limited {
		return nil, pprofcaptureextension.ErrRateLimited
	}
	c.reqs = append(c.reqs, req)
	var out []pprofcaptureextension.Result
	for _, k := range req.Kinds {
		path := filepath.Join(c.dir, "operator-"+string(k)+".pb.gz")
		if err := writeHeapProfile(path); err != nil {
			return nil, err
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		out = append(out, pprofcaptureextension.Result{Kind: k, Path: path, Size: st.Size(), SampleType: "inuse_space",
			Summary: []pprofcaptureextension.SummaryEntry{{Function: "main.cache.put", Value: 4096}}})
	}
	return out, nil
}

func writeHeapProfile(path string) error {
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

type pageEnv struct {
	hub      *hub
	page     *page
	srv      *httptest.Server
	dir      string
	heapPath string
	capturer *fakeCapturer
	epID     string
}

type host struct {
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// newPageEnv serves the page of a hub with the fake source, one episode with a heap capture and a goroutine dump,
// and (unless noCapture) a capture broker with the fake capturer.
func newPageEnv(t *testing.T, noCapture bool) *pageEnv {
	t.Helper()
	cfg := defaultPageConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.URL = "http://readiness.test:13135"
	if noCapture {
		cfg.CaptureNow = configoptional.None[CaptureNowConfig]()
	}
	h, err := newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: 10})
	require.NoError(t, err)
	h.page, err = newPage(&cfg, h, h.logger)
	require.NoError(t, err)
	h.page.now = func() time.Time { return t0.Add(31 * time.Minute) }

	env := &pageEnv{hub: h, page: h.page, dir: t.TempDir()}
	capDir := filepath.Join(env.dir, "captures")
	require.NoError(t, os.MkdirAll(capDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(env.dir, "secret.txt"), []byte("TOP-SECRET"), 0o600))
	env.heapPath = filepath.Join(capDir, "20260101T101600-heap.pb.gz")
	require.NoError(t, writeHeapProfile(env.heapPath))
	dumpPath := filepath.Join(capDir, "20260101T101600-goroutine.txt")
	require.NoError(t, os.WriteFile(dumpPath, []byte("goroutine 1 [running]:\nmain.main()\n"), 0o600))

	ext := map[component.ID]component.Component{}
	if !noCapture {
		env.capturer = &fakeCapturer{dir: capDir}
		broker := pprofcaptureextension.NewBroker()
		t.Cleanup(broker.Register(env.capturer))
		ext[component.MustNewID("pprofcapture")] = broker.(component.Component)
	}
	require.NoError(t, h.Start(context.Background(), host{ext}))
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	t.Cleanup(h.RegisterSource(pageSource{}))

	env.epID = "shop\x00goroutine-leak\x001"
	h.Publish(Event{Phase: PhaseStart, Episode: Episode{
		ID: env.epID, Rule: "goroutine-leak", Kind: "goroutine_growth", Severity: "warning", Target: leaky,
		Start: t0.Add(15 * time.Minute), Details: map[string]string{"growth": "300", "top_site": "main.leakyHandler.func1"},
	}})
	h.Publish(Event{Phase: PhaseUpdate, Episode: Episode{
		ID: env.epID, Sites: []string{"main.leakyHandler.func1"},
		Captures: []Capture{
			{Kind: "heap", Path: env.heapPath, Size: 1234, Time: t0.Add(16 * time.Minute), SampleType: "inuse_space",
				Summary: []pprofcaptureextension.SummaryEntry{{Function: "main.leakyHandler.func1", File: "/src/leak.go", Line: 42, Value: 2048}}},
			{Kind: "goroutine", Path: dumpPath, Size: 40, Time: t0.Add(16 * time.Minute)},
			{Kind: "cpu", Time: t0.Add(16 * time.Minute), Err: "capture kind not allowed"},
		},
	}})
	env.srv = httptest.NewServer(h.page.routes())
	t.Cleanup(env.srv.Close)
	return env
}

func (e *pageEnv) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

func (e *pageEnv) captureIDs(t *testing.T) map[string]apiCapture {
	t.Helper()
	code, body, _ := e.get(t, "/api/captures")
	require.Equal(t, http.StatusOK, code)
	var caps []apiCapture
	require.NoError(t, json.Unmarshal([]byte(body), &caps))
	out := map[string]apiCapture{}
	for _, c := range caps {
		if _, seen := out[c.Kind]; !seen { // newest first
			out[c.Kind] = c
		}
	}
	return out
}

func serviceQuery(t pprofcaptureextension.TargetKey) string {
	q := url.Values{}
	q.Set("service.name", t.ServiceName)
	q.Set("service.instance.id", t.ServiceInstanceID)
	return q.Encode()
}

func TestOverviewPage(t *testing.T) {
	env := newPageEnv(t, false)
	code, body, hdr := env.get(t, "/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, hdr.Get("Content-Type"), "text/html")
	assert.Contains(t, hdr.Get("Content-Security-Policy"), "default-src 'self'", "no CDN: only the page's own assets")
	assert.Contains(t, body, `href="./service?`+strings.ReplaceAll(serviceQuery(leaky), "&", "&amp;")+`"`)
	assert.Contains(t, body, "anomaly: goroutine-leak")
	assert.Contains(t, body, "target down", "the quiet service is down")
	assert.Contains(t, body, `class="spark spark-anomaly"`, "sparklines of the anomalous service")
	assert.Equal(t, 8, strings.Count(body, "<svg class=\"spark"), "four sparklines per service")
	assert.Contains(t, body, "<span>410</span>", "the current goroutines")
	assert.Contains(t, body, "<span>8.0 MiB</span>", "the heap")
	assert.Contains(t, body, "main.leakyHandler.func1", "the recent episodes name the site")
	assert.Contains(t, body, `data-refresh="15"`)
}

func TestServicePage(t *testing.T) {
	env := newPageEnv(t, false)
	code, body, _ := env.get(t, "/service?"+serviceQuery(leaky))
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 4, strings.Count(body, `<svg class="plot"`), "goroutines, heap, GC/min, pause/min")
	assert.Equal(t, 4, strings.Count(body, `<rect class="episode"`), "the episode is shaded on every plot")
	assert.Contains(t, body, `<text class="episode-label"`)
	assert.Contains(t, body, "heap goal (≈ 2 × live heap)", "the heap the source keeps, named honestly")
	assert.Contains(t, body, `id="`+episodeAnchor(env.epID)+`"`, "the episode's row, the shading links to it")
	assert.Contains(t, body, "growth=300 horizon=8m0s", "what the rule measures")
	assert.Contains(t, body, "not firing: no storm evidence", "why the other rule is quiet")
	assert.Contains(t, body, "main.leakyHandler.func1")
	assert.Contains(t, body, "leak.go:42")
	assert.Contains(t, body, "open in pprof")
	assert.Equal(t, 1, strings.Count(body, "open in pprof"), "the goroutine text dump and the failed capture have no pprof view")
	assert.Contains(t, body, "capture kind not allowed", "a failed capture says why")
	assert.Contains(t, body, `name="token" value="`+env.page.token+`"`)
	assert.Contains(t, body, `id="sites"`)
	assert.Less(t, strings.Index(body, "main.leakyHandler.func1</code></td>"), strings.Index(body, "net/http.(*conn).serve"), "the site with the most goroutines first")
}

func TestServicePageBadInput(t *testing.T) {
	env := newPageEnv(t, true)
	code, _, _ := env.get(t, "/service?"+serviceQuery(pprofcaptureextension.TargetKey{ServiceName: "nope", ServiceInstanceID: "x"}))
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = env.get(t, "/service")
	assert.Equal(t, http.StatusBadRequest, code)
	code, _, _ = env.get(t, "/no-such-page")
	assert.Equal(t, http.StatusNotFound, code)
	code, body, _ := env.get(t, "/service?"+serviceQuery(quietSvc))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "target down")
	assert.Contains(t, body, "no data yet", "a service without history plots nothing")
	assert.NotContains(t, body, `form class="capture"`, "capture now is off")
}

func TestAssetsEmbedded(t *testing.T) {
	env := newPageEnv(t, true)
	for _, p := range []string{"/assets/style.css", "/assets/page.js"} {
		code, body, _ := env.get(t, p)
		assert.Equal(t, http.StatusOK, code, p)
		assert.NotEmpty(t, body)
		assert.NotContains(t, body, "http://", "no external reference")
		assert.NotContains(t, body, "https://")
	}
	code, _, _ := env.get(t, "/assets/../templates/layout.html")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestAPI(t *testing.T) {
	env := newPageEnv(t, false)
	code, body, hdr := env.get(t, "/api/services")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	var services []apiService
	require.NoError(t, json.Unmarshal([]byte(body), &services))
	require.Len(t, services, 2)
	assert.Equal(t, "shop", services[0].ServiceName)
	assert.Equal(t, "anomaly", services[0].State)
	assert.Equal(t, "down", services[1].State)
	assert.Equal(t, "http://readiness.test:13135/service?"+serviceQuery(leaky), services[0].Page)

	code, body, _ = env.get(t, "/api/service?"+serviceQuery(leaky))
	require.Equal(t, http.StatusOK, code)
	var d apiServiceDetail
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	assert.Len(t, d.Signals[SignalGoroutines], 181)
	assert.Len(t, d.Rules, 2)
	require.Len(t, d.Episodes, 1)
	assert.Equal(t, []string{"main.leakyHandler.func1"}, d.Episodes[0].Sites)
	assert.True(t, d.Episodes[0].Active)
	assert.Len(t, d.Captures, 3)
	assert.Contains(t, d.Sites, "main.leakyHandler.func1")

	code, _, _ = env.get(t, "/api/service?"+serviceQuery(pprofcaptureextension.TargetKey{ServiceName: "nope"}))
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = env.get(t, "/api/service")
	assert.Equal(t, http.StatusBadRequest, code)

	code, body, _ = env.get(t, "/api/episodes")
	require.Equal(t, http.StatusOK, code)
	var eps []apiEpisode
	require.NoError(t, json.Unmarshal([]byte(body), &eps))
	require.Len(t, eps, 1)
	assert.Equal(t, env.hub.EpisodeURL(env.hub.Episodes()[0]), eps[0].Page)

	caps := env.captureIDs(t)
	require.Len(t, caps, 3)
	assert.Equal(t, "http://readiness.test:13135/captures/"+caps["heap"].ID, caps["heap"].Download)
	assert.NotEmpty(t, caps["heap"].Pprof)
	assert.Empty(t, caps["goroutine"].Pprof, "a text dump has no pprof view")
	assert.Empty(t, caps["cpu"].Download, "a failed capture has no file")

	resp, err := env.srv.Client().Post(env.srv.URL+"/api/services", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "the API is read-only")
}

func TestEpisodeURL(t *testing.T) {
	env := newPageEnv(t, true)
	ep := env.hub.Episodes()[0]
	assert.Equal(t, "http://readiness.test:13135/service?"+serviceQuery(leaky)+"#"+episodeAnchor(env.epID), env.hub.EpisodeURL(ep))

	noPage, err := newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: 1})
	require.NoError(t, err)
	assert.Empty(t, noPage.EpisodeURL(ep), "no page, no link")
}

func TestCaptureDownload(t *testing.T) {
	env := newPageEnv(t, true)
	caps := env.captureIDs(t)
	code, body, hdr := env.get(t, "/captures/"+caps["heap"].ID)
	require.Equal(t, http.StatusOK, code)
	want, err := os.ReadFile(env.heapPath)
	require.NoError(t, err)
	assert.Equal(t, string(want), body)
	assert.Contains(t, hdr.Get("Content-Disposition"), "20260101T101600-heap.pb.gz")

	for _, p := range []string{
		"/captures/0123456789abcdef",
		"/captures/" + caps["cpu"].ID, // failed: no file
		"/captures/..%2Fsecret.txt",
		"/captures/..%2F..%2Fsecret.txt",
		"/captures/%2E%2E%2Fsecret.txt",
		"/captures/../secret.txt",
		"/captures/" + url.PathEscape(filepath.Join(env.dir, "secret.txt")),
		"/captures/" + url.PathEscape("../captures/20260101T101600-heap.pb.gz"),
		"/captures/",
	} {
		code, body, _ := env.get(t, p)
		assert.Equal(t, http.StatusNotFound, code, p)
		assert.NotContains(t, body, "TOP-SECRET", p)
	}

	require.NoError(t, os.Remove(env.heapPath))
	code, _, _ = env.get(t, "/captures/"+caps["heap"].ID)
	assert.Equal(t, http.StatusNotFound, code, "a capture whose file retention removed")
}

func TestPprofView(t *testing.T) {
	env := newPageEnv(t, true)
	caps := env.captureIDs(t)
	base := "/pprof/" + caps["heap"].ID + "/"
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(env.srv.URL + base)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode, "pprof's root redirects to its flame graph")
	assert.Equal(t, "flamegraph", resp.Header.Get("Location"), "relative, so it stays under the capture's prefix")

	code, body, _ := env.get(t, base+"flamegraph")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "stack-chart", "pprof's flame graph")
	assert.Contains(t, body, `href="./top"`)
	code, body, _ = env.get(t, base+"top")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "inuse_space")
	code, _, _ = env.get(t, base+"source?f=runtime")
	assert.Equal(t, http.StatusOK, code)

	code, _, _ = env.get(t, "/pprof/"+caps["goroutine"].ID+"/flamegraph")
	assert.Equal(t, http.StatusUnprocessableEntity, code, "a text dump is not a profile")
	code, _, _ = env.get(t, "/pprof/0123456789abcdef/flamegraph")
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = env.get(t, base+"no-such-view")
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = env.get(t, "/pprof/..%2F..%2Fsecret.txt/flamegraph")
	assert.Equal(t, http.StatusNotFound, code)

	for range maxPprofViews + 2 {
		_, err := env.page.pprof.handlers(caps["heap"].ID, env.heapPath)
		require.NoError(t, err)
	}
	assert.Len(t, env.page.pprof.entries, 1, "the cache holds each capture once")
}

func postCapture(t *testing.T, env *pageEnv, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.srv.URL+"/capture", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func TestCaptureNow(t *testing.T) {
	env := newPageEnv(t, false)
	good := url.Values{"token": {env.page.token}, "service.name": {leaky.ServiceName}, "service.instance.id": {leaky.ServiceInstanceID}, "kind": {"heap"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	sameOrigin := map[string]string{"Origin": env.srv.URL, "Sec-Fetch-Site": "same-origin"}

	assert.Equal(t, http.StatusForbidden, postCapture(t, env, with("token", ""), sameOrigin).StatusCode, "no token")
	assert.Equal(t, http.StatusForbidden, postCapture(t, env, with("token", "guess"), sameOrigin).StatusCode, "wrong token")
	assert.Equal(t, http.StatusForbidden, postCapture(t, env, good, map[string]string{"Sec-Fetch-Site": "cross-site"}).StatusCode)
	assert.Equal(t, http.StatusForbidden, postCapture(t, env, good, map[string]string{"Origin": "http://evil.example"}).StatusCode)
	assert.Equal(t, http.StatusForbidden, postCapture(t, env, good, map[string]string{"Origin": "null"}).StatusCode)
	assert.Equal(t, http.StatusBadRequest, postCapture(t, env, with("kind", "threadcreate"), sameOrigin).StatusCode, "a kind not offered")
	assert.Equal(t, http.StatusBadRequest, postCapture(t, env, with("kind", ""), sameOrigin).StatusCode)
	assert.Equal(t, http.StatusNotFound, postCapture(t, env, with("service.name", "nope"), sameOrigin).StatusCode, "unknown service")
	assert.Equal(t, http.StatusNotFound, postCapture(t, env, with("service.name", quietSvc.ServiceName), map[string]string{}).StatusCode, "no capturer owns the service")
	env.capturer.mu.Lock()
	assert.Empty(t, env.capturer.reqs, "no refused request reached the broker")
	env.capturer.mu.Unlock()

	resp := postCapture(t, env, good, sameOrigin)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/service?captured=1%2F1&"+serviceQuery(leaky)+"#captures", resp.Header.Get("Location"))
	env.capturer.mu.Lock()
	require.Len(t, env.capturer.reqs, 1)
	assert.Equal(t, []pprofcaptureextension.Kind{"heap"}, env.capturer.reqs[0].Kinds)
	assert.Equal(t, leaky, env.capturer.reqs[0].Target)
	env.capturer.limited = true
	env.capturer.mu.Unlock()

	_, body, _ := env.get(t, "/service?"+serviceQuery(leaky)+"&captured=1%2F1")
	assert.Contains(t, body, "main.cache.put", "the operator capture is listed with its top site")
	assert.Contains(t, body, "capture now: 1/1")
	caps := env.captureIDs(t)
	assert.Equal(t, "operator", caps["heap"].Reason, "newest first: the operator's heap capture")
	code, _, _ := env.get(t, "/captures/"+caps["heap"].ID)
	assert.Equal(t, http.StatusOK, code)

	assert.Equal(t, http.StatusTooManyRequests, postCapture(t, env, good, nil).StatusCode, "the broker's rate limit applies")
	assert.Equal(t, http.StatusMethodNotAllowed, func() int {
		code, _, _ := env.get(t, "/capture")
		return code
	}(), "capture is a POST")
}

func TestCaptureNowOff(t *testing.T) {
	env := newPageEnv(t, true)
	resp := postCapture(t, env, url.Values{"token": {env.page.token}, "service.name": {"shop"}, "service.instance.id": {"shop-1"}, "kind": {"heap"}}, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// The page listens on its endpoint and stops with the hub.
func TestPageServes(t *testing.T) {
	cfg := defaultPageConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	h, err := newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: 1, Page: configoptional.Some(cfg)})
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	assert.Nil(t, h.page.broker, "no pprofcapture extension: capture now is off")
	resp, err := http.Get("http://" + h.page.addr + "/api/services")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, "[]", string(body))
	require.NoError(t, h.Shutdown(context.Background()))
	_, err = http.Get("http://" + h.page.addr + "/")
	assert.Error(t, err, "stopped with the hub")

	named := component.MustNewID("pprofcapture")
	cfg.CaptureNow.Get().CaptureExtension = &named
	h, err = newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: 1, Page: configoptional.Some(cfg)})
	require.NoError(t, err)
	err = h.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "page::capture_now::capture_extension")
	require.NoError(t, h.Shutdown(context.Background()))
}

// writeCraftedProfile writes a profile whose one function claims to live in file (line 1).
func writeCraftedProfile(t *testing.T, path, file string) {
	t.Helper()
	fn := &profile.Function{ID: 1, Name: "main.crafted", SystemName: "main.crafted", Filename: file}
	loc := &profile.Location{ID: 1, Address: 0x1000, Line: []profile.Line{{Function: fn, Line: 1}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "goroutine", Unit: "count"}, Period: 1,
		Sample:   []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{7}}},
		Location: []*profile.Location{loc}, Function: []*profile.Function{fn},
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, p.Write(f))
	require.NoError(t, f.Close())
}

// A profile comes from the scraped service: the source view shows only files under page::source_directories, never
// a file the profile names elsewhere; object files are never opened; pprof's POST routes are closed.
func TestPprofSourceConfined(t *testing.T) {
	env := newPageEnv(t, true)
	allowed := filepath.Join(env.dir, "src")
	require.NoError(t, os.MkdirAll(allowed, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(allowed, "ok.go"), []byte("package main // VISIBLE-SOURCE\n"), 0o600))
	views, err := newPprofViews([]string{allowed})
	require.NoError(t, err)
	env.page.pprof = views

	for name, file := range map[string]string{
		"outside":  filepath.Join(env.dir, "secret.txt"),
		"escape":   filepath.Join(allowed, "..", "secret.txt"),
		"relative": "../secret.txt",
		"inside":   filepath.Join(allowed, "ok.go"),
	} {
		path := filepath.Join(env.dir, "captures", name+"-goroutine_delta.pb.gz")
		writeCraftedProfile(t, path, file)
		env.hub.Publish(Event{Phase: PhaseUpdate, Episode: Episode{ID: env.epID, Captures: []Capture{{Kind: "goroutine_delta", Path: path, Time: t0}}}})
		caps := env.captureIDs(t)
		base := "/pprof/" + caps["goroutine_delta"].ID + "/"
		code, body, _ := env.get(t, base+"source?f=main.crafted")
		require.Equal(t, http.StatusOK, code, name)
		assert.NotContains(t, body, "TOP-SECRET", name)
		if name == "inside" {
			assert.Contains(t, body, "VISIBLE-SOURCE", "a file under source_directories is shown")
		} else {
			assert.NotContains(t, body, "VISIBLE-SOURCE", name)
		}
		code, body, _ = env.get(t, base+"disasm?f=main.crafted")
		assert.NotContains(t, body, "TOP-SECRET", name)
		_ = code
		resp, err := env.srv.Client().Post(env.srv.URL+base+"saveconfig?config=x", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "pprof's saveconfig is closed")
	}
	_, err = newPprofViews([]string{filepath.Join(env.dir, "missing")})
	assert.Error(t, err)
}

package readinesshubextension

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

const (
	// envE2E runs the browser test without a prebuilt binary ($OTELCOL_READY_BIN): the distribution is then built.
	envE2E = "READINESS_E2E"
	// envChromium names the Chromium binary; default: chromium (or chromium-browser, google-chrome) on PATH.
	envChromium = "CHROMIUM_BIN"
	// envScreenshots, when set, is a directory the screenshots are copied to as well (the README's come from it).
	envScreenshots = "READINESS_PAGE_SCREENSHOTS"

	e2eLeakingFunction = "leakyHandlerWorker"
	e2eRule            = "goroutine-leak"
)

// findChromium returns the browser: $CHROMIUM_BIN, else chromium (or chromium-browser, google-chrome) on PATH.
func findChromium() (string, error) {
	if p := os.Getenv(envChromium); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium on PATH (apt-get install -y chromium, or set $%s)", envChromium)
}

// chromiumPath finds the browser. Without one the test is skipped, except under CI (CI=true), where it fails:
// .ci/run installs Chromium, so a missing browser there is a broken machine, not a reason to pass.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := findChromium()
	switch {
	case err == nil:
		return p
	case underCI():
		t.Fatalf("%v: under CI the browser test must run", err)
	default:
		t.Skip(err)
	}
	return ""
}

func underCI() bool { return os.Getenv("CI") == "true" }

// Without a browser the lookup fails, and under CI that is a failure, not a skip.
func TestChromiumLookup(t *testing.T) {
	t.Setenv(envChromium, "")
	t.Setenv("PATH", t.TempDir())
	_, err := findChromium()
	assert.ErrorContains(t, err, "no Chromium")
	t.Setenv("CI", "true")
	assert.True(t, underCI())
	t.Setenv("CI", "")
	assert.False(t, underCI())
	t.Setenv(envChromium, "/opt/chromium/chrome")
	p, err := findChromium()
	require.NoError(t, err)
	assert.Equal(t, "/opt/chromium/chrome", p)
}

// TestBrowserE2E runs the real otelcol-ready binary next to the demo service, switches the demo's goroutine leak on,
// waits for the episode and its captures, and looks at the readiness page in headless Chromium: the overview, the
// service page (plots, the shaded episode, the named function) and the capture's flame graph in the pprof view. The
// screenshots are test artifacts (go test -artifacts; $READINESS_PAGE_SCREENSHOTS copies them).
func TestBrowserE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with the real binary and a browser: not in -short mode")
	}
	if os.Getenv(testbed.EnvCollectorBinary) == "" && os.Getenv(envE2E) == "" {
		t.Skipf("set $%s (prebuilt distro/otelcol-ready; $%s for a prebuilt demo service) or %s=1 to run the browser test",
			testbed.EnvCollectorBinary, testbed.EnvDemoAppBinary, envE2E)
	}
	chrome := chromiumPath(t)
	bins := testbed.NewBinaries(t.TempDir())
	collectorBin, err := bins.Collector()
	require.NoError(t, err)
	demoBin, err := bins.DemoApp()
	require.NoError(t, err)

	const service = "shop"
	demo := testbed.StartDemoApp(t, demoBin, testbed.DemoAppOptions{
		Name: service, Modes: []string{"healthy"}, Args: []string{"-service-name", service, "-duration", "6m"},
	})
	template, err := filepath.Abs(filepath.Join("testdata", "e2e.yaml.tmpl"))
	require.NoError(t, err)
	pageAddr := testbed.FreeEndpoint(t)
	col := testbed.NewCollector(t, collectorBin, testbed.CollectorConfig{
		Name: "readiness-page", Template: template,
		Vars: map[string]any{
			"Target":       map[string]string{"Addr": demo.Addr(), "Name": service},
			"PageEndpoint": pageAddr, "CaptureDir": filepath.Join(t.TempDir(), "captures"),
		},
	})
	col.MustStart()
	base := "http://" + pageAddr + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The service shows up healthy first; then the leak starts.
	var svc apiService
	require.True(t, testbed.WaitUntil(ctx, time.Minute, 500*time.Millisecond, func() bool {
		var services []apiService
		if getJSON(ctx, base+"api/services", &services) != nil {
			return false
		}
		for _, s := range services {
			if s.ServiceName == service && s.Latest[SignalGoroutines] > 0 {
				svc = s
				return true
			}
		}
		return false
	}), "the page lists %s", service)
	require.Equal(t, "ok", svc.State, "healthy before the leak")
	// Twenty seconds of healthy data first, so that the plots show the leak's start.
	var detail apiServiceDetail
	serviceAPI := base + "api/service?" + url.Values{"service.name": {service}, "service.instance.id": {svc.ServiceInstanceID}}.Encode()
	require.True(t, testbed.WaitUntil(ctx, time.Minute, time.Second, func() bool {
		if getJSON(ctx, serviceAPI, &detail) != nil {
			return false
		}
		pts := detail.Signals[SignalGoroutines]
		return len(pts) > 1 && pts[len(pts)-1].Time.Sub(pts[0].Time) >= 20*time.Second
	}), "the page plots the healthy phase")
	assert.Empty(t, detail.Episodes, "no episode while healthy")
	leakAt := time.Now()
	require.NoError(t, demo.Control(ctx, "leak", true, nil))

	// The episode, the function its captures name, and a capture pprof can open.
	ok := testbed.WaitUntil(ctx, 3*time.Minute, time.Second, func() bool {
		if getJSON(ctx, serviceAPI, &detail) != nil {
			return false
		}
		named := false
		for _, ep := range detail.Episodes {
			named = named || (ep.Rule == e2eRule && strings.Contains(strings.Join(ep.Sites, " "), e2eLeakingFunction))
		}
		return named && pprofCapture(detail) != nil
	})
	require.True(t, ok, "an episode of %s naming %s, with a capture to open in pprof: %+v", e2eRule, e2eLeakingFunction, detail)
	t.Logf("episode %s named %v, %s after the leak knob", detail.Episodes[0].ID, detail.Episodes[0].Sites, time.Since(leakAt).Round(time.Second))
	// A few more scrapes, so that the shaded episode has a width on the plots.
	time.Sleep(6 * time.Second)

	shots := newScreenshots(t)
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	// Overview: the service in state anomaly with its sparklines.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(base), chromedp.WaitVisible(`tr.service-row[data-state="anomaly"]`)))
	overview := run(t, bctx, chromedp.Text(`#services`))
	assert.Contains(t, overview, service)
	assert.Contains(t, run(t, bctx, chromedp.Text(`tr.service-row[data-state="anomaly"] .state`)), "anomaly: "+e2eRule)
	sparks := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('tr.service-row svg.spark polyline').length`))
	assert.GreaterOrEqual(t, sparks, 4, "sparklines of goroutines, heap, GC/min and pause/min")
	shots.take(bctx, "overview")

	// Service page: the plots with data, the shaded and labelled episode, the named function.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(`tr.service-row[data-state="anomaly"] a`, chromedp.NodeVisible),
		chromedp.WaitVisible(`svg.plot rect.episode`),
	))
	lines := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.plot polyline.line').length`))
	bands := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.plot rect.episode').length`))
	labels := run(t, bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('svg.plot text.episode-label')).map(e => e.textContent).join(' ')`))
	body := run(t, bctx, chromedp.Text(`main`))
	assert.GreaterOrEqual(t, lines, 3, "plotted signals (goroutines, heap, GC/min, pause/min)")
	assert.GreaterOrEqual(t, bands, 1, "the episode is shaded")
	assert.Contains(t, labels, e2eRule, "the shaded episode is labelled")
	assert.Contains(t, body, e2eLeakingFunction, "the named function is on the page")
	assert.Contains(t, body, "What every rule sees now")
	pageURL := run(t, bctx, chromedp.Location())
	shots.take(bctx, "service")

	// The pprof view of a capture: pprof's flame graph draws its boxes.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(`a.open-pprof`, chromedp.NodeVisible),
		chromedp.WaitVisible(`#stack-chart .boxbg`),
	))
	boxes := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('#stack-chart .boxbg').length`))
	assert.Greater(t, boxes, 3, "flame graph boxes")
	t.Logf("pprof view %q: %d flame graph boxes", run(t, bctx, chromedp.Title()), boxes)
	shots.take(bctx, "pprof-flamegraph")

	// The service page on a phone.
	require.NoError(t, chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(`svg.plot`),
	))
	shots.take(bctx, "service-phone")
}

// run runs one browser action and returns its value.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// pprofCapture returns a capture of the service that the pprof view opens; nil while there is none.
func pprofCapture(d apiServiceDetail) *apiCapture {
	for i, c := range d.Captures {
		if c.Pprof != "" {
			return &d.Captures[i]
		}
	}
	return nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type screenshots struct {
	t    *testing.T
	dirs []string
}

func newScreenshots(t *testing.T) *screenshots {
	s := &screenshots{t: t, dirs: []string{t.ArtifactDir()}}
	if d := os.Getenv(envScreenshots); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		s.dirs = append(s.dirs, d)
	}
	return s
}

// take saves a full-page PNG of what the browser shows.
func (s *screenshots) take(ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(s.t, err)
	for _, d := range s.dirs {
		p := filepath.Join(d, "readiness-page-"+name+".png")
		require.NoError(s.t, os.WriteFile(p, png, 0o644))
		s.t.Logf("screenshot %s", p)
	}
}

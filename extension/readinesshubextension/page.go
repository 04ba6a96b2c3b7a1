package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

//go:embed assets templates
var embedded embed.FS

// plotWindow is the longest history the page plots.
const plotWindow = time.Hour

// maxOperatorCaptures bounds the operator captures the page remembers (episode captures live in the hub).
const maxOperatorCaptures = 32

// page is the readiness page: HTML pages, the JSON API, capture downloads and the pprof view over the hub.
type page struct {
	cfg    *PageConfig
	hub    *hub
	logger *zap.Logger
	tmpl   *template.Template
	assets fs.FS
	now    func() time.Time

	// token is the per-process secret the capture form carries: a cross-site page cannot read it.
	token string
	// broker is the pprofcapture broker for "capture now"; nil: capture now is off.
	broker pprofcaptureextension.Broker
	kinds  []pprofcaptureextension.Kind

	pprof *pprofViews

	mu       sync.Mutex
	operator []captureRef // oldest first, at most maxOperatorCaptures

	server *http.Server
	done   chan struct{}
	addr   string // the address the server listens on
	url    string // base URL for EpisodeURL, with a trailing slash
}

// captureRef is a capture the page can list, download and open: one of an episode, or one an operator asked for.
type captureRef struct {
	ID      string
	Target  pprofcaptureextension.TargetKey
	Reason  string
	Episode string // anchor of the episode; empty for operator captures
	Capture Capture
}

func newPage(cfg *PageConfig, h *hub, logger *zap.Logger) (*page, error) {
	tmpl, err := template.New("page").Funcs(template.FuncMap{"fmtTime": fmtTime}).ParseFS(embedded, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	assets, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("capture token: %w", err)
	}
	views, err := newPprofViews(cfg.SourceDirectories)
	if err != nil {
		return nil, err
	}
	pg := &page{cfg: cfg, hub: h, logger: logger, tmpl: tmpl, assets: assets, now: time.Now, token: hex.EncodeToString(tok), pprof: views}
	pg.url = cfg.URL
	if pg.url == "" {
		scheme := "http"
		if cfg.TLS.HasValue() {
			scheme = "https"
		}
		pg.url = scheme + "://" + cfg.NetAddr.Endpoint
	}
	if !strings.HasSuffix(pg.url, "/") {
		pg.url += "/"
	}
	return pg, nil
}

// start finds the capture broker (for capture now) and serves the page.
func (pg *page) start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	if cn := pg.cfg.CaptureNow.Get(); cn != nil {
		broker, err := pprofcaptureextension.FindBroker(host, cn.CaptureExtension)
		switch {
		case err == nil:
			pg.broker, pg.kinds = broker, cn.Kinds
		case cn.CaptureExtension != nil:
			return fmt.Errorf("page::capture_now::capture_extension: %w", err)
		default:
			pg.logger.Info("readiness page: capture now is off (no pprofcapture extension)", zap.Error(err))
		}
	}
	ln, err := pg.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("readiness page: listen on %s: %w", pg.cfg.NetAddr.Endpoint, err)
	}
	srv, err := pg.cfg.ToServer(ctx, host.GetExtensions(), set, pg.routes())
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("readiness page: %w", err)
	}
	pg.server, pg.done, pg.addr = srv, make(chan struct{}), ln.Addr().String()
	pg.logger.Info("readiness page serving", zap.String("url", pg.url), zap.String("endpoint", ln.Addr().String()))
	go func() {
		defer close(pg.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			pg.logger.Error("readiness page server stopped", zap.Error(err))
		}
	}()
	return nil
}

func (pg *page) shutdown(ctx context.Context) error {
	if pg.server == nil {
		return nil
	}
	err := pg.server.Shutdown(ctx)
	<-pg.done
	pg.server = nil
	return err
}

// routes is the page's handler: every page, asset and API route.
func (pg *page) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", pg.serveOverview)
	mux.HandleFunc("GET /service", pg.serveService)
	mux.HandleFunc("GET /captures/{id}", pg.serveDownload)
	mux.HandleFunc("GET /pprof/{id}/{rest...}", pg.servePprof)
	mux.HandleFunc("POST /capture", pg.serveCaptureNow)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(pg.assets)))
	mux.HandleFunc("GET /api/services", pg.apiServices)
	mux.HandleFunc("GET /api/service", pg.apiService)
	mux.HandleFunc("GET /api/episodes", pg.apiEpisodes)
	mux.HandleFunc("GET /api/captures", pg.apiCaptures)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		if !strings.HasPrefix(r.URL.Path, "/pprof/") { // pprof's own pages carry inline scripts
			h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'self'")
		}
		mux.ServeHTTP(w, r)
	})
}

// episodeURL is the service page of the episode, at its row.
func (pg *page) episodeURL(ep Episode) string {
	return pg.abs(serviceLink(ep.Target)) + "#" + episodeAnchor(ep.ID)
}

func serviceLink(t pprofcaptureextension.TargetKey) string {
	q := url.Values{}
	q.Set("service.name", t.ServiceName)
	q.Set("service.instance.id", t.ServiceInstanceID)
	return "./service?" + q.Encode()
}

func episodeAnchor(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "ep-" + hex.EncodeToString(sum[:6])
}

func captureID(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:8])
}

// targetOf reads the service identity of a request's query or form.
func targetOf(r *http.Request) (pprofcaptureextension.TargetKey, bool) {
	t := pprofcaptureextension.TargetKey{ServiceName: r.FormValue("service.name"), ServiceInstanceID: r.FormValue("service.instance.id")}
	return t, t.ServiceName != "" || t.ServiceInstanceID != ""
}

// services lists what every source watches.
func (pg *page) services() []ServiceStatus {
	var out []ServiceStatus
	for _, src := range pg.hub.Sources() {
		out = append(out, src.Services()...)
	}
	return out
}

// history asks the sources for one service instance.
func (pg *page) history(t pprofcaptureextension.TargetKey) (ServiceHistory, bool) {
	for _, src := range pg.hub.Sources() {
		if h, ok := src.History(t); ok {
			return h, true
		}
	}
	return ServiceHistory{}, false
}

// captures lists every capture the page knows, newest first; with a non-nil target only that instance's.
func (pg *page) captures(target *pprofcaptureextension.TargetKey) []captureRef {
	var out []captureRef
	for _, ep := range pg.hub.Episodes() {
		if target != nil && ep.Target != *target {
			continue
		}
		for _, c := range ep.Captures {
			if c.Path == "" && c.Err == "" {
				continue
			}
			out = append(out, captureRef{ID: captureID(c.Path + "\x00" + ep.ID + c.Kind), Target: ep.Target, Reason: "rule " + ep.Rule, Episode: episodeAnchor(ep.ID), Capture: c})
		}
	}
	pg.mu.Lock()
	for _, c := range pg.operator {
		if target == nil || c.Target == *target {
			out = append(out, c)
		}
	}
	pg.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Capture.Time.After(out[j].Capture.Time) })
	return out
}

// capture finds a capture by its ID; only files the readiness processor or the broker reported are ever served.
func (pg *page) capture(id string) (captureRef, bool) {
	for _, c := range pg.captures(nil) {
		if c.ID == id && c.Capture.Path != "" && c.Capture.Err == "" {
			return c, true
		}
	}
	return captureRef{}, false
}

func (pg *page) serveDownload(w http.ResponseWriter, r *http.Request) {
	c, ok := pg.capture(r.PathValue("id"))
	if !ok {
		http.Error(w, "unknown capture", http.StatusNotFound)
		return
	}
	f, err := os.Open(c.Capture.Path)
	if err != nil {
		http.Error(w, "capture file is gone (retention removed it?)", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "capture file is not readable", http.StatusNotFound)
		return
	}
	name := strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, fileBase(c.Capture.Path))
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

func fileBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func (pg *page) servePprof(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := pg.capture(id)
	if !ok {
		http.Error(w, "unknown capture", http.StatusNotFound)
		return
	}
	handlers, err := pg.pprof.handlers(id, c.Capture.Path)
	switch {
	case errors.Is(err, errNotProfile):
		http.Error(w, "this capture is not a pprof profile (e.g. a goroutine text dump): download it instead", http.StatusUnprocessableEntity)
		return
	case err != nil:
		pg.logger.Debug("readiness page: pprof view", zap.Error(err))
		http.Error(w, "cannot open the capture in pprof: "+err.Error(), http.StatusNotFound)
		return
	}
	rest := "/" + r.PathValue("rest")
	h, ok := handlers[rest]
	if !ok {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = rest
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}

// serveCaptureNow handles the operator's capture form. It accepts only same-origin requests that carry the
// per-process token, so another site cannot make a browser ask for captures.
func (pg *page) serveCaptureNow(w http.ResponseWriter, r *http.Request) {
	if pg.broker == nil {
		http.Error(w, "capture now is off (capture_now disabled, or no pprofcapture extension)", http.StatusNotFound)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(pg.token)) != 1 {
		http.Error(w, "missing or stale form token: reload the page", http.StatusForbidden)
		return
	}
	target, ok := targetOf(r)
	if !ok {
		http.Error(w, "want service.name and service.instance.id", http.StatusBadRequest)
		return
	}
	if _, known := pg.history(target); !known {
		http.Error(w, "unknown service", http.StatusNotFound)
		return
	}
	var kinds []pprofcaptureextension.Kind
	for _, k := range r.PostForm["kind"] {
		kind := pprofcaptureextension.Kind(k)
		if !slices.Contains(pg.kinds, kind) {
			http.Error(w, fmt.Sprintf("kind %q is not offered (offered: %v)", k, pg.kinds), http.StatusBadRequest)
			return
		}
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) == 0 {
		http.Error(w, "choose at least one kind", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pg.cfg.CaptureNow.Get().Timeout)
	defer cancel()
	results, err := pg.broker.Capture(ctx, pprofcaptureextension.Request{
		Target: target, Kinds: kinds, Reason: "operator (readiness page)",
	})
	msg, status := "", http.StatusSeeOther
	switch {
	case errors.Is(err, pprofcaptureextension.ErrUnknownTarget):
		msg, status = err.Error(), http.StatusNotFound
	case errors.Is(err, pprofcaptureextension.ErrRateLimited):
		msg, status = err.Error(), http.StatusTooManyRequests
	case err != nil:
		msg, status = err.Error(), http.StatusBadRequest
	}
	if err != nil {
		http.Error(w, "capture refused: "+msg, status)
		return
	}
	at := pg.now()
	var ok2 int
	pg.mu.Lock()
	for _, res := range results {
		c := Capture{Kind: string(res.Kind), Path: res.Path, Size: res.Size, Time: at, SampleType: res.SampleType, Summary: res.Summary}
		if res.Err != nil {
			c.Err = res.Err.Error()
		} else {
			ok2++
		}
		pg.operator = append(pg.operator, captureRef{ID: captureID(c.Path + "\x00operator" + c.Kind + at.String()), Target: target, Reason: "operator", Capture: c})
	}
	if n := len(pg.operator) - maxOperatorCaptures; n > 0 {
		pg.operator = slices.Delete(pg.operator, 0, n)
	}
	pg.mu.Unlock()
	q := url.Values{}
	q.Set("service.name", target.ServiceName)
	q.Set("service.instance.id", target.ServiceInstanceID)
	q.Set("captured", strconv.Itoa(ok2)+"/"+strconv.Itoa(len(results)))
	http.Redirect(w, r, "./service?"+q.Encode()+"#captures", status)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

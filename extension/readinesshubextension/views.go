package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"bytes"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// metric is one of the four signals the pages show.
type pageMetric struct {
	signal string
	title  string
	format func(float64) string
}

func pageMetrics() []pageMetric {
	return []pageMetric{
		{SignalGoroutines, "goroutines", formatCount},
		{SignalHeapLive, "live heap", formatBytes},
		{SignalGCPerMinute, "GC cycles / min", formatCount},
		{SignalGCPausePerMin, "GC pause / min", formatSeconds},
	}
}

// heapSignal is the heap signal a service has: the live heap, else the heap goal (about twice the live heap at
// GOGC=100; the readiness processor keeps only the goal when a service reports it).
func heapSignal(latest map[string]float64, signals map[string][]Point) (string, string) {
	if _, ok := latest[SignalHeapLive]; ok {
		return SignalHeapLive, "live heap"
	}
	if len(signals[SignalHeapLive]) > 0 {
		return SignalHeapLive, "live heap"
	}
	return SignalHeapGoal, "heap goal (≈ 2 × live heap)"
}

type layoutData struct {
	Title   string
	Base    string
	Refresh int
	Now     string
}

type overviewData struct {
	layoutData
	Columns  []string
	Rows     []serviceRow
	Episodes []episodeView
}

type serviceRow struct {
	Name, Instance, Link string
	State, StateText     string
	Cells                []cellView
}

type cellView struct {
	Value string
	Spark template.HTML
}

type episodeView struct {
	Anchor, Link, Rule, Kind, Severity, Service string
	Start, End, EndReason                       string
	Active                                      bool
	Details                                     []string
	Sites                                       []string
}

type serviceData struct {
	layoutData
	Name, Instance string
	Identity       map[string]string
	LastData       string
	Row            serviceRow
	Span           string
	Plots          []plotView
	Rules          []RuleStatus
	Episodes       []episodeView
	Captures       []captureView
	Sites          []siteView
	CaptureNow     *captureForm
	Message        string
	MessageErr     bool
}

type plotView struct {
	Signal, Title, Now string
	SVG                template.HTML
}

type captureView struct {
	ID, Kind, Time, Size, Reason, Err, Download, Pprof string
	Top                                                []topEntry
}

type topEntry struct {
	Function, File string
	Line           int64
	Value          string
}

type siteView struct {
	Name, Latest string
	Spark        template.HTML
}

type captureForm struct {
	Token string
	Kinds []string
}

func (pg *page) layout(title string) layoutData {
	return layoutData{Title: title, Base: "./", Refresh: int(pg.cfg.Refresh / time.Second), Now: pg.now().UTC().Format("15:04:05")}
}

// stateOf is a service's state on the pages: down, anomaly (by rule) or ok.
func stateOf(st ServiceStatus) (state, text string) {
	switch {
	case st.Down:
		return "down", "target down"
	case len(st.ActiveRules) > 0:
		return "anomaly", "anomaly: " + strings.Join(st.ActiveRules, ", ")
	default:
		return "ok", "ok"
	}
}

// window is the time span the plots of h show: the last hour of data, or all of it when the source keeps less.
func window(h ServiceHistory, now time.Time) (from, to time.Time) {
	to = h.LastData
	if to.IsZero() {
		to = now
	}
	from = to.Add(-plotWindow)
	earliest := to
	for _, pts := range h.Signals {
		if len(pts) > 0 && pts[0].Time.Before(earliest) {
			earliest = pts[0].Time
		}
	}
	if earliest.After(from) {
		from = earliest
	}
	if !to.After(from) {
		from = to.Add(-time.Minute)
	}
	return from, to
}

func (pg *page) row(st ServiceStatus, h ServiceHistory, withSparks bool) serviceRow {
	r := serviceRow{Name: st.Target.ServiceName, Instance: st.Target.ServiceInstanceID, Link: serviceLink(st.Target)}
	r.State, r.StateText = stateOf(st)
	from, to := window(h, pg.now())
	for _, m := range pageMetrics() {
		sig := m.signal
		if sig == SignalHeapLive {
			sig, _ = heapSignal(st.Latest, h.Signals)
		}
		c := cellView{Value: "—"}
		if v, ok := st.Latest[sig]; ok {
			c.Value = m.format(v)
		}
		if withSparks {
			c.Spark = renderSparkline(h.Signals[sig], from, to, r.State == "anomaly")
		}
		r.Cells = append(r.Cells, c)
	}
	return r
}

func (pg *page) episodeViews(eps []Episode) []episodeView {
	out := make([]episodeView, 0, len(eps))
	for _, ep := range eps {
		ev := episodeView{
			Anchor: episodeAnchor(ep.ID), Link: serviceLink(ep.Target) + "#" + episodeAnchor(ep.ID),
			Rule: ep.Rule, Kind: ep.Kind, Severity: ep.Severity,
			Service: ep.Target.ServiceName + " " + ep.Target.ServiceInstanceID,
			Start:   fmtTime(ep.Start), End: fmtTime(ep.End), EndReason: ep.EndReason,
			Active: ep.Active(), Sites: ep.Sites,
		}
		for _, k := range slices.Sorted(maps.Keys(ep.Details)) {
			ev.Details = append(ev.Details, k+"="+ep.Details[k])
		}
		out = append(out, ev)
	}
	return out
}

func (pg *page) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pg.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		pg.logger.Error("readiness page: render", zap.String("page", name), zap.Error(err))
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (pg *page) serveOverview(w http.ResponseWriter, _ *http.Request) {
	d := overviewData{layoutData: pg.layout("overview")}
	for _, m := range pageMetrics() {
		d.Columns = append(d.Columns, m.title)
	}
	for _, st := range pg.services() {
		h, _ := pg.history(st.Target)
		d.Rows = append(d.Rows, pg.row(st, h, true))
	}
	eps := pg.hub.Episodes()
	if len(eps) > 20 {
		eps = eps[:20]
	}
	d.Episodes = pg.episodeViews(eps)
	pg.render(w, "overview", d)
}

func (pg *page) serveService(w http.ResponseWriter, r *http.Request) {
	target, ok := targetOf(r)
	if !ok {
		http.Error(w, "want service.name and service.instance.id", http.StatusBadRequest)
		return
	}
	h, ok := pg.history(target)
	if !ok {
		http.Error(w, "unknown service: no source watches this service instance", http.StatusNotFound)
		return
	}
	d := serviceData{
		layoutData: pg.layout(target.ServiceName),
		Name:       target.ServiceName, Instance: target.ServiceInstanceID,
		Identity: h.Identity, LastData: fmtTime(h.LastData),
		Row:   pg.row(h.ServiceStatus, h, false),
		Rules: h.Rules,
	}
	var eps []Episode
	for _, ep := range pg.hub.Episodes() {
		if ep.Target == target {
			eps = append(eps, ep)
		}
	}
	d.Episodes = pg.episodeViews(eps)
	from, to := window(h, pg.now())
	d.Span = "the last " + strconv.Itoa(max(1, int(to.Sub(from).Round(time.Minute).Minutes()))) + " min"
	if to.Sub(from) < plotWindow-time.Minute {
		d.Span += " (all the history the readiness processor keeps for this instance)"
	}
	var bands []band
	for _, ep := range eps {
		b := band{From: ep.Start, To: ep.End, Label: ep.Rule, Anchor: episodeAnchor(ep.ID)}
		if !ep.Active() && b.To.IsZero() {
			b.To = ep.Start
		}
		bands = append(bands, b)
	}
	for _, m := range pageMetrics() {
		sig, title := m.signal, m.title
		if sig == SignalHeapLive {
			sig, title = heapSignal(h.Latest, h.Signals)
		}
		pv := plotView{Signal: sig, Title: title, Now: "—"}
		if v, ok := h.Latest[sig]; ok {
			pv.Now = m.format(v)
		}
		pv.SVG = renderPlot(plotSpec{Title: title, Points: h.Signals[sig], From: from, To: to, Bands: bands, Format: m.format})
		d.Plots = append(d.Plots, pv)
	}
	for _, c := range pg.captures(&target) {
		d.Captures = append(d.Captures, captureViewOf(c))
	}
	for _, name := range slices.Sorted(maps.Keys(h.Sites)) {
		pts := h.Sites[name]
		if len(pts) == 0 {
			continue
		}
		d.Sites = append(d.Sites, siteView{Name: name, Latest: formatCount(pts[len(pts)-1].Value), Spark: renderSparkline(pts, from, to, false)})
	}
	slices.SortStableFunc(d.Sites, func(a, b siteView) int {
		return compareCounts(h.Sites[b.Name], h.Sites[a.Name])
	})
	if pg.broker != nil {
		f := &captureForm{Token: pg.token}
		for _, k := range pg.kinds {
			f.Kinds = append(f.Kinds, string(k))
		}
		d.CaptureNow = f
	}
	if c := r.URL.Query().Get("captured"); c != "" {
		d.Message = "capture now: " + c + " kinds captured (newest first below)"
		d.MessageErr = strings.HasPrefix(c, "0/")
	}
	pg.render(w, "service", d)
}

func compareCounts(a, b []Point) int {
	va, vb := 0.0, 0.0
	if len(a) > 0 {
		va = a[len(a)-1].Value
	}
	if len(b) > 0 {
		vb = b[len(b)-1].Value
	}
	switch {
	case va < vb:
		return -1
	case va > vb:
		return 1
	}
	return 0
}

func captureViewOf(c captureRef) captureView {
	cv := captureView{
		ID: c.ID, Kind: c.Capture.Kind, Time: fmtTime(c.Capture.Time), Reason: c.Reason, Err: c.Capture.Err,
		Size:     formatBytes(float64(c.Capture.Size)),
		Download: "./captures/" + c.ID,
	}
	if c.Capture.Err == "" && pprofReadable(c.Capture) {
		cv.Pprof = "./pprof/" + c.ID + "/"
	}
	for i, e := range c.Capture.Summary {
		if i == 5 {
			break
		}
		cv.Top = append(cv.Top, topEntry{Function: e.Function, File: fileBase(e.File), Line: e.Line, Value: formatCount(float64(e.Value)) + " " + c.Capture.SampleType})
	}
	return cv
}

// pprofReadable tells the protobuf profiles pprof reads (.pb.gz) from the full goroutine dump (goroutine?debug=2,
// .txt), which it does not.
func pprofReadable(c Capture) bool { return strings.HasSuffix(c.Path, ".pb.gz") }

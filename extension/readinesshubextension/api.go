package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The read-only JSON API behind the pages: the same data, for scripts.

type apiTarget struct {
	ServiceName       string `json:"service.name"`
	ServiceInstanceID string `json:"service.instance.id"`
}

type apiService struct {
	apiTarget
	Identity    map[string]string  `json:"identity"`
	State       string             `json:"state"` // ok, anomaly or down
	ActiveRules []string           `json:"active_rules"`
	LastData    *time.Time         `json:"last_data,omitempty"`
	Latest      map[string]float64 `json:"latest"`
	Page        string             `json:"page"`
}

type apiPoint struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

type apiRule struct {
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Severity  string     `json:"severity"`
	Firing    bool       `json:"firing"`
	Since     *time.Time `json:"since,omitempty"`
	Measure   string     `json:"measure"`
	Threshold string     `json:"threshold"`
	Why       string     `json:"why"`
}

type apiEpisode struct {
	ID        string            `json:"id"`
	Rule      string            `json:"rule"`
	Kind      string            `json:"kind"`
	Severity  string            `json:"severity"`
	Target    apiTarget         `json:"target"`
	Start     time.Time         `json:"start"`
	End       *time.Time        `json:"end,omitempty"`
	Active    bool              `json:"active"`
	EndReason string            `json:"end_reason,omitempty"`
	Details   map[string]string `json:"details"`
	Sites     []string          `json:"sites"`
	Page      string            `json:"page"`
}

type apiCapture struct {
	ID         string       `json:"id"`
	Target     apiTarget    `json:"target"`
	Kind       string       `json:"kind"`
	Time       time.Time    `json:"time"`
	Size       int64        `json:"size"`
	Reason     string       `json:"reason"`
	SampleType string       `json:"sample_type,omitempty"`
	Top        []apiSummary `json:"top,omitempty"`
	Error      string       `json:"error,omitempty"`
	Download   string       `json:"download,omitempty"`
	Pprof      string       `json:"pprof,omitempty"`
}

type apiSummary struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int64  `json:"line,omitempty"`
	Value    int64  `json:"value"`
}

type apiServiceDetail struct {
	apiService
	Signals  map[string][]apiPoint `json:"signals"`
	Sites    map[string][]apiPoint `json:"sites,omitempty"`
	Rules    []apiRule             `json:"rules"`
	Episodes []apiEpisode          `json:"episodes"`
	Captures []apiCapture          `json:"captures"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (pg *page) apiServiceOf(st ServiceStatus) apiService {
	state, _ := stateOf(st)
	rules := st.ActiveRules
	if rules == nil {
		rules = []string{}
	}
	return apiService{
		apiTarget: apiTarget{st.Target.ServiceName, st.Target.ServiceInstanceID},
		Identity:  st.Identity, State: state, ActiveRules: rules, LastData: timePtr(st.LastData), Latest: st.Latest,
		Page: pg.abs(serviceLink(st.Target)),
	}
}

func (pg *page) apiEpisodeOf(ep Episode) apiEpisode {
	sites := ep.Sites
	if sites == nil {
		sites = []string{}
	}
	return apiEpisode{
		ID: episodeAnchor(ep.ID), Rule: ep.Rule, Kind: ep.Kind, Severity: ep.Severity,
		Target: apiTarget{ep.Target.ServiceName, ep.Target.ServiceInstanceID},
		Start:  ep.Start, End: timePtr(ep.End), Active: ep.Active(), EndReason: ep.EndReason,
		Details: ep.Details, Sites: sites, Page: pg.episodeURL(ep),
	}
}

func (pg *page) apiCaptureOf(c captureRef) apiCapture {
	ac := apiCapture{
		ID: c.ID, Target: apiTarget{c.Target.ServiceName, c.Target.ServiceInstanceID},
		Kind: c.Capture.Kind, Time: c.Capture.Time, Size: c.Capture.Size, Reason: c.Reason,
		SampleType: c.Capture.SampleType, Error: c.Capture.Err,
	}
	if c.Capture.Err == "" {
		ac.Download = pg.abs("./captures/" + c.ID)
		if pprofReadable(c.Capture) {
			ac.Pprof = pg.abs("./pprof/" + c.ID + "/")
		}
	}
	for _, e := range c.Capture.Summary {
		ac.Top = append(ac.Top, apiSummary{Function: e.Function, File: e.File, Line: e.Line, Value: e.Value})
	}
	return ac
}

func points(pts []Point) []apiPoint {
	out := make([]apiPoint, len(pts))
	for i, p := range pts {
		out[i] = apiPoint{p.Time, p.Value}
	}
	return out
}

func (pg *page) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		pg.logger.Debug("readiness page: write JSON", zap.Error(err))
	}
}

func (pg *page) apiServices(w http.ResponseWriter, _ *http.Request) {
	out := []apiService{}
	for _, st := range pg.services() {
		out = append(out, pg.apiServiceOf(st))
	}
	pg.writeJSON(w, out)
}

func (pg *page) apiService(w http.ResponseWriter, r *http.Request) {
	target, ok := targetOf(r)
	if !ok {
		http.Error(w, "want service.name and service.instance.id", http.StatusBadRequest)
		return
	}
	h, ok := pg.history(target)
	if !ok {
		http.Error(w, "unknown service", http.StatusNotFound)
		return
	}
	d := apiServiceDetail{
		apiService: pg.apiServiceOf(h.ServiceStatus),
		Signals:    map[string][]apiPoint{}, Rules: []apiRule{}, Episodes: []apiEpisode{}, Captures: []apiCapture{},
	}
	for sig, pts := range h.Signals {
		d.Signals[sig] = points(pts)
	}
	if len(h.Sites) > 0 {
		d.Sites = map[string][]apiPoint{}
		for site, pts := range h.Sites {
			d.Sites[site] = points(pts)
		}
	}
	for _, rs := range h.Rules {
		d.Rules = append(d.Rules, apiRule{rs.Name, rs.Kind, rs.Severity, rs.Firing, timePtr(rs.Since), rs.Measure, rs.Threshold, rs.Why})
	}
	for _, ep := range pg.hub.Episodes() {
		if ep.Target == target {
			d.Episodes = append(d.Episodes, pg.apiEpisodeOf(ep))
		}
	}
	for _, c := range pg.captures(&target) {
		d.Captures = append(d.Captures, pg.apiCaptureOf(c))
	}
	pg.writeJSON(w, d)
}

func (pg *page) apiEpisodes(w http.ResponseWriter, _ *http.Request) {
	out := []apiEpisode{}
	for _, ep := range pg.hub.Episodes() {
		out = append(out, pg.apiEpisodeOf(ep))
	}
	pg.writeJSON(w, out)
}

func (pg *page) apiCaptures(w http.ResponseWriter, _ *http.Request) {
	out := []apiCapture{}
	for _, c := range pg.captures(nil) {
		out = append(out, pg.apiCaptureOf(c))
	}
	pg.writeJSON(w, out)
}

// abs turns a link relative to the page's root into an absolute URL at the page's address (page::url).
func (pg *page) abs(rel string) string { return pg.url + strings.TrimPrefix(rel, "./") }

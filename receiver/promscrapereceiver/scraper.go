package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver/internal/metadata"
)

// acceptHeader asks for the delimited protobuf format first (client_golang serves it; it is cheaper to parse and
// carries the counters' created timestamps), then the text format every exporter serves.
const acceptHeader = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1`

// upMetricName is the per-target scrape health gauge, named as Prometheus and the prometheus receiver name it.
const upMetricName = "up"

type promScraper struct {
	cfg       *Config
	set       receiver.Settings
	startTime pcommon.Timestamp
	targets   []*target
}

type target struct {
	url               string
	client            *http.Client
	serviceName       string
	serviceInstanceID string
	host              string
	port              int64
}

func newPromScraper(cfg *Config, set receiver.Settings) *promScraper {
	return &promScraper{cfg: cfg, set: set}
}

// start builds one HTTP client per target (TLS, auth extensions and headers from its client settings).
func (s *promScraper) start(ctx context.Context, host component.Host) error {
	s.startTime = pcommon.NewTimestampFromTime(time.Now())
	for i := range s.cfg.Targets {
		tc := &s.cfg.Targets[i]
		u, err := tc.scrapeURL()
		if err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
		client, err := tc.ToClient(ctx, host.GetExtensions(), s.set.TelemetrySettings)
		if err != nil {
			return fmt.Errorf("targets[%d] %s: creating the HTTP client: %w", i, u, err)
		}
		t := &target{url: u.String(), client: client, serviceName: tc.ServiceName, serviceInstanceID: tc.ServiceInstanceID, host: u.Hostname()}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		t.port, _ = strconv.ParseInt(port, 10, 64)
		if t.serviceName == "" {
			t.serviceName = net.JoinHostPort(t.host, port)
		}
		if t.serviceInstanceID == "" {
			t.serviceInstanceID = net.JoinHostPort(t.host, port)
		}
		s.targets = append(s.targets, t)
	}
	return nil
}

func (s *promScraper) shutdown(context.Context) error {
	for _, t := range s.targets {
		t.client.CloseIdleConnections()
	}
	return nil
}

// scrape reads every target in turn (a sidecar has one or two) into one resource per target. A failing target
// yields its `up` gauge at 0 and a partial scrape error; the others are still sent.
func (s *promScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	md := pmetric.NewMetrics()
	var errs scrapererror.ScrapeErrors
	for _, t := range s.targets {
		rm := md.ResourceMetrics().AppendEmpty()
		attrs := rm.Resource().Attributes()
		attrs.PutStr("service.name", t.serviceName)
		attrs.PutStr("service.instance.id", t.serviceInstanceID)
		attrs.PutStr("server.address", t.host)
		attrs.PutInt("server.port", t.port)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)

		now := pcommon.NewTimestampFromTime(time.Now())
		families, err := s.fetch(ctx, t)
		up := 1.0
		if err != nil {
			up = 0
			errs.AddPartial(1, fmt.Errorf("scraping %s: %w", t.url, err))
		} else {
			appendFamilies(sm.Metrics(), families, now, startTimeOf(families, s.startTime))
		}
		dp := appendGauge(sm.Metrics(), upMetricName, "1 if the target was scraped, 0 if the scrape failed.", "").DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetDoubleValue(up)
	}
	return md, errs.Combine()
}

// fetch reads the target's exposition in whichever format it answered with.
func (s *promScraper) fetch(ctx context.Context, t *target) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	body := &limitedReader{r: resp.Body, max: s.cfg.MaxBodySize}
	dec := expfmt.NewDecoder(body, expfmt.ResponseFormat(resp.Header))
	var families []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return families, nil
		}
		if err != nil {
			if body.exceeded {
				return nil, fmt.Errorf("response larger than max_body_size (%d bytes)", s.cfg.MaxBodySize)
			}
			return nil, fmt.Errorf("decoding the exposition (%s): %w", resp.Header.Get("Content-Type"), err)
		}
		families = append(families, mf)
	}
}

// errBodyTooLarge is returned by limitedReader once a body passes max_body_size.
var errBodyTooLarge = errors.New("response body exceeds max_body_size")

// limitedReader fails once more than max bytes were read, instead of truncating silently as io.LimitReader would
// (a truncated exposition can still parse). It reads at most one buffer past the limit.
type limitedReader struct {
	r        io.Reader
	read     int64
	max      int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.max {
		l.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

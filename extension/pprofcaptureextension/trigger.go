package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// triggerServer is the operator-facing endpoint that turns an HTTP request into a broker request.
type triggerServer struct {
	broker  Broker
	timeout time.Duration
	logger  *zap.Logger
	server  *http.Server
	done    chan struct{}
}

// resultJSON is Result as the trigger answers it.
type resultJSON struct {
	Kind       Kind          `json:"kind"`
	Path       string        `json:"path,omitempty"`
	Size       int64         `json:"size,omitempty"`
	SampleType string        `json:"sample_type,omitempty"`
	Summary    []summaryJSON `json:"summary,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// summaryJSON is SummaryEntry as the trigger answers it.
type summaryJSON struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int64  `json:"line,omitempty"`
	Entry    string `json:"entry,omitempty"`
	Value    int64  `json:"value"`
	Before   int64  `json:"before,omitempty"`
	After    int64  `json:"after,omitempty"`
}

func startTrigger(cfg *TriggerConfig, broker Broker, logger *zap.Logger) (*triggerServer, error) {
	lis, err := net.Listen("tcp", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("trigger: listening on %s: %w", cfg.Endpoint, err)
	}
	t := &triggerServer{broker: broker, timeout: cfg.RequestTimeout, logger: logger, done: make(chan struct{})}
	if t.timeout <= 0 {
		t.timeout = defaultTriggerTimeout
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /captures", t.serveCapture)
	t.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(t.done)
		if err := t.server.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Capture trigger stopped", zap.Error(err))
		}
	}()
	logger.Info("Capture trigger listening", zap.String("endpoint", lis.Addr().String()))
	return t, nil
}

func (t *triggerServer) shutdown(ctx context.Context) error {
	err := t.server.Shutdown(ctx)
	<-t.done
	return err
}

// serveCapture handles POST /captures?service.name=&service.instance.id=&kind=heap&kind=goroutine&reason=&duration=10s.
func (t *triggerServer) serveCapture(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := Request{
		Target: TargetKey{ServiceName: q.Get("service.name"), ServiceInstanceID: q.Get("service.instance.id")},
		Reason: q.Get("reason"),
	}
	if req.Reason == "" {
		req.Reason = "operator"
	}
	for _, k := range q["kind"] {
		for _, part := range strings.Split(k, ",") {
			if part != "" {
				req.Kinds = append(req.Kinds, Kind(part))
			}
		}
	}
	if req.Target.ServiceName == "" || req.Target.ServiceInstanceID == "" || len(req.Kinds) == 0 {
		http.Error(w, "want service.name, service.instance.id and at least one kind", http.StatusBadRequest)
		return
	}
	if d := q.Get("duration"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil || dur < 0 {
			http.Error(w, "duration: want a Go duration such as 10s", http.StatusBadRequest)
			return
		}
		req.Duration = dur
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	defer cancel()
	results, err := t.broker.Capture(ctx, req)
	switch {
	case errors.Is(err, ErrUnknownTarget):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case errors.Is(err, ErrRateLimited):
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := make([]resultJSON, 0, len(results))
	for _, res := range results {
		rj := resultJSON{Kind: res.Kind, Path: res.Path, Size: res.Size, SampleType: res.SampleType}
		for _, e := range res.Summary {
			rj.Summary = append(rj.Summary, summaryJSON(e))
		}
		if res.Err != nil {
			rj.Error = res.Err.Error()
		}
		out = append(out, rj)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

// Reasons of failed requests, used in logs and as the reason attribute of the scrape error counter.
const (
	reasonConnection   = "connection"
	reasonTimeout      = "timeout"
	reasonHTTPStatus   = "http_status"
	reasonBodyTooLarge = "body_too_large"
	reasonParse        = "parse"
)

var errBodyTooLarge = errors.New("response body exceeds the size limit")

// requestError is a failed request with the reason it is counted under.
type requestError struct {
	Reason     string
	StatusCode int
	Err        error
}

func (e *requestError) Error() string { return e.Err.Error() }
func (e *requestError) Unwrap() error { return e.Err }

func isNotFound(err error) bool {
	var re *requestError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

func reasonOf(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		return re.Reason
	}
	return reasonParse
}

// limitedReader fails with errBodyTooLarge as soon as more than remaining bytes arrive, so an endless body is cut
// after max+1 bytes and never buffered.
type limitedReader struct {
	r         io.Reader
	remaining int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.remaining < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.remaining+1 {
		p = p[:l.remaining+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.remaining {
		n = int(l.remaining)
		l.remaining = -1
		return n, errBodyTooLarge
	}
	l.remaining -= int64(n)
	return n, err
}

// fetch GETs url and hands the size-limited body to consume. consume may stop reading early (the connection is
// then closed rather than drained). Every failure comes back as a *requestError.
func fetch(ctx context.Context, client *http.Client, url string, maxBody int64, consume func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return &requestError{Reason: reasonConnection, Err: fmt.Errorf("GET %s: %w", url, err)}
	}
	resp, err := client.Do(req)
	if err != nil {
		return &requestError{Reason: classifyTransportError(ctx, err), Err: fmt.Errorf("GET %s: %w", url, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return &requestError{
			Reason:     reasonHTTPStatus,
			StatusCode: resp.StatusCode,
			Err:        fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(snippet))),
		}
	}
	body := &limitedReader{r: resp.Body, remaining: maxBody}
	if err := consume(body); err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			return &requestError{Reason: reasonBodyTooLarge, Err: fmt.Errorf("GET %s: body larger than %d bytes", url, maxBody)}
		case ctx.Err() != nil || isTimeout(err):
			return &requestError{Reason: reasonTimeout, Err: fmt.Errorf("GET %s: reading body: %w", url, err)}
		default:
			var re *requestError
			if errors.As(err, &re) {
				return err
			}
			return &requestError{Reason: reasonParse, Err: fmt.Errorf("GET %s: %w", url, err)}
		}
	}
	return nil
}

func classifyTransportError(ctx context.Context, err error) string {
	if ctx.Err() != nil || isTimeout(err) {
		return reasonTimeout
	}
	return reasonConnection
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

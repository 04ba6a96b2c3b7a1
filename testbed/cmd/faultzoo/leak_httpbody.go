package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// httpBodyLeakInterval makes one GET every 333 ms: 3 a second.
const httpBodyLeakInterval = 333 * time.Millisecond

// httpBodyLeaker makes GETs to a loopback server of the same process and never closes the response bodies. With
// keep-alives on, each unclosed body pins its connection: the transport's readLoop waits for the body to be read or
// closed and its writeLoop for the next request, forever, and the next GET dials a new connection.
type httpBodyLeaker struct {
	client *http.Client
	url    string
	server *http.Server
	ln     net.Listener
	// keep, when set (tests), receives every unclosed response so the test can close them at the end.
	keep func(*http.Response)
}

// newHTTPBodyLeaker starts the loopback server. The server closes idle connections after 2 s, so only the client
// side of each pinned connection stays: the leak is the client's.
func newHTTPBodyLeaker() (*httpBodyLeaker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback server for leak-httpbody: %w", err)
	}
	body := strings.Repeat("x", 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("/item", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body))
	})
	l := &httpBodyLeaker{
		ln:     ln,
		url:    "http://" + ln.Addr().String() + "/item",
		server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Second},
		client: &http.Client{Transport: &http.Transport{
			DisableKeepAlives:   false,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	go func() { _ = l.server.Serve(ln) }()
	return l, nil
}

// fetchWithoutClose is the bug: it checks the status and forgets the body.
func (l *httpBodyLeaker) fetchWithoutClose() error {
	resp, err := l.client.Get(l.url)
	if err != nil {
		return fmt.Errorf("GET %s: %w", l.url, err)
	}
	if l.keep != nil {
		l.keep(resp)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", l.url, resp.Status)
	}
	return nil
}

// close stops the server (tests; the zoo process never calls it).
func (l *httpBodyLeaker) close() {
	_ = l.server.Close()
	l.client.CloseIdleConnections()
}

// runLeakHTTPBody makes 3 leaking GETs a second.
func runLeakHTTPBody(ctx context.Context, z *zoo) {
	l, err := newHTTPBodyLeaker()
	if err != nil {
		z.logger.Error("leak-httpbody cannot start", "error", err)
		return
	}
	every(ctx, httpBodyLeakInterval, func() bool {
		if err := l.fetchWithoutClose(); err != nil {
			z.logger.Warn("leaking GET failed", "error", err)
		}
		return true
	})
}

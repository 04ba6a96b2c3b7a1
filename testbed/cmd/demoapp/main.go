// Command demoapp is a small Go service for end-to-end tests and demos of otelcol-ready: it
// serves pprof, Prometheus metrics and expvar, and has knobs (goroutine leak, GC storm, heap
// growth, healthy noise) whose effects show in those endpoints. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 60 * time.Second
	// shutdownTimeout bounds how long in-flight requests (a CPU profile, say) may delay exit.
	shutdownTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "demoapp: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// run serves until ctx ends or -duration passes, then shuts down gracefully.
// It prints exactly one line to stdout: "demoapp listening on <host:port>".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("service_name", cfg.serviceName)

	w := newWorkloads(cfg)
	defer w.stopAll()
	mux, err := newMux(cfg, w)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on -listen %s: %w", cfg.listen, err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	for _, mode := range cfg.modes {
		if err := w.set(mode, true); err != nil {
			_ = srv.Close()
			<-serveErr
			return err
		}
	}
	if _, err := fmt.Fprintf(stdout, "demoapp listening on %s\n", ln.Addr()); err != nil {
		logger.Warn("cannot write the listening line to stdout", "error", err)
	}
	logger.Info("started", "modes", cfg.modes, "pprof", cfg.pprof, "metrics", cfg.metrics, "expvar", cfg.expvar)

	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "reason", context.Cause(ctx))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("graceful shutdown timed out, closing connections", "error", err)
		_ = srv.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	w.stopAll()
	logger.Info("stopped", "leaked_goroutines", w.leaked.Load(), "retained_bytes", w.cache.size())
	return nil
}

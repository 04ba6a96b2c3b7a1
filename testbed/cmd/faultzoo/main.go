// Command faultzoo is a Go service with one runtime behaviour ("shape") chosen at start: healthy shapes that a
// readiness rule must never flag (wandering goroutine counts, bursts, a warm-up ramp, a GC sawtooth) and faults
// that it must flag (goroutine leaks of several kinds, GC storms, heap growth). It serves net/http/pprof, expvar
// and Prometheus /metrics like a real service, so the otelcol-ready testbed can run the whole zoo next to the
// collector and score the readiness processor against labels.yaml. See README.md.
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
	"sort"
	"strings"
	"syscall"
	"time"
)

// listeningPrefix starts the single line faultzoo prints on stdout once it serves.
const listeningPrefix = "faultzoo listening on "

const (
	readHeaderTimeout = 10 * time.Second
	shutdownTimeout   = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "faultzoo: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	listen   string
	shape    string
	onset    time.Duration
	seed     uint64
	duration time.Duration
}

func parseConfig(args []string, output io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("faultzoo", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:6060", "address to serve HTTP on (port 0 picks a free port)")
	fs.StringVar(&cfg.shape, "shape", "", "behaviour to run: "+strings.Join(shapeNames(), ", "))
	fs.DurationVar(&cfg.onset, "onset", 0, "how long a fault shape stays healthy before the fault starts (0: from start)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the random choices (wander phase, burst sizes and times)")
	fs.DurationVar(&cfg.duration, "duration", 0, "exit after this long (0: run until SIGTERM); a safety bound for tests")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, ok := shapes[cfg.shape]; !ok {
		return cfg, fmt.Errorf("-shape %q: use one of %s", cfg.shape, strings.Join(shapeNames(), ", "))
	}
	if cfg.onset < 0 {
		return cfg, fmt.Errorf("-onset %s is negative", cfg.onset)
	}
	return cfg, nil
}

func shapeNames() []string {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// run serves the endpoints and runs the shape until ctx ends or -duration passes.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("shape", cfg.shape)
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	z := newZoo(cfg, logger)
	mux, err := newMux(cfg, z)
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
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	shapeCtx, stopShape := context.WithCancel(ctx)
	defer stopShape()
	shapeDone := make(chan struct{})
	go func() {
		defer close(shapeDone)
		z.runShape(shapeCtx)
	}()
	if _, err := fmt.Fprintf(stdout, "%s%s\n", listeningPrefix, ln.Addr()); err != nil {
		logger.Warn("cannot write the listening line to stdout", "error", err)
	}
	logger.Info("started", "onset", cfg.onset, "seed", cfg.seed, "pid", os.Getpid())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "reason", context.Cause(ctx))
	stopShape()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	<-serveErr
	select {
	case <-shapeDone:
	case <-time.After(shutdownTimeout):
		logger.Warn("shape did not stop in time")
	}
	return nil
}

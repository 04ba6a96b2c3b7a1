package testbed

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// envFakeCollector turns the test binary into a fake collector for the runner's tests: it reads the rendered
// config, serves 200 on the health endpoint and exits 0 on SIGTERM.
const envFakeCollector = "TESTBED_FAKE_COLLECTOR"

func TestMain(m *testing.M) {
	if os.Getenv(envFakeCollector) == "1" {
		os.Exit(fakeCollector(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

func fakeCollector(args []string) int {
	if len(args) < 2 || len(args)%2 != 0 {
		fmt.Fprintf(os.Stderr, "fake collector: want --config <file> [--config <overlay>...], got %q\n", args)
		return 2
	}
	// Later files override earlier ones, as the collector merges several --config flags.
	settings := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		if args[i] != "--config" {
			fmt.Fprintf(os.Stderr, "fake collector: want --config <file>, got %q\n", args[i])
			return 2
		}
		f, err := os.Open(args[i+1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake collector:", err)
			return 2
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, "#") {
				settings[k] = v
			}
		}
		f.Close()
	}
	if settings["exit_at_once"] == "true" {
		fmt.Fprintln(os.Stderr, "fake collector: failing on purpose")
		return 1
	}
	fmt.Println("fake collector: serving health on", settings["health_endpoint"])
	srv := &http.Server{Addr: settings["health_endpoint"], ReadHeaderTimeout: time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() { _ = srv.ListenAndServe() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Minute): // never outlive a forgotten test
	}
	_ = srv.Close()
	fmt.Println("fake collector: graceful shutdown")
	return 0
}

package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

const (
	// DefaultStartTimeout bounds how long a collector may take to report healthy.
	DefaultStartTimeout = 60 * time.Second
	// DefaultStopTimeout bounds the graceful shutdown after SIGTERM before the runner kills the process group.
	DefaultStopTimeout = 30 * time.Second
	// logTailBytes is how much of a collector's log is printed when a test fails.
	logTailBytes = 16 << 10
)

// CollectorConfig describes one collector instance.
type CollectorConfig struct {
	// Name identifies the instance in logs, file names and resource samples ("sidecar", "gateway").
	Name string
	// Template is a config template: a file name under testbed/configs or an absolute path. It is rendered with
	// text/template; missing keys are an error. The runner adds HealthEndpoint, TelemetryPort and StateDir to Vars.
	Template string
	// Vars are the template's data (endpoints of receivers and exporters, limits).
	Vars map[string]any
	// Overlays are further config templates (same names and Vars as Template), passed as additional --config
	// flags after it: the collector merges them in order (maps deeply, lists replaced). A scenario uses them to run
	// a shipped config unchanged plus, say, TLS settings that cannot be set through ${env:}.
	Overlays []string
	// StateDir is kept across restarts (file_storage directory). Empty: a fresh temp dir.
	StateDir string
	// Env is added to the child's environment.
	Env []string
	// Monitor, when set, samples the process's CPU and RSS across restarts.
	Monitor *ResourceMonitor
	// StartTimeout and StopTimeout default to DefaultStartTimeout and DefaultStopTimeout.
	StartTimeout time.Duration
	StopTimeout  time.Duration
}

// Collector is a running (or stopped) otelcol-ready child process.
type Collector struct {
	tb         testing.TB
	bin        string
	cfg        CollectorConfig
	configPath string
	overlays   []string
	logPath    string
	health     string
	telemetry  int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	starts  int
}

// NewCollector renders the config and prepares the instance; Start runs it. The process is killed in t.Cleanup,
// and the tail of its log is printed when the test failed.
func NewCollector(tb testing.TB, bin string, cfg CollectorConfig) *Collector {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "collector"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	dir := tb.TempDir()
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(dir, "state")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		tb.Fatalf("creating state dir: %v", err)
	}
	c := &Collector{
		tb:         tb,
		bin:        bin,
		cfg:        cfg,
		configPath: filepath.Join(dir, cfg.Name+".yaml"),
		logPath:    filepath.Join(dir, cfg.Name+".log"),
		health:     FreeEndpoint(tb),
		telemetry:  FreePort(tb),
	}
	vars := map[string]any{}
	for k, v := range cfg.Vars {
		vars[k] = v
	}
	vars["HealthEndpoint"] = c.health
	vars["TelemetryPort"] = c.telemetry
	vars["StateDir"] = cfg.StateDir
	rendered, err := RenderTemplate(cfg.Template, vars)
	if err != nil {
		tb.Fatalf("collector %s: %v", cfg.Name, err)
	}
	if err := os.WriteFile(c.configPath, rendered, 0o600); err != nil {
		tb.Fatalf("writing config: %v", err)
	}
	for i, overlay := range cfg.Overlays {
		text, err := RenderTemplate(overlay, vars)
		if err != nil {
			tb.Fatalf("collector %s overlay: %v", cfg.Name, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s.overlay%d.yaml", cfg.Name, i+1))
		if err := os.WriteFile(path, text, 0o600); err != nil {
			tb.Fatalf("writing config overlay: %v", err)
		}
		c.overlays = append(c.overlays, path)
		rendered = append(append(rendered, "\n# overlay "+path+":\n"...), text...)
	}
	tb.Cleanup(func() {
		c.Kill()
		if tb.Failed() {
			tb.Logf("collector %s config %s:\n%s", cfg.Name, c.configPath, rendered)
			tb.Logf("collector %s log tail (%s):\n%s", cfg.Name, c.logPath, c.LogTail(logTailBytes))
		}
	})
	return c
}

// RenderTemplate renders a config template (a name under testbed/configs, or an absolute path) with vars. A shipped
// config (RepoPath("distro/config/sidecar.yaml")) renders unchanged, its ${env:...} variables set by the runner.
func RenderTemplate(name string, vars map[string]any) ([]byte, error) {
	path := name
	if !filepath.IsAbs(path) {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, "testbed", "configs", name)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config template: %w", err)
	}
	tmpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("parsing config template %s: %w", path, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, vars); err != nil {
		return nil, fmt.Errorf("rendering config template %s: %w", path, err)
	}
	return out.Bytes(), nil
}

// distroEnv sets the variables the shipped configs (distro/config/*.yaml) read, so they run unchanged on the
// runner's ports and state directory.
func (c *Collector) distroEnv() []string {
	return []string{
		"OTELCOL_READY_HEALTH_ENDPOINT=" + c.health,
		"OTELCOL_READY_TELEMETRY_HOST=127.0.0.1",
		fmt.Sprintf("OTELCOL_READY_TELEMETRY_PORT=%d", c.telemetry),
		"OTELCOL_READY_STORAGE_DIR=" + c.cfg.StateDir,
	}
}

// Name returns the instance name.
func (c *Collector) Name() string { return c.cfg.Name }

// ConfigPath returns the rendered config file.
func (c *Collector) ConfigPath() string { return c.configPath }

// LogPath returns the file that receives the child's stdout and stderr (appended across restarts).
func (c *Collector) LogPath() string { return c.logPath }

// StateDir returns the directory kept across restarts.
func (c *Collector) StateDir() string { return c.cfg.StateDir }

// TelemetryURL returns the collector's own Prometheus metrics endpoint.
func (c *Collector) TelemetryURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.telemetry)
}

// PID returns the process id of the current run, 0 when not running.
func (c *Collector) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Start runs the binary and waits until health_check reports healthy. Calling Start again after Stop or Kill
// restarts the collector with the same config, ports and state directory.
func (c *Collector) Start() error {
	c.mu.Lock()
	if c.cmd != nil {
		c.mu.Unlock()
		return fmt.Errorf("collector %s is already running", c.cfg.Name)
	}
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("opening collector log: %w", err)
	}
	c.starts++
	fmt.Fprintf(logFile, "==== testbed: start #%d of %s at %s ====\n", c.starts, c.cfg.Name, time.Now().Format(time.RFC3339Nano))
	args := []string{"--config", c.configPath}
	for _, o := range c.overlays {
		args = append(args, "--config", o)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), c.distroEnv()...), c.cfg.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group, so a kill reaches every child; Pdeathsig so nothing outlives a crashed test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.mu.Unlock()
		return fmt.Errorf("starting %s: %w", c.bin, err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited, c.waitErr = cmd, exited, nil
	c.mu.Unlock()

	go func() {
		err := cmd.Wait()
		logFile.Close()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(exited)
	}()
	if c.cfg.Monitor != nil {
		c.cfg.Monitor.Track(c.cfg.Name, cmd.Process.Pid)
	}
	if err := c.waitHealthy(exited); err != nil {
		c.Kill()
		return fmt.Errorf("collector %s: %w\nlog tail:\n%s", c.cfg.Name, err, c.LogTail(logTailBytes))
	}
	return nil
}

// MustStart is Start that fails the test on error.
func (c *Collector) MustStart() {
	c.tb.Helper()
	if err := c.Start(); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *Collector) waitHealthy(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(c.cfg.StartTimeout)
	url := "http://" + c.health + "/"
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before becoming healthy: %v", c.exitErr())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy at %s after %s", url, c.cfg.StartTimeout)
}

func (c *Collector) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitErr
}

// Stop sends SIGTERM and waits for a graceful shutdown (the exporters drain or persist their queues); after
// StopTimeout it kills the process group. It returns the process's exit error, if any.
func (c *Collector) Stop() error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-exited:
		err = c.exitErr()
	case <-time.After(c.cfg.StopTimeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		err = fmt.Errorf("collector %s did not stop within %s after SIGTERM; killed", c.cfg.Name, c.cfg.StopTimeout)
	}
	c.mu.Lock()
	c.cmd = nil
	c.mu.Unlock()
	return err
}

// Kill sends SIGKILL to the process group (a crash: nothing is flushed) and waits for the exit.
func (c *Collector) Kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		c.tb.Logf("collector %s: pid %d did not exit 10s after SIGKILL", c.cfg.Name, cmd.Process.Pid)
	}
}

// Restart stops the collector (kill -9 when crash is true, SIGTERM otherwise) and starts it again on the same
// config and state directory.
func (c *Collector) Restart(crash bool) error {
	if crash {
		c.Kill()
	} else if err := c.Stop(); err != nil && !isSignalExit(err) {
		return err
	}
	return c.Start()
}

func isSignalExit(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr)
}

// LogTail returns up to n bytes from the end of the collector's log.
func (c *Collector) LogTail(n int64) string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(log stat: %v)", err)
	}
	if st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// WaitUntil polls cond every interval until it returns true or timeout passes.
func WaitUntil(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-ticker.C:
		}
	}
}

// TelemetryTotals scrapes the collector's own Prometheus endpoint and sums each metric over its label sets
// ("otelcol_exporter_enqueue_failed_spans" -> total). Only names with one of the prefixes are kept (all when none).
func (c *Collector) TelemetryTotals(prefixes ...string) (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(c.TelemetryURL())
	if err != nil {
		return nil, fmt.Errorf("scraping %s telemetry: %w", c.cfg.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s telemetry: %w", c.cfg.Name, err)
	}
	return parsePromTotals(string(body), prefixes), nil
}

func parsePromTotals(text string, prefixes []string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		nameEnd := strings.IndexAny(line, "{ ")
		if nameEnd <= 0 {
			continue
		}
		name := line[:nameEnd]
		if len(prefixes) > 0 && !hasAnyPrefix(name, prefixes) {
			continue
		}
		rest := line[nameEnd:]
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoListeningPrefix starts the single line demoapp prints on stdout once it serves.
const demoListeningPrefix = "demoapp listening on "

// DemoAppOptions describes one demo service instance.
type DemoAppOptions struct {
	// Name identifies the instance in resource samples and logs (default "demoapp").
	Name string
	// Modes are the initial knobs: healthy, leak, gcstorm, heapgrowth (default healthy).
	Modes []string
	// Args are further flags (-leak-rate 50, -service-name checkout).
	Args []string
	// Monitor, when set, samples the process's CPU and RSS.
	Monitor *ResourceMonitor
}

// DemoApp is a running testbed/cmd/demoapp child process.
type DemoApp struct {
	tb      testing.TB
	name    string
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// StartDemoApp runs the demo service on a free loopback port and waits for its "listening" line. It is killed in
// t.Cleanup; its stderr is printed when the test failed.
func StartDemoApp(tb testing.TB, bin string, opts DemoAppOptions) *DemoApp {
	tb.Helper()
	if opts.Name == "" {
		opts.Name = "demoapp"
	}
	if len(opts.Modes) == 0 {
		opts.Modes = []string{"healthy"}
	}
	d := &DemoApp{tb: tb, name: opts.Name, exited: make(chan struct{}), logPath: filepath.Join(tb.TempDir(), opts.Name+".log")}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		tb.Fatalf("demoapp log: %v", err)
	}
	args := append([]string{"-listen", "127.0.0.1:0", "-mode", strings.Join(opts.Modes, ",")}, opts.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("demoapp stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("starting demoapp %s: %v", bin, err)
	}
	d.cmd = cmd
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained until exit
	}()
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(d.exited)
	}()
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			b, _ := os.ReadFile(d.logPath)
			tb.Logf("demoapp %s stderr:\n%s", d.name, tailString(string(b), logTailBytes))
		}
	})
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, demoListeningPrefix) {
			tb.Fatalf("demoapp printed %q instead of %q<addr>", line, demoListeningPrefix)
		}
		d.addr = strings.TrimSpace(strings.TrimPrefix(line, demoListeningPrefix))
	case <-time.After(30 * time.Second):
		tb.Fatalf("demoapp did not print its listening line within 30s")
	}
	if err := mustLoopback(d.addr); err != nil {
		tb.Fatal(err)
	}
	if opts.Monitor != nil {
		opts.Monitor.Track(opts.Name, cmd.Process.Pid)
	}
	return d
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Addr returns host:port of the demo service.
func (d *DemoApp) Addr() string { return d.addr }

// Host returns the host part of Addr; Port the port.
func (d *DemoApp) Host() string { return d.addr[:strings.LastIndexByte(d.addr, ':')] }

// Port returns the port of Addr.
func (d *DemoApp) Port() int {
	p, _ := strconv.Atoi(d.addr[strings.LastIndexByte(d.addr, ':')+1:])
	return p
}

// URL returns http://addr + path.
func (d *DemoApp) URL(path string) string { return "http://" + d.addr + path }

// PID returns the process id.
func (d *DemoApp) PID() int { return d.cmd.Process.Pid }

// Control switches a knob (healthy, leak, gcstorm, heapgrowth) with POST /control/<knob>?on=...; params are
// the knob's extra query parameters.
func (d *DemoApp) Control(ctx context.Context, knob string, on bool, params url.Values) error {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("on", strconv.FormatBool(on))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL("/control/"+url.PathEscape(knob)+"?"+q.Encode()), nil)
	if err != nil {
		return fmt.Errorf("control request: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("demoapp control %s: %w", knob, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("demoapp control %s: HTTP %d: %s", knob, resp.StatusCode, body)
	}
	return nil
}

// Stop sends SIGTERM, waits up to 15 s, then kills the process group.
func (d *DemoApp) Stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
}

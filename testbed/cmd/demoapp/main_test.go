package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The end-to-end tests run the real binary. TestMain starts both builds (plain and with
// GOEXPERIMENT=goroutineleakprofile) at once so the slow experiment build (it recompiles the
// standard library the first time) overlaps with the other tests.
var (
	plainBuild *binaryBuild
	leakBuild  *binaryBuild
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demoapp-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating build dir: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	plainBuild = startBuild(ctx, filepath.Join(dir, "demoapp"), "")
	leakBuild = startBuild(ctx, filepath.Join(dir, "demoapp-goroutineleak"), "goroutineleakprofile")
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		cancel()
		plainBuild.wait()
		leakBuild.wait()
		_ = os.RemoveAll(dir)
	}))
}

// binaryBuild is a `go build` of this package running in the background.
type binaryBuild struct {
	path       string
	experiment string
	done       chan struct{}
	output     []byte
	err        error
}

func startBuild(ctx context.Context, path, experiment string) *binaryBuild {
	b := &binaryBuild{path: path, experiment: experiment, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, ".")
	cmd.Env = os.Environ()
	if experiment != "" {
		cmd.Env = append(cmd.Env, "GOEXPERIMENT="+experiment)
	}
	go func() {
		defer close(b.done)
		b.output, b.err = cmd.CombinedOutput()
	}()
	return b
}

func (b *binaryBuild) wait() { <-b.done }

// binary waits for the build and returns the binary's path. An unsupported experiment skips
// the test; any other build failure fails it.
func (b *binaryBuild) binary(t *testing.T) string {
	t.Helper()
	b.wait()
	if b.err == nil {
		return b.path
	}
	if b.experiment != "" && strings.Contains(string(b.output), "GOEXPERIMENT") {
		t.Skipf("toolchain does not support GOEXPERIMENT=%s: %s", b.experiment, b.output)
	}
	t.Fatalf("go build (GOEXPERIMENT=%q): %v\n%s", b.experiment, b.err, b.output)
	return ""
}

// Command gen renders the deployment files that embed the shipped collector configs (distro/config/*.yaml):
// the Kubernetes ConfigMaps, the OpenTelemetryCollector resource and the Helm values. Run it from the repository
// root after changing a shipped config:
//
//	go run ./deploy/gen          # rewrite the files that changed
//	go run ./deploy/gen -check   # exit 1 and name the stale files instead of writing
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/otelcol-ready/otelcol-ready/deploy/internal/render"
)

func main() {
	root := flag.String("root", ".", "repository root (the directory holding go.mod and distro/config)")
	check := flag.Bool("check", false, "do not write; exit 1 when a rendered file is missing or out of date")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/gen:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	if _, err := os.Stat(root + "/distro/config"); err != nil {
		return fmt.Errorf("%s is not the repository root (no distro/config): %w", root, err)
	}
	if check {
		stale, err := render.Stale(root)
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			return fmt.Errorf("out of date (run `go run ./deploy/gen`): %v", stale)
		}
		return nil
	}
	changed, err := render.Write(root)
	for _, p := range changed {
		fmt.Println("wrote", p)
	}
	return err
}

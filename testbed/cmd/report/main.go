// Command report prints the testbed results table (one row per scenario run) from the JSON rows the scenarios
// write into testbed/results. `make bench` runs the full scenarios, then this.
//
//	go run ./testbed/cmd/report [-dir testbed/results] [-mode full]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the JSON rows (default: $TESTBED_RESULTS_DIR, else testbed/results)")
	mode := fs.String("mode", "", "only rows of this mode (short or full); empty prints all")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: report takes flags only", fs.Args())
	}
	if *mode != "" && *mode != "short" && *mode != "full" {
		return fmt.Errorf("-mode %q: use short, full or leave it empty", *mode)
	}
	if *dir == "" {
		*dir = os.Getenv(testbed.EnvResultsDir)
	}
	if *dir == "" {
		p, err := testbed.RepoPath("testbed/results")
		if err != nil {
			return err
		}
		*dir = p
	}
	rows, err := testbed.ReadRows(*dir)
	if err != nil {
		return err
	}
	kept := rows[:0]
	for _, r := range rows {
		if *mode == "" || r.Mode == *mode {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return fmt.Errorf("no result rows in %s: run the scenarios first (TESTBED_FULL=1 go test ./testbed/scenarios/)", *dir)
	}
	_, err = io.WriteString(stdout, testbed.MarkdownTable(kept))
	return err
}

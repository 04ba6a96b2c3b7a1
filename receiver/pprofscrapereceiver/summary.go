package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// siteOf names the owner of a protobuf sample (see ownerOf). Within a Location, Line[0] is the innermost inlined
// function, so reading locations then lines in order walks the stack from the leaf.
func siteOf(s *profile.Sample, shape stackShape) site {
	frames := make([]frame, 0, len(s.Location))
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			frames = append(frames, frame{function: ln.Function.Name, file: ln.Function.Filename, line: ln.Line})
		}
	}
	return ownerOf(frames, shape)
}

// readProfile parses and validates a protobuf (gzipped or not) profile file.
func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("not a pprof profile: %w", err)
	}
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("invalid pprof profile: %w", err)
	}
	return p, nil
}

func sampleIndex(p *profile.Profile, preferred string) (int, error) {
	for i, st := range p.SampleType {
		if st.Type == preferred {
			return i, nil
		}
	}
	if preferred == "" && len(p.SampleType) > 0 {
		return len(p.SampleType) - 1, nil
	}
	return 0, fmt.Errorf("profile has no %q sample type", preferred)
}

// valuesBySite sums the chosen sample type per owner site.
func valuesBySite(p *profile.Profile, idx int, shape stackShape) map[site]int64 {
	out := map[site]int64{}
	for _, s := range p.Sample {
		out[siteOf(s, shape)] += s.Value[idx]
	}
	return out
}

// topEntries ranks sites by value; with positiveOnly, sites whose value did not grow are left out.
func topEntries(values map[site]int64, n int, positiveOnly bool) []pprofcaptureextension.SummaryEntry {
	entries := make([]pprofcaptureextension.SummaryEntry, 0, len(values))
	for s, v := range values {
		if v == 0 || (positiveOnly && v < 0) {
			continue
		}
		entries = append(entries, pprofcaptureextension.SummaryEntry{Function: s.function, File: s.file, Line: s.line, Entry: s.entry, Value: v})
	}
	sortEntries(entries)
	if len(entries) > n {
		entries = entries[:n]
	}
	return entries
}

func sortEntries(entries []pprofcaptureextension.SummaryEntry) {
	slices.SortFunc(entries, func(a, b pprofcaptureextension.SummaryEntry) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return strings.Compare(a.Function+a.File+a.Entry, b.Function+b.File+b.Entry)
	})
}

// profileSummary says how a protobuf capture of one kind is ranked.
type profileSummary struct {
	// sampleType is the sample type ranked; "" takes the profile's last (its default).
	sampleType string
	shape      stackShape
	// growthOnly keeps the sites whose value went up: delta profiles list shrinking stacks as negative values,
	// and only growth points at a leak.
	growthOnly bool
}

var profileSummaries = map[pprofcaptureextension.Kind]profileSummary{
	pprofcaptureextension.KindHeap:           {sampleType: "inuse_space", shape: sampleStacks},
	pprofcaptureextension.KindCPU:            {sampleType: "cpu", shape: sampleStacks},
	pprofcaptureextension.KindGoroutine:      {sampleType: "goroutine", shape: goroutineStacks},
	pprofcaptureextension.KindGoroutineDelta: {sampleType: "goroutine", shape: goroutineStacks, growthOnly: true},
	pprofcaptureextension.KindGoroutineLeak:  {sampleType: "goroutine", shape: goroutineStacks},
	// Ranked by bytes allocated during the window, not by the live heap: a GC storm's cause allocates garbage.
	pprofcaptureextension.KindAllocsDelta: {sampleType: "alloc_space", shape: sampleStacks, growthOnly: true},
	pprofcaptureextension.KindHeapDelta:   {sampleType: "inuse_space", shape: sampleStacks, growthOnly: true},
}

// summarizeProfile validates a protobuf profile and ranks its owner sites by the sample type that matters for the
// kind.
func summarizeProfile(path string, kind pprofcaptureextension.Kind, n int) (*profile.Profile, string, []pprofcaptureextension.SummaryEntry, error) {
	p, err := readProfile(path)
	if err != nil {
		return nil, "", nil, err
	}
	how := profileSummaries[kind]
	idx, err := sampleIndex(p, how.sampleType)
	if err != nil {
		return nil, "", nil, err
	}
	return p, p.SampleType[idx].Type, topEntries(valuesBySite(p, idx, how.shape), n, how.growthOnly), nil
}

// heapGrowth lists the allocation sites whose in-use bytes grew from before to after.
func heapGrowth(before, after *profile.Profile, n int) []pprofcaptureextension.SummaryEntry {
	bi, err1 := sampleIndex(before, "inuse_space")
	ai, err2 := sampleIndex(after, "inuse_space")
	if err1 != nil || err2 != nil {
		return nil
	}
	b, a := valuesBySite(before, bi, sampleStacks), valuesBySite(after, ai, sampleStacks)
	var entries []pprofcaptureextension.SummaryEntry
	for s, av := range a {
		bv := b[s]
		if av > bv {
			entries = append(entries, pprofcaptureextension.SummaryEntry{
				Function: s.function, File: s.file, Line: s.line, Entry: s.entry, Value: av - bv, Before: bv, After: av,
			})
		}
	}
	sortEntries(entries)
	if len(entries) > n {
		entries = entries[:n]
	}
	return entries
}

// summarizeGoroutineDump validates goroutine?debug=2 text and counts goroutines per owner site (see ownerOf). The
// dump omits runtime.goexit, so each goroutine's last frame is its entry function.
func summarizeGoroutineDump(r io.Reader, n int) ([]pprofcaptureextension.SummaryEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	counts := map[site]int64{}
	var (
		inGoroutine bool
		pendingFn   string
		frames      []frame
		goroutines  int
	)
	finish := func() {
		if inGoroutine {
			counts[ownerOf(frames, goroutineStacks)]++
			goroutines++
		}
		inGoroutine, pendingFn, frames = false, "", frames[:0]
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			finish()
			inGoroutine = true
		case line == "":
			finish()
		case !inGoroutine:
		case strings.HasPrefix(line, "\t"):
			// "\t/path/file.go:123 +0x1d" follows its function line.
			if pendingFn == "" {
				continue
			}
			loc := strings.TrimSpace(line)
			if i := strings.LastIndex(loc, " +0x"); i > 0 {
				loc = loc[:i]
			}
			file, lineNo := splitFileLine(loc)
			frames = append(frames, frame{function: pendingFn, file: file, line: lineNo})
			pendingFn = ""
		case strings.HasPrefix(line, "created by "), strings.HasPrefix(line, "..."):
			// The creator is not a frame of this goroutine; "...additional frames elided..." marks a cut stack.
			pendingFn = ""
		default:
			// "pkg.fn(args...)"
			fn := line
			if i := strings.LastIndex(fn, "("); i > 0 {
				fn = fn[:i]
			}
			pendingFn = fn
		}
	}
	finish()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if goroutines == 0 {
		return nil, errors.New("not a goroutine dump: no 'goroutine N [state]:' header")
	}
	return topEntries(counts, n, false), nil
}

// formatSummary renders entries for a log record: "owner file:line value", then "(started in entry)" when the
// goroutine was started with another function.
func formatSummary(entries []pprofcaptureextension.SummaryEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		loc := e.File
		if e.Line > 0 {
			loc += ":" + strconv.FormatInt(e.Line, 10)
		}
		started := ""
		if e.Entry != "" && e.Entry != e.Function {
			started = " (started in " + e.Entry + ")"
		}
		if e.Before != 0 || e.After != 0 {
			out = append(out, fmt.Sprintf("%s %s grew %d (%d -> %d)%s", e.Function, loc, e.Value, e.Before, e.After, started))
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %d%s", e.Function, loc, e.Value, started))
	}
	return out
}

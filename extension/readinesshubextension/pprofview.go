package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/driver"
	"github.com/google/pprof/profile"
)

// maxPprofViews bounds the captures whose pprof web interface is kept in memory (each holds its parsed profile).
const maxPprofViews = 4

// maxProfileBytes bounds the capture files the pprof view parses.
const maxProfileBytes = 64 << 20

// errNotProfile is returned for a capture pprof cannot read (e.g. a goroutine?debug=2 text dump).
var errNotProfile = errors.New("not a pprof profile")

// pprofViews serves the pprof web interface (flame graph, top, source, graph, peek) of a capture in-process, through
// github.com/google/pprof/driver: no `go tool pprof`. The interfaces of the last few captures opened are cached.
type pprofViews struct {
	// sourceDirs are the directories (symbolic links resolved) whose files the source view may show.
	sourceDirs []string

	mu      sync.Mutex
	entries []pprofEntry // most recently used last
}

// newPprofViews resolves the source directories an operator allowed; a directory that does not exist is an error.
func newPprofViews(sourceDirs []string) (*pprofViews, error) {
	v := &pprofViews{}
	for _, d := range sourceDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("page::source_directories: %w", err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("page::source_directories: %w", err)
		}
		v.sourceDirs = append(v.sourceDirs, real)
	}
	return v, nil
}

type pprofEntry struct {
	id       string
	handlers map[string]http.Handler
}

// handlers returns the pprof web handlers of the capture file at path, building them on first use.
func (v *pprofViews) handlers(id, path string) (map[string]http.Handler, error) {
	v.mu.Lock()
	for i, e := range v.entries {
		if e.id == id {
			v.entries = append(append(v.entries[:i:i], v.entries[i+1:]...), e)
			v.mu.Unlock()
			return e.handlers, nil
		}
	}
	v.mu.Unlock()
	h, err := buildPprofUI(path, v.sourceFile)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.entries = append(v.entries, pprofEntry{id: id, handlers: h})
	if len(v.entries) > maxPprofViews {
		v.entries = v.entries[len(v.entries)-maxPprofViews:]
	}
	return h, nil
}

// readProfile parses a capture file as a pprof profile.
func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read capture: %w", err)
	}
	if len(data) > maxProfileBytes {
		return nil, fmt.Errorf("capture is larger than %d bytes: download it instead", maxProfileBytes)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotProfile, err)
	}
	return p, nil
}

// sourceFile returns the file the source view may read for a function's file name: the resolved path when it lies
// in an allowed directory, else only its base name, which pprof cannot find (its source search path is empty). A
// profile comes from the scraped service, so its file names must not open files on the collector's machine.
func (v *pprofViews) sourceFile(name string) string {
	if filepath.IsAbs(name) {
		if real, err := filepath.EvalSymlinks(filepath.Clean(name)); err == nil {
			for _, dir := range v.sourceDirs {
				if rel, err := filepath.Rel(dir, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					return real
				}
			}
		}
	}
	return "(source not shown)/" + filepath.Base(name)
}

// buildPprofUI runs pprof's driver on one profile with a server hook that keeps its handlers instead of listening.
// Nothing of the driver touches the machine: the profile is handed over parsed, symbolization is off, object files
// are never opened (noObjTool), source files only through sourceFile.
func buildPprofUI(path string, sourceFile func(string) string) (map[string]http.Handler, error) {
	prof, err := readProfile(path)
	if err != nil {
		return nil, err
	}
	for _, fn := range prof.Function {
		if fn.Filename != "" {
			fn.Filename = sourceFile(fn.Filename)
		}
	}
	for _, m := range prof.Mapping {
		m.File = filepath.Base(m.File)
	}
	var handlers map[string]http.Handler
	err = driver.PProf(&driver.Options{
		// A port is named so that the driver does not probe for a free one; nothing listens on it.
		Flagset: newPprofFlags([]string{"-http=127.0.0.1:1", "-no_browser", "-symbolize=none", "-source_path=", "-trim_path=", "capture"}),
		Fetch:   profileFetcher{prof},
		Obj:     noObjTool{},
		UI:      quietUI{},
		HTTPServer: func(args *driver.HTTPServerArgs) error {
			handlers = args.Handlers
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	if handlers == nil {
		return nil, errors.New("pprof: the driver offered no web interface")
	}
	return handlers, nil
}

// profileFetcher hands the driver the profile already parsed; it never reads another source.
type profileFetcher struct{ p *profile.Profile }

func (f profileFetcher) Fetch(string, time.Duration, time.Duration) (*profile.Profile, string, error) {
	return f.p.Copy(), "", nil
}

// noObjTool opens no binary: the disassembly view says so instead of reading files a profile names.
type noObjTool struct{}

var errNoObj = errors.New("object files are not opened by the readiness page")

func (noObjTool) Open(string, uint64, uint64, uint64, string) (driver.ObjFile, error) {
	return nil, errNoObj
}
func (noObjTool) Disasm(string, uint64, uint64, bool) ([]driver.Inst, error) { return nil, errNoObj }

// quietUI drops the driver's console output.
type quietUI struct{}

func (quietUI) ReadLine(string) (string, error)     { return "", io.EOF }
func (quietUI) Print(...any)                        {}
func (quietUI) PrintErr(...any)                     {}
func (quietUI) IsTerminal() bool                    { return false }
func (quietUI) WantBrowser() bool                   { return false }
func (quietUI) SetAutoComplete(func(string) string) {}

// pprofFlags is the driver's flag set over a fixed argument list.
type pprofFlags struct {
	fs    *flag.FlagSet
	args  []string
	extra []string
}

func newPprofFlags(args []string) *pprofFlags {
	fs := flag.NewFlagSet("pprof", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &pprofFlags{fs: fs, args: args}
}

func (f *pprofFlags) Bool(n string, d bool, u string) *bool          { return f.fs.Bool(n, d, u) }
func (f *pprofFlags) Int(n string, d int, u string) *int             { return f.fs.Int(n, d, u) }
func (f *pprofFlags) Float64(n string, d float64, u string) *float64 { return f.fs.Float64(n, d, u) }
func (f *pprofFlags) String(n string, d string, u string) *string    { return f.fs.String(n, d, u) }

func (f *pprofFlags) StringList(n string, d string, u string) *[]*string {
	return &[]*string{f.fs.String(n, d, u)}
}

func (f *pprofFlags) ExtraUsage() string      { return strings.Join(f.extra, "\n") }
func (f *pprofFlags) AddExtraUsage(eu string) { f.extra = append(f.extra, eu) }
func (f *pprofFlags) Parse(usage func()) []string {
	if err := f.fs.Parse(f.args); err != nil {
		usage()
		return nil
	}
	return f.fs.Args()
}

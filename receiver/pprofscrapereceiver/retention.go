package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

type captureFile struct {
	path    string
	dir     string
	size    int64
	modTime time.Time
}

// latestCapture returns the newest kept capture of kind in a target's directory ("" when none). File names start
// with a UTC timestamp, so the greatest name is the newest.
func latestCapture(dir, kind string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	latest := ""
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), "-"+kind+".pb.gz") && e.Name() > latest {
			latest = e.Name()
		}
	}
	if latest == "" {
		return ""
	}
	return filepath.Join(dir, latest)
}

// enforceRetention evicts captures, oldest first: past max_age, then over the per-target budgets, then over the
// total budgets.
func (m *captureManager) enforceRetention() {
	m.diskMu.Lock()
	defer m.diskMu.Unlock()
	r := m.cfg.Retention
	var files []captureFile
	_ = filepath.WalkDir(m.cfg.Directory, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".partial-") {
			return nil //nolint:nilerr // unreadable parts of the tree are skipped, not fatal
		}
		info, err := d.Info()
		if err != nil {
			return nil //nolint:nilerr
		}
		files = append(files, captureFile{path: path, dir: filepath.Dir(path), size: info.Size(), modTime: info.ModTime()})
		return nil
	})
	slices.SortFunc(files, func(a, b captureFile) int {
		if c := a.modTime.Compare(b.modTime); c != 0 {
			return c
		}
		return strings.Compare(filepath.Base(a.path), filepath.Base(b.path))
	})

	evicted := map[string]bool{}
	evict := func(f captureFile, why string) {
		if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
			m.logger.Warn("Could not evict capture", zap.String("file.path", f.path), zap.Error(err))
			return
		}
		evicted[f.path] = true
		m.logger.Debug("Capture evicted", zap.String("file.path", f.path), zap.String("why", why))
	}

	cutoff := m.now().Add(-r.MaxAge)
	for _, f := range files {
		if f.modTime.Before(cutoff) {
			evict(f, "max_age")
		}
	}

	perDirCount, perDirBytes := map[string]int{}, map[string]int64{}
	var totalCount int
	var totalBytes int64
	for _, f := range files {
		if evicted[f.path] {
			continue
		}
		perDirCount[f.dir]++
		perDirBytes[f.dir] += f.size
		totalCount++
		totalBytes += f.size
	}
	for _, f := range files {
		if evicted[f.path] || (perDirCount[f.dir] <= r.MaxFilesPerTarget && perDirBytes[f.dir] <= r.MaxBytesPerTarget) {
			continue
		}
		evict(f, "per-target budget")
		if evicted[f.path] {
			perDirCount[f.dir]--
			perDirBytes[f.dir] -= f.size
			totalCount--
			totalBytes -= f.size
		}
	}
	for _, f := range files {
		if totalCount <= r.MaxFiles && totalBytes <= r.MaxBytes {
			break
		}
		if evicted[f.path] {
			continue
		}
		evict(f, "total budget")
		if evicted[f.path] {
			totalCount--
			totalBytes -= f.size
		}
	}
}

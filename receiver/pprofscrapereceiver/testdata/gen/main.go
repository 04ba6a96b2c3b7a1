// Command gen writes the parser fixtures in ../fixtures from a real Go program: this one. It parks goroutines in
// known functions, keeps some heap alive and saves what net/http/pprof and expvar serve for it.
//
//	cd receiver/pprofscrapereceiver && go run ./testdata/gen
package main

import (
	_ "expvar" // registers /debug/vars with memstats
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof" // registers /debug/pprof/
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

var retained [][]byte

//go:noinline
func parkedWorker(wg *sync.WaitGroup, block chan struct{}) {
	wg.Done()
	<-block
}

//go:noinline
func otherParkedWorker(wg *sync.WaitGroup, block chan struct{}) {
	wg.Done()
	<-block
}

//go:noinline
func retainHeap(n int) {
	for range n {
		retained = append(retained, make([]byte, 64<<10))
	}
}

func main() {
	out := "testdata/fixtures"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	block := make(chan struct{})
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(2)
		go parkedWorker(&wg, block)
		go otherParkedWorker(&wg, block)
	}
	wg.Wait()
	retainHeap(64)
	runtime.GC()

	pages := map[string]string{
		"goroutine_debug1.txt":    "/debug/pprof/goroutine?debug=1",
		"goroutine_debug2.txt":    "/debug/pprof/goroutine?debug=2",
		"goroutine.pb.gz":         "/debug/pprof/goroutine",
		"heap_debug1.txt":         "/debug/pprof/heap?debug=1",
		"heap.pb.gz":              "/debug/pprof/heap",
		"threadcreate_debug1.txt": "/debug/pprof/threadcreate?debug=1",
		"mutex_debug1.txt":        "/debug/pprof/mutex?debug=1",
		"block_debug1.txt":        "/debug/pprof/block?debug=1",
		"vars.json":               "/debug/vars",
		"index.html":              "/debug/pprof/",
	}
	for name, path := range pages {
		rec := httptest.NewRecorder()
		http.DefaultServeMux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, http.NoBody))
		if rec.Code != http.StatusOK {
			log.Fatalf("%s: HTTP %d", path, rec.Code)
		}
		if err := os.WriteFile(filepath.Join(out, name), rec.Body.Bytes(), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	close(block)
	fmt.Println("fixtures written to", out, "by", runtime.Version())
}

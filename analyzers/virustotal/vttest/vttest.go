// Package vttest is a local HTTP server that answers like the VirusTotal
// API v3 does, for testing clients of it (vt-go, the virustotal analyzer,
// mailsift scan) where VirusTotal itself cannot be reached.
package vttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

// Key is the API key the server accepts; any other gets 401
// WrongCredentialsError.
const Key = "test-key-0123456789"

// Server answers like the VirusTotal v3 API for the files it knows: GET
// /api/v3/files/{id} with a file object, or the API's error objects (404
// NotFoundError, 429 QuotaExceededError, 401 WrongCredentialsError); POST
// /api/v3/files takes an upload and returns an analysis object.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests int

	// Fields to read or change under Set.
	Known   map[string]int // sha256 → engines that detect it
	Gets    map[string]int // sha256 → lookups
	Uploads []string       // file names uploaded
	Paths   []string       // "METHOD /path" of every request
	Quota   bool           // answer 429 QuotaExceededError to everything
	Broken  bool           // answer 502 with an HTML page, as a broken gateway does
	Delay   time.Duration  // before answering
}

// CorpusDetections are the files of the labeled malware corpus the server
// knows (analyzers/attachments/testdata/corpus): EICAR and two others.
func CorpusDetections() map[string]int {
	return map[string]int{
		archivetest.EICARSHA256: 60,
		"6ca38002c9c59b0fa3a48ed2a64854b8e32407d44e1e79ef4099112235638a5b": 12, // 14-virustotal-known-bad
		"3fbd23b4d24c4f09629b467b4366a4fe98b7504a6147360354b0718f959853d4": 2,  // 15-virustotal-few-engines
	}
}

// New starts a server that knows the given files (sha256 → engines that
// detect them); it stops when the test ends.
func New(tb testing.TB, known map[string]int) *Server {
	f := &Server{Known: known, Gets: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, name, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]string{"code": name, "message": msg}})
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.Paths = append(f.Paths, r.Method+" "+r.URL.Path)
	quota, broken, delay := f.Quota, f.Broken, f.Delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Header.Get("X-Apikey") != Key {
		apiError(w, http.StatusUnauthorized, "WrongCredentialsError", "Wrong API key")
		return
	}
	if broken {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	if quota {
		apiError(w, http.StatusTooManyRequests, "QuotaExceededError", "Quota exceeded")
		return
	}
	prefix := "/api/v3/files"
	i := strings.Index(r.URL.Path, prefix)
	if i < 0 {
		apiError(w, http.StatusNotFound, "NotFoundError", "no such endpoint")
		return
	}
	rest := r.URL.Path[i+len(prefix):]
	switch {
	case r.Method == http.MethodPost && rest == "":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			apiError(w, http.StatusBadRequest, "BadRequestError", err.Error())
			return
		}
		fh := r.MultipartForm.File["file"]
		if len(fh) != 1 {
			apiError(w, http.StatusBadRequest, "BadRequestError", "no file")
			return
		}
		f.mu.Lock()
		f.Uploads = append(f.Uploads, fh[0].Filename)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"type": "analysis", "id": "an-1"}})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/"):
		id := strings.ToLower(rest[1:])
		f.mu.Lock()
		f.Gets[id]++
		n, ok := f.Known[id]
		f.mu.Unlock()
		if !ok {
			apiError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("File %q not found", id))
			return
		}
		results := map[string]any{}
		names := []string{"EICAR-Test-File", "Eicar-Signature", "Test.File.EICAR"}
		for e := range 70 {
			r := map[string]any{"category": "undetected", "engine_name": fmt.Sprintf("engine-%02d", e), "result": nil}
			if e < n {
				r["category"] = "malicious"
				r["result"] = names[e%3]
				if e%3 == 2 && e > 10 {
					r["result"] = "Other.Name"
				}
			}
			results[fmt.Sprintf("engine-%02d", e)] = r
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
			"type": "file", "id": id,
			"attributes": map[string]any{
				"last_analysis_stats":   map[string]int{"malicious": n, "suspicious": 0, "undetected": 70 - n, "harmless": 0},
				"last_analysis_results": results,
				"meaningful_name":       "sample",
			},
		}})
	default:
		apiError(w, http.StatusNotFound, "NotFoundError", "no such endpoint")
	}
}

// Count is the number of requests served.
func (f *Server) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Set changes or reads the server's fields safely.
func (f *Server) Set(fn func(*Server)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

package virustotal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
)

const testKey = "test-key-0123456789"

// fakeVT answers like the VirusTotal v3 API for the files it knows: GET
// /api/v3/files/{id} with a file object, or the API's error objects (404
// NotFoundError, 429 QuotaExceededError, 401 WrongCredentialsError); POST
// /api/v3/files takes an upload and returns an analysis object.
type fakeVT struct {
	mu       sync.Mutex
	known    map[string]int // sha256 → engines that detect it
	gets     map[string]int // sha256 → lookups
	uploads  []string       // file names uploaded
	quota    bool           // answer 429 to everything
	broken   bool           // answer 502 with an HTML page
	delay    time.Duration
	paths    []string
	srv      *httptest.Server
	requests int
}

// corpusDetections are what the fake knows; see the corpus README.
func corpusDetections() map[string]int {
	return map[string]int{
		archivetest.EICARSHA256: 60,
		"6ca38002c9c59b0fa3a48ed2a64854b8e32407d44e1e79ef4099112235638a5b": 12, // 14-virustotal-known-bad
		"3fbd23b4d24c4f09629b467b4366a4fe98b7504a6147360354b0718f959853d4": 2,  // 15-virustotal-few-engines
	}
}

func newFakeVT(t *testing.T) *fakeVT {
	f := &fakeVT{known: corpusDetections(), gets: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
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

func (f *fakeVT) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	quota, broken, delay := f.quota, f.broken, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Header.Get("X-Apikey") != testKey {
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
		f.uploads = append(f.uploads, fh[0].Filename)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"type": "analysis", "id": "an-1"}})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/"):
		id := strings.ToLower(rest[1:])
		f.mu.Lock()
		f.gets[id]++
		n, ok := f.known[id]
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

func (f *fakeVT) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeVT) set(fn func(*fakeVT)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// clock is a settable time shared by analyzers and the memory state.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// worker builds an analyzer as one worker process would, attached to the
// shared state.
func worker(t *testing.T, f *fakeVT, st analyzers.State, clk *clock, edit func(*Config)) *Analyzer {
	t.Helper()
	t.Setenv("MAILSIFT_TEST_VT_KEY", testKey)
	cfg := DefaultConfig()
	cfg.APIKeyEnv = "MAILSIFT_TEST_VT_KEY"
	cfg.URL = f.srv.URL
	cfg.Timeout = 5 * time.Second
	cfg.RequestsPerMinute, cfg.RequestsPerDay = 0, 0
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		a.now = clk.now
	}
	if st != nil {
		if err := a.Attach(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func part(path, name string, content []byte) analyzers.Part {
	sum := sha256.Sum256(content)
	return analyzers.Part{Path: path, Filename: name, ContentType: "application/octet-stream", Attachment: true,
		Content: content, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}
}

func message(parts ...analyzers.Part) *analyzers.Message {
	return &analyzers.Message{Parts: append([]analyzers.Part{{Path: "1", ContentType: "text/plain"}}, parts...)}
}

func symbols(r analyzers.Result) map[string][]string {
	out := map[string][]string{}
	for _, s := range r.Symbols {
		out[s.Name] = s.Options
	}
	return out
}

func data(t *testing.T, r analyzers.Result) Data {
	t.Helper()
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	return d
}

func run(t *testing.T, a *Analyzer, m *analyzers.Message) analyzers.Result {
	t.Helper()
	r, err := analyzers.Run(context.Background(), a, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookup(t *testing.T) {
	e := archivetest.EICAR()
	few := []byte("%PDF-1.4\n% mailsift corpus: a file two engines of the test VirusTotal server flag\n%%EOF\n")
	tests := []struct {
		name     string
		m        *analyzers.Message
		edit     func(*Config)
		verdict  analyzers.Verdict
		symbols  map[string][]string
		score    float64
		requests int
	}{
		{name: "no attachments", m: message(), verdict: analyzers.VerdictClean, symbols: map[string][]string{}},
		{
			name: "eicar", m: message(part("2", "eicar.com", e)), verdict: analyzers.VerdictMalicious, score: 20, requests: 1,
			symbols: map[string][]string{Malicious: {"eicar.com: 60/70 engines: EICAR-Test-File, Eicar-Signature, Other.Name"}},
		},
		{
			name: "unknown file", m: message(part("2", "notes.txt", []byte("never seen"))), verdict: analyzers.VerdictClean, requests: 1,
			symbols: map[string][]string{Unknown: {"notes.txt"}},
		},
		{
			name: "below minimum_engines", m: message(part("2", "quote.pdf", few)), verdict: analyzers.VerdictClean, requests: 1,
			symbols: map[string][]string{},
		},
		{
			name: "minimum_engines lowered", m: message(part("2", "quote.pdf", few)), edit: func(c *Config) { c.MinimumEngines = 2 },
			verdict: analyzers.VerdictSuspicious, score: 20 * 2.0 / 7, requests: 1,
			symbols: map[string][]string{Malicious: {"quote.pdf: 2/70 engines: EICAR-Test-File, Eicar-Signature"}},
		},
		{
			name: "eicar inside a zip", m: message(part("2", "docs.zip", archivetest.Zip(archivetest.Entry{Name: "e.txt", Content: e}))),
			verdict: analyzers.VerdictMalicious, score: 20, requests: 2,
			symbols: map[string][]string{Unknown: {"docs.zip"}, Malicious: {"docs.zip!/e.txt: 60/70 engines: EICAR-Test-File, Eicar-Signature, Other.Name"}},
		},
		{
			name: "archive members off", m: message(part("2", "docs.zip", archivetest.Zip(archivetest.Entry{Name: "e.txt", Content: e}))),
			edit: func(c *Config) { c.ArchiveMembers = false }, verdict: analyzers.VerdictClean, requests: 1,
			symbols: map[string][]string{Unknown: {"docs.zip"}},
		},
		{
			name: "same content twice is asked once", m: message(part("2", "a.com", e), part("3", "b.com", e)),
			verdict: analyzers.VerdictMalicious, score: 20, requests: 1,
			symbols: map[string][]string{Malicious: {"a.com: 60/70 engines: EICAR-Test-File, Eicar-Signature, Other.Name"}},
		},
		{
			name: "max_files", m: message(part("2", "a.txt", []byte("a")), part("3", "b.txt", []byte("b")), part("4", "c.txt", []byte("c"))),
			edit: func(c *Config) { c.MaxFiles = 2 }, verdict: analyzers.VerdictClean, requests: 2,
			symbols: map[string][]string{Unknown: {"a.txt", "b.txt"}, NotChecked: {"c.txt"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVT(t)
			a := worker(t, f, analyzers.NewMemoryState(), nil, tt.edit)
			r := run(t, a, tt.m)
			if r.Status != analyzers.StatusOK || r.Verdict != tt.verdict {
				t.Errorf("status %s verdict %s (%s), want ok %s", r.Status, r.Verdict, r.Error, tt.verdict)
			}
			got := symbols(r)
			if len(got) != len(tt.symbols) {
				t.Errorf("symbols %q, want %q", got, tt.symbols)
			}
			for k, v := range tt.symbols {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if fmt.Sprintf("%.3f", r.Score) != fmt.Sprintf("%.3f", tt.score) {
				t.Errorf("score %v, want %v", r.Score, tt.score)
			}
			if f.count() != tt.requests || data(t, r).Requests != tt.requests {
				t.Errorf("%d requests (data says %d), want %d", f.count(), data(t, r).Requests, tt.requests)
			}
		})
	}
}

// TestSharedCache plays two worker processes sharing one state: a hash is
// asked once, and each kind of answer expires after its own TTL.
func TestSharedCache(t *testing.T) {
	f := newFakeVT(t)
	st := analyzers.NewMemoryState()
	clk := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	st.SetClock(clk.now)
	w1 := worker(t, f, st, clk, nil)
	w2 := worker(t, f, st, clk, nil)
	e := archivetest.EICAR()
	clean := []byte("%PDF-1.4\n% mailsift corpus: a file two engines of the test VirusTotal server flag\n%%EOF\n")
	unknown := []byte("never seen")
	m := message(part("2", "eicar.com", e), part("3", "quote.pdf", clean), part("4", "notes.txt", unknown))

	run(t, w1, m)
	if f.count() != 3 {
		t.Fatalf("first worker: %d requests, want 3", f.count())
	}
	r := run(t, w2, m)
	if f.count() != 3 || r.Verdict != analyzers.VerdictMalicious {
		t.Fatalf("second worker: %d requests in all, verdict %s; want the cache to answer", f.count(), r.Verdict)
	}
	for _, fr := range data(t, r).Files {
		if !fr.Cached {
			t.Errorf("%v not from the cache", fr.Files)
		}
	}

	steps := []struct {
		after time.Duration
		asked []string // hashes asked again
	}{
		{59 * time.Minute, nil},
		{2 * time.Minute, []string{sha(unknown)}},                        // unknown: 1h
		{23 * time.Hour, []string{sha(clean), sha(unknown)}},             // clean: 24h (unknown again after 1h)
		{6 * 24 * time.Hour, []string{sha(e), sha(clean), sha(unknown)}}, // malicious: 7 days
	}
	for _, s := range steps {
		clk.add(s.after)
		before := map[string]int{}
		f.set(func(f *fakeVT) { copyCounts(before, f.gets) })
		run(t, w2, m)
		var asked []string
		f.set(func(f *fakeVT) {
			for h, n := range f.gets {
				if n > before[h] {
					asked = append(asked, h)
				}
			}
		})
		slices.Sort(asked)
		want := slices.Clone(s.asked)
		slices.Sort(want)
		if !slices.Equal(asked, want) {
			t.Errorf("after another %v: asked %q, want %q", s.after, asked, want)
		}
	}
}

func copyCounts(dst, src map[string]int) {
	for k, v := range src {
		dst[k] = v
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSharedRateLimit plays two workers sharing the public API's budget:
// once it is spent the result is deferred, for both, until the window
// turns.
func TestSharedRateLimit(t *testing.T) {
	f := newFakeVT(t)
	st := analyzers.NewMemoryState()
	clk := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	st.SetClock(clk.now)
	limits := func(c *Config) { c.RequestsPerMinute, c.RequestsPerDay = 4, 7 }
	w1 := worker(t, f, st, clk, limits)
	w2 := worker(t, f, st, clk, limits)
	var parts []analyzers.Part
	for i := range 6 {
		parts = append(parts, part(fmt.Sprint(i+2), fmt.Sprintf("f%d.txt", i), []byte(fmt.Sprint("file ", i))))
	}
	m := message(parts...)

	r := run(t, w1, m)
	if r.Status != analyzers.StatusDeferred || r.Verdict != analyzers.VerdictUnknown || f.count() != 4 {
		t.Fatalf("worker 1: status %s verdict %s after %d requests; want deferred after 4", r.Status, r.Verdict, f.count())
	}
	if !strings.Contains(r.Error, "4 of 6 files") {
		t.Errorf("error %q", r.Error)
	}
	other := message(part("2", "other.txt", []byte("other")))
	if r := run(t, w2, other); r.Status != analyzers.StatusDeferred || f.count() != 4 {
		t.Fatalf("worker 2 in the same minute: status %s, %d requests; want deferred without asking", r.Status, f.count())
	}

	clk.add(time.Minute)
	if r := run(t, w2, m); r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean || f.count() != 6 {
		t.Fatalf("next minute: status %s verdict %s, %d requests; want ok after 2 more", r.Status, r.Verdict, f.count())
	}
	// 6 of the day's 7 are spent: one more, then the day is over.
	clk.add(time.Minute)
	if r := run(t, w1, other); r.Status != analyzers.StatusOK || f.count() != 7 {
		t.Fatalf("7th request of the day: status %s, %d requests", r.Status, f.count())
	}
	clk.add(time.Minute)
	if r := run(t, w1, message(part("2", "late.txt", []byte("late")))); r.Status != analyzers.StatusDeferred || f.count() != 7 {
		t.Fatalf("8th request of the day: status %s, %d requests; want deferred", r.Status, f.count())
	}
	clk.add(24 * time.Hour)
	if r := run(t, w1, message(part("2", "late.txt", []byte("late")))); r.Status != analyzers.StatusOK || f.count() != 8 {
		t.Fatalf("next day: status %s, %d requests", r.Status, f.count())
	}
}

// TestConcurrentBudget races many goroutines of two workers for a budget
// of 4: exactly 4 requests reach the API.
func TestConcurrentBudget(t *testing.T) {
	f := newFakeVT(t)
	st := analyzers.NewMemoryState()
	limits := func(c *Config) { c.RequestsPerMinute = 4 }
	ws := []*Analyzer{worker(t, f, st, nil, limits), worker(t, f, st, nil, limits)}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			analyzers.Run(context.Background(), ws[i%2], message(part("2", "x", []byte(fmt.Sprint("race ", i)))))
		}()
	}
	wg.Wait()
	// The window may turn during the test; allow a second one.
	if n := f.count(); n != 4 && n != 8 {
		t.Errorf("%d requests reached the API with a budget of 4 a minute", n)
	}
}

func TestAPIErrors(t *testing.T) {
	m := message(part("2", "eicar.com", archivetest.EICAR()))

	t.Run("429 defers and closes the minute for every worker", func(t *testing.T) {
		f := newFakeVT(t)
		f.quota = true
		st := analyzers.NewMemoryState()
		limits := func(c *Config) { c.RequestsPerMinute = 4 }
		r := run(t, worker(t, f, st, nil, limits), m)
		if r.Status != analyzers.StatusDeferred || r.Verdict != analyzers.VerdictUnknown {
			t.Errorf("status %s verdict %s, want deferred unknown", r.Status, r.Verdict)
		}
		f.set(func(f *fakeVT) { f.quota = false })
		r = run(t, worker(t, f, st, nil, limits), m)
		if r.Status != analyzers.StatusDeferred || f.count() != 1 {
			t.Errorf("second worker: status %s after %d requests; want deferred without asking", r.Status, f.count())
		}
	})
	t.Run("401 is an error result, not retried", func(t *testing.T) {
		f := newFakeVT(t)
		a := worker(t, f, analyzers.NewMemoryState(), nil, nil)
		a.key = "wrong"
		r, err := a.Analyze(context.Background(), m)
		if err != nil || r.Status != analyzers.StatusError || r.Verdict != analyzers.VerdictUnknown || !strings.Contains(r.Error, "WrongCredentialsError") {
			t.Errorf("result %s/%s %q, err %v; want an error result naming the refusal", r.Status, r.Verdict, r.Error, err)
		}
		if strings.Contains(r.Error, "wrong") || strings.Contains(string(r.Data), "wrong") {
			t.Errorf("the key leaked into the result: %q", r.Error)
		}
	})
	t.Run("a gateway error is retried later", func(t *testing.T) {
		f := newFakeVT(t)
		f.broken = true
		_, err := worker(t, f, analyzers.NewMemoryState(), nil, nil).Analyze(context.Background(), m)
		if err == nil || !strings.Contains(err.Error(), "eicar.com") {
			t.Errorf("err %v, want one naming the file", err)
		}
		res := analyzers.RunAll(context.Background(), []analyzers.Analyzer{worker(t, f, analyzers.NewMemoryState(), nil, nil)}, m, 5*time.Second)[0]
		if res.Status != analyzers.StatusError || res.Verdict != analyzers.VerdictUnknown {
			t.Errorf("RunAll: %s/%s, want error/unknown", res.Status, res.Verdict)
		}
	})
	t.Run("VirusTotal down", func(t *testing.T) {
		f := newFakeVT(t)
		a := worker(t, f, analyzers.NewMemoryState(), nil, nil)
		f.srv.Close()
		if _, err := a.Analyze(context.Background(), m); err == nil {
			t.Error("no error with the server gone")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFakeVT(t)
		f.delay = 2 * time.Second
		a := worker(t, f, analyzers.NewMemoryState(), nil, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		start := time.Now()
		_, err := a.Analyze(context.Background(), m)
		if err == nil || time.Since(start) > time.Second {
			t.Errorf("err %v after %v, want a timeout after 200ms", err, time.Since(start))
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f := newFakeVT(t)
		f.delay = 2 * time.Second
		a := worker(t, f, analyzers.NewMemoryState(), nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := a.Analyze(ctx, m)
		if err == nil || time.Since(start) > time.Second {
			t.Errorf("err %v after %v, want the request cut by the cancel", err, time.Since(start))
		}
	})
}

func TestNoAPIKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.APIKeyEnv = "MAILSIFT_TEST_VT_KEY_UNSET"
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, a, message(part("2", "a.txt", []byte("a"))))
	if r.Status != analyzers.StatusSkipped || r.Verdict != analyzers.VerdictUnknown || !strings.Contains(r.Error, "MAILSIFT_TEST_VT_KEY_UNSET") {
		t.Errorf("%s/%s %q, want skipped naming the variable", r.Status, r.Verdict, r.Error)
	}
}

func TestUpload(t *testing.T) {
	m := message(part("2", "contract.pdf", []byte("%PDF-1.4 unknown to VirusTotal")))
	f := newFakeVT(t)
	run(t, worker(t, f, analyzers.NewMemoryState(), nil, nil), m)
	if len(f.uploads) != 0 {
		t.Fatalf("uploaded %v with upload off", f.uploads)
	}
	f2 := newFakeVT(t)
	r := run(t, worker(t, f2, analyzers.NewMemoryState(), nil, func(c *Config) { c.Upload = true }), m)
	if !slices.Equal(f2.uploads, []string{"contract.pdf"}) || !slices.Equal(symbols(r)[Uploaded], []string{"contract.pdf"}) {
		t.Errorf("uploads %v symbols %v", f2.uploads, r.Symbols)
	}
	f3 := newFakeVT(t)
	run(t, worker(t, f3, analyzers.NewMemoryState(), nil, func(c *Config) { c.Upload, c.UploadMaxSize = true, 10 }), m)
	if len(f3.uploads) != 0 {
		t.Errorf("uploaded a file over upload_max_size")
	}
}

func TestURLWithPath(t *testing.T) {
	f := newFakeVT(t)
	a := worker(t, f, analyzers.NewMemoryState(), nil, func(c *Config) { c.URL = f.srv.URL + "/proxy/vt/" })
	run(t, a, message(part("2", "a.txt", []byte("a"))))
	if len(f.paths) != 1 || !strings.HasPrefix(f.paths[0], "GET /proxy/vt/api/v3/files/") {
		t.Errorf("requests %q", f.paths)
	}
}

func TestConfig(t *testing.T) {
	bad := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"engines", func(c *Config) { c.MinimumEngines, c.FullScoreEngines = 5, 3 }, "full_score_engines"},
		{"negative budget", func(c *Config) { c.RequestsPerMinute = -1 }, "requests_per_minute"},
		{"ttl", func(c *Config) { c.CacheCleanTTL = 0 }, "TTL"},
		{"url", func(c *Config) { c.URL = "ftp://x" }, "url"},
		{"scores", func(c *Config) { c.Scores = map[string]float64{"NOPE": 1} }, "NOPE"},
		{"both secrets", func(c *Config) { c.APIKeyFile = "/x" }, ""},
	}
	for _, tt := range bad {
		cfg := DefaultConfig()
		tt.edit(&cfg)
		_, err := New(cfg)
		if tt.want == "" {
			// Secrets: the result says skipped, the build succeeds.
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	reg, ok := analyzers.Lookup(Name)
	if !ok || !reg.Security || !reg.Network {
		t.Errorf("registration %+v", reg)
	}
	if _, err := analyzers.New(Name, analyzers.NoOptions{}); err != nil {
		t.Error(err)
	}
	var _ analyzers.Stateful = (*Analyzer)(nil)
}

// TestCorpus checks the virustotal column of the labeled corpus.
func TestCorpus(t *testing.T) {
	dir := "../attachments/testdata/corpus"
	b, err := os.ReadFile(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := slices.Index(strings.Split(strings.TrimPrefix(lines[0], "# "), "\t"), Name)
	f := newFakeVT(t)
	a := worker(t, f, analyzers.NewMemoryState(), nil, nil)
	for _, l := range lines[1:] {
		fields := strings.Split(l, "\t")
		raw, err := os.ReadFile(filepath.Join(dir, fields[0]))
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := run(t, a, m)
		if r.Verdict != analyzers.Verdict(fields[col]) {
			t.Errorf("%s: verdict %s (%v), want %s", fields[0], r.Verdict, r.Symbols, fields[col])
		}
	}
}

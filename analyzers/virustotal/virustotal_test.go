package virustotal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/archive/archivetest"
	"github.com/mailsift/mailsift/analyzers/virustotal/vttest"
)

const testKey = vttest.Key

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
func worker(t *testing.T, f *vttest.Server, st analyzers.State, clk *clock, edit func(*Config)) *Analyzer {
	t.Helper()
	t.Setenv("MAILSIFT_TEST_VT_KEY", testKey)
	cfg := DefaultConfig()
	cfg.APIKeyEnv = "MAILSIFT_TEST_VT_KEY"
	cfg.URL = f.URL
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
			f := vttest.New(t, vttest.CorpusDetections())
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
			if f.Count() != tt.requests || data(t, r).Requests != tt.requests {
				t.Errorf("%d requests (data says %d), want %d", f.Count(), data(t, r).Requests, tt.requests)
			}
		})
	}
}

// TestSharedCache plays two worker processes sharing one state: a hash is
// asked once, and each kind of answer expires after its own TTL.
func TestSharedCache(t *testing.T) {
	f := vttest.New(t, vttest.CorpusDetections())
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
	if f.Count() != 3 {
		t.Fatalf("first worker: %d requests, want 3", f.Count())
	}
	r := run(t, w2, m)
	if f.Count() != 3 || r.Verdict != analyzers.VerdictMalicious {
		t.Fatalf("second worker: %d requests in all, verdict %s; want the cache to answer", f.Count(), r.Verdict)
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
		f.Set(func(f *vttest.Server) { copyCounts(before, f.Gets) })
		run(t, w2, m)
		var asked []string
		f.Set(func(f *vttest.Server) {
			for h, n := range f.Gets {
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
	f := vttest.New(t, vttest.CorpusDetections())
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
	if r.Status != analyzers.StatusDeferred || r.Verdict != analyzers.VerdictUnknown || f.Count() != 4 {
		t.Fatalf("worker 1: status %s verdict %s after %d requests; want deferred after 4", r.Status, r.Verdict, f.Count())
	}
	if !strings.Contains(r.Error, "4 of 6 files") {
		t.Errorf("error %q", r.Error)
	}
	other := message(part("2", "other.txt", []byte("other")))
	if r := run(t, w2, other); r.Status != analyzers.StatusDeferred || f.Count() != 4 {
		t.Fatalf("worker 2 in the same minute: status %s, %d requests; want deferred without asking", r.Status, f.Count())
	}

	clk.add(time.Minute)
	if r := run(t, w2, m); r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean || f.Count() != 6 {
		t.Fatalf("next minute: status %s verdict %s, %d requests; want ok after 2 more", r.Status, r.Verdict, f.Count())
	}
	// 6 of the day's 7 are spent: one more, then the day is over.
	clk.add(time.Minute)
	if r := run(t, w1, other); r.Status != analyzers.StatusOK || f.Count() != 7 {
		t.Fatalf("7th request of the day: status %s, %d requests", r.Status, f.Count())
	}
	clk.add(time.Minute)
	if r := run(t, w1, message(part("2", "late.txt", []byte("late")))); r.Status != analyzers.StatusDeferred || f.Count() != 7 {
		t.Fatalf("8th request of the day: status %s, %d requests; want deferred", r.Status, f.Count())
	}
	clk.add(24 * time.Hour)
	if r := run(t, w1, message(part("2", "late.txt", []byte("late")))); r.Status != analyzers.StatusOK || f.Count() != 8 {
		t.Fatalf("next day: status %s, %d requests", r.Status, f.Count())
	}
}

// TestConcurrentBudget races many goroutines of two workers for a budget
// of 4: exactly 4 requests reach the API.
func TestConcurrentBudget(t *testing.T) {
	f := vttest.New(t, vttest.CorpusDetections())
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
	if n := f.Count(); n != 4 && n != 8 {
		t.Errorf("%d requests reached the API with a budget of 4 a minute", n)
	}
}

func TestAPIErrors(t *testing.T) {
	m := message(part("2", "eicar.com", archivetest.EICAR()))

	t.Run("429 defers and closes the minute for every worker", func(t *testing.T) {
		f := vttest.New(t, vttest.CorpusDetections())
		f.Quota = true
		st := analyzers.NewMemoryState()
		limits := func(c *Config) { c.RequestsPerMinute = 4 }
		r := run(t, worker(t, f, st, nil, limits), m)
		if r.Status != analyzers.StatusDeferred || r.Verdict != analyzers.VerdictUnknown {
			t.Errorf("status %s verdict %s, want deferred unknown", r.Status, r.Verdict)
		}
		f.Set(func(f *vttest.Server) { f.Quota = false })
		r = run(t, worker(t, f, st, nil, limits), m)
		if r.Status != analyzers.StatusDeferred || f.Count() != 1 {
			t.Errorf("second worker: status %s after %d requests; want deferred without asking", r.Status, f.Count())
		}
	})
	t.Run("401 is an error result, not retried", func(t *testing.T) {
		f := vttest.New(t, vttest.CorpusDetections())
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
		f := vttest.New(t, vttest.CorpusDetections())
		f.Broken = true
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
		f := vttest.New(t, vttest.CorpusDetections())
		a := worker(t, f, analyzers.NewMemoryState(), nil, nil)
		f.Close()
		if _, err := a.Analyze(context.Background(), m); err == nil {
			t.Error("no error with the server gone")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := vttest.New(t, vttest.CorpusDetections())
		f.Delay = 2 * time.Second
		a := worker(t, f, analyzers.NewMemoryState(), nil, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		start := time.Now()
		_, err := a.Analyze(context.Background(), m)
		if err == nil || time.Since(start) > time.Second {
			t.Errorf("err %v after %v, want a timeout after 200ms", err, time.Since(start))
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f := vttest.New(t, vttest.CorpusDetections())
		f.Delay = 2 * time.Second
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
	f := vttest.New(t, vttest.CorpusDetections())
	run(t, worker(t, f, analyzers.NewMemoryState(), nil, nil), m)
	if len(f.Uploads) != 0 {
		t.Fatalf("uploaded %v with upload off", f.Uploads)
	}
	f2 := vttest.New(t, vttest.CorpusDetections())
	r := run(t, worker(t, f2, analyzers.NewMemoryState(), nil, func(c *Config) { c.Upload = true }), m)
	if !slices.Equal(f2.Uploads, []string{"contract.pdf"}) || !slices.Equal(symbols(r)[Uploaded], []string{"contract.pdf"}) {
		t.Errorf("uploads %v symbols %v", f2.Uploads, r.Symbols)
	}
	f3 := vttest.New(t, vttest.CorpusDetections())
	run(t, worker(t, f3, analyzers.NewMemoryState(), nil, func(c *Config) { c.Upload, c.UploadMaxSize = true, 10 }), m)
	if len(f3.Uploads) != 0 {
		t.Errorf("uploaded a file over upload_max_size")
	}
}

func TestURLWithPath(t *testing.T) {
	f := vttest.New(t, vttest.CorpusDetections())
	a := worker(t, f, analyzers.NewMemoryState(), nil, func(c *Config) { c.URL = f.URL + "/proxy/vt/" })
	run(t, a, message(part("2", "a.txt", []byte("a"))))
	if len(f.Paths) != 1 || !strings.HasPrefix(f.Paths[0], "GET /proxy/vt/api/v3/files/") {
		t.Errorf("requests %q", f.Paths)
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
	f := vttest.New(t, vttest.CorpusDetections())
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

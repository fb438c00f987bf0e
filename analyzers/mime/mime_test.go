package mime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func symbols(r analyzers.Result) map[string][]string {
	out := map[string][]string{}
	for _, s := range r.Symbols {
		out[s.Name] = s.Options
	}
	return out
}

func TestAnalyze(t *testing.T) {
	pdf := analyzers.Part{Path: "2", ContentType: "application/pdf", Filename: "report.pdf", Attachment: true}
	tests := []struct {
		name    string
		m       *analyzers.Message
		status  analyzers.Status
		verdict analyzers.Verdict
		err     string
		symbols map[string][]string
		score   float64
	}{
		{
			name:    "well formed",
			m:       &analyzers.Message{Parts: []analyzers.Part{{Path: "1", ContentType: "text/plain"}, pdf}},
			status:  analyzers.StatusOK,
			verdict: analyzers.VerdictClean,
			symbols: map[string][]string{},
		},
		{
			name: "bad base64 and missing boundary in one part",
			m: &analyzers.Message{
				Parts: []analyzers.Part{{Path: "1", ContentType: "text/plain"}, pdf},
				Problems: []analyzers.Problem{
					{Part: "2", Err: "illegal base64 data at byte 12 (line 1 of the part body)"},
					{Part: "2", Err: `multipart/mixed ends without its closing boundary "b"`},
				},
			},
			status:  analyzers.StatusError,
			verdict: analyzers.VerdictUnknown,
			err:     `part 2 (application/pdf, "report.pdf"): illegal base64 data at byte 12 (line 1 of the part body); multipart/mixed ends without its closing boundary "b"`,
			symbols: map[string][]string{BadPart: {"2"}},
			score:   1,
		},
		{
			name: "problems in several places",
			m: &analyzers.Message{
				Parts: []analyzers.Part{{Path: "1", ContentType: "text/plain", Charset: "x-klingon"}},
				Problems: []analyzers.Problem{
					{Part: "header", Err: "Date: bad"},
					{Part: "1", Err: `unknown charset "x-klingon"`},
					{Part: "message", Err: "3 more problems not listed"},
				},
			},
			status:  analyzers.StatusError,
			verdict: analyzers.VerdictUnknown,
			err:     `part 1 (text/plain): unknown charset "x-klingon"; message: 3 more problems not listed`,
			symbols: map[string][]string{BadHeader: {"header: Date: bad"}, BadPart: {"1", "message"}},
			score:   2,
		},
		{
			name: "header problems only",
			m: &analyzers.Message{
				Parts: []analyzers.Part{{Path: "1", ContentType: "text/plain"}},
				Problems: []analyzers.Problem{
					{Part: "header", Err: `To: cannot parse address "x"`},
					{Part: "2.header", Err: `Date: "soon": bad`},
				},
			},
			status:  analyzers.StatusOK,
			verdict: analyzers.VerdictClean,
			symbols: map[string][]string{BadHeader: {`header: To: cannot parse address "x"`, `2.header: Date: "soon": bad`}},
			score:   1,
		},
		{
			name: "deep nesting and a truncated part",
			m: &analyzers.Message{Parts: []analyzers.Part{
				{Path: "1.1.1.1.1.1.1.1.1.1.1.1", ContentType: "text/plain"},
				{Path: "2", ContentType: "application/zip", Truncated: true},
			}},
			status:  analyzers.StatusOK,
			verdict: analyzers.VerdictClean,
			symbols: map[string][]string{DeepNesting: {"depth 12 at part 1.1.1.1.1.1.1.1.1.1.1.1"}, PartTruncated: {"2"}},
			score:   3,
		},
	}
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := analyzers.Run(context.Background(), a, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || r.Verdict != tt.verdict || r.Error != tt.err || r.Score != tt.score {
				t.Errorf("status %s verdict %s score %v error %q\nwant %s %s %v %q", r.Status, r.Verdict, r.Score, r.Error, tt.status, tt.verdict, tt.score, tt.err)
			}
			got := symbols(r)
			if len(got) != len(tt.symbols) {
				t.Errorf("symbols = %v, want %v", got, tt.symbols)
			}
			for name, opts := range tt.symbols {
				if !slices.Equal(got[name], opts) {
					t.Errorf("%s options = %q, want %q", name, got[name], opts)
				}
			}
		})
	}
}

func TestData(t *testing.T) {
	a, _ := New(DefaultConfig())
	m := &analyzers.Message{
		Parts:    []analyzers.Part{{Path: "1", ContentType: "text/plain"}, {Path: "2.1", ContentType: "application/pdf", Filename: "r.pdf"}},
		Problems: []analyzers.Problem{{Part: "2.1", Err: "boom"}},
	}
	r, _ := a.Analyze(context.Background(), m)
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	want := Data{Parts: 2, Depth: 2, Problems: []Problem{{Part: "2.1", ContentType: "application/pdf", Filename: "r.pdf", Error: "boom"}}}
	if d.Parts != want.Parts || d.Depth != want.Depth || !slices.Equal(d.Problems, want.Problems) {
		t.Errorf("data = %+v, want %+v", d, want)
	}
}

func TestConfig(t *testing.T) {
	m := &analyzers.Message{Parts: []analyzers.Part{{Path: "1.1.1", ContentType: "text/plain"}}}
	cfg := DefaultConfig()
	cfg.NestingDepth = 2
	cfg.Scores = map[string]float64{DeepNesting: 6}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.Analyze(context.Background(), m)
	if r.Score != 6 || r.Verdict != analyzers.VerdictSuspicious {
		t.Errorf("score %v verdict %s, want 6 suspicious", r.Score, r.Verdict)
	}
	if _, err := New(Config{NestingDepth: 0}); err == nil {
		t.Error("nesting_depth 0 accepted")
	}
	if _, err := New(Config{NestingDepth: 3, Scores: map[string]float64{"X": 1}}); err == nil {
		t.Error("unknown symbol accepted")
	}
}

type funcOptions func(v any) error

func (f funcOptions) Decode(v any) error { return f(v) }

func TestRegistration(t *testing.T) {
	reg, ok := analyzers.Lookup(Name)
	if !ok || !reg.Security || reg.Network {
		t.Fatalf("registration = %+v, %v", reg, ok)
	}
	if _, err := analyzers.New(Name, analyzers.NoOptions{}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("line 2: unknown key")
	if _, err := analyzers.New(Name, funcOptions(func(any) error { return boom })); !errors.Is(err, boom) {
		t.Errorf("decode error lost: %v", err)
	}
}

// TestSamples is the done-criterion: the malformed sample gives an error
// result naming the part that failed; every other sample parses cleanly.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/mail/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	a, _ := New(DefaultConfig())
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := analyzers.Run(context.Background(), a, m)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		if name != "24-malformed-broken-base64.eml" {
			if r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean {
				t.Errorf("%s: %s %s %q", name, r.Status, r.Verdict, r.Error)
			}
			continue
		}
		want := `part 2 (application/pdf, "report.pdf"): illegal base64 data at byte 271 (line 4 of the part body)`
		if r.Status != analyzers.StatusError || r.Verdict != analyzers.VerdictUnknown || !strings.HasPrefix(r.Error, want) {
			t.Errorf("%s: status %s verdict %s error %q, want an error starting %q", name, r.Status, r.Verdict, r.Error, want)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	m := &analyzers.Message{
		Parts:    []analyzers.Part{{Path: "1", ContentType: "text/plain"}, {Path: "2", ContentType: "application/pdf", Filename: "r.pdf"}},
		Problems: []analyzers.Problem{{Part: "2", Err: "illegal base64 data at byte 12"}},
	}
	a, _ := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		a.Analyze(context.Background(), m)
	}
}

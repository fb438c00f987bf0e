package attachments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/analyzers"
)

func file(path, name string, content string) analyzers.Part {
	sum := sha256.Sum256([]byte(content))
	return analyzers.Part{
		Path: path, Filename: name, ContentType: "application/octet-stream", Attachment: true,
		Content: []byte(content), Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
	}
}

func message(parts ...analyzers.Part) *analyzers.Message {
	m := &analyzers.Message{Parts: parts}
	for i := range m.Parts {
		if m.Parts[i].Attachment {
			m.Attachments = append(m.Attachments, &m.Parts[i])
		}
	}
	return m
}

func symbols(r analyzers.Result) map[string][]string {
	out := map[string][]string{}
	for _, s := range r.Symbols {
		out[s.Name] = s.Options
	}
	return out
}

// eicar is assembled from halves so this file is not itself the test
// string that scanners flag.
var eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD` + `-ANTIVIRUS-TEST-FILE!$H+H*`

func TestEICARHash(t *testing.T) {
	sum := sha256.Sum256([]byte(eicar))
	if len(eicar) != 68 || hex.EncodeToString(sum[:]) != eicarSHA256 {
		t.Fatalf("EICAR string is %d bytes with sha256 %x", len(eicar), sum)
	}
}

func TestAnalyze(t *testing.T) {
	body := analyzers.Part{Path: "1", ContentType: "text/plain", SHA256: strings.Repeat("0", 64)}
	tests := []struct {
		name    string
		m       *analyzers.Message
		symbols map[string][]string
		score   float64
		verdict analyzers.Verdict
	}{
		{
			name:    "no attachments",
			m:       message(body),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "harmless files",
			m:       message(body, file("2", "report.pdf", "%PDF"), file("3", "photo.JPG", "jpeg"), file("4", "logs.tar.gz", "gz")),
			symbols: map[string][]string{},
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "risky extension",
			m:       message(body, file("2", "Payment_Details.JS", "WScript")),
			symbols: map[string][]string{RiskyExtension: {"Payment_Details.JS"}},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "macro document",
			m:       message(body, file("2", "CV_Candidate.docm", "PK")),
			symbols: map[string][]string{RiskyExtension: {"CV_Candidate.docm"}},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "double extension",
			m:       message(body, file("2", "invoice.pdf.exe", "MZ")),
			symbols: map[string][]string{RiskyExtension: {"invoice.pdf.exe"}, DoubleExtension: {"invoice.pdf.exe"}},
			score:   11,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "double extension padded with blanks and a trailing dot",
			m:       message(body, file("2", "scan.jpg      .scr.", "MZ")),
			symbols: map[string][]string{RiskyExtension: {"scan.jpg      .scr."}, DoubleExtension: {"scan.jpg      .scr."}},
			score:   11,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "dotted name that is not a double extension",
			m:       message(body, file("2", "setup.v2.1.exe", "MZ")),
			symbols: map[string][]string{RiskyExtension: {"setup.v2.1.exe"}},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "path in the file name",
			m:       message(body, file("2", `C:\Users\x\run.bat`, "@echo")),
			symbols: map[string][]string{RiskyExtension: {`C:\Users\x\run.bat`}},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "eicar under a harmless name",
			m:       message(body, file("2", "eicar-test.txt", eicar)),
			symbols: map[string][]string{KnownBad: {"EICAR-Test-File"}},
			score:   20,
			verdict: analyzers.VerdictMalicious,
		},
		{
			name: "eicar inside an attached message only",
			m: func() *analyzers.Message {
				inner := message(analyzers.Part{Path: "2.1", ContentType: "text/plain"}, file("2.2", "x.com", eicar))
				m := message(body, file("2", "fwd.eml", "From: x"))
				m.Nested = []*analyzers.Message{inner}
				return m
			}(),
			symbols: map[string][]string{RiskyExtension: {"x.com"}, KnownBad: {"EICAR-Test-File"}},
			score:   25,
			verdict: analyzers.VerdictMalicious,
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
			got := symbols(r)
			if len(got) != len(tt.symbols) {
				t.Errorf("symbols = %v, want %v", got, tt.symbols)
			}
			for name, opts := range tt.symbols {
				if !slices.Equal(got[name], opts) {
					t.Errorf("%s options = %q, want %q", name, got[name], opts)
				}
			}
			if r.Score != tt.score || r.Verdict != tt.verdict || r.Status != analyzers.StatusOK {
				t.Errorf("score %v verdict %s status %s, want %v %s ok", r.Score, r.Verdict, r.Status, tt.score, tt.verdict)
			}
		})
	}
}

func TestData(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ev := file("2", "eicar-test.txt", eicar)
	ev.ContentType = "text/plain"
	r, err := a.Analyze(context.Background(), message(analyzers.Part{Path: "1", ContentType: "text/plain"}, ev))
	if err != nil {
		t.Fatal(err)
	}
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	wantAtt := []Attachment{{Part: "2", Filename: "eicar-test.txt", ContentType: "text/plain", SniffedType: "text/plain", Size: 68, SHA256: eicarSHA256}}
	wantMatch := []Match{{Part: "2", Filename: "eicar-test.txt", SHA256: eicarSHA256, Name: "EICAR-Test-File"}}
	if !slices.Equal(d.Attachments, wantAtt) || !slices.Equal(d.Matches, wantMatch) {
		t.Errorf("data = %+v, want %v and %v", d, wantAtt, wantMatch)
	}

	r, _ = a.Analyze(context.Background(), message())
	if string(r.Data) != `{"attachments":[],"matches":[]}` {
		t.Errorf("empty data = %s, want empty lists rather than null", r.Data)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "iocs.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIOCFile(t *testing.T) {
	bad := file("2", "tool.bin", "known bad bytes")
	other := file("3", "other.bin", "another bad one")
	path := writeFile(t, "sha256,name\n# feed of 2026-11-20\n\n"+
		strings.ToUpper(bad.SHA256)+", \"Trojan.Example\"  # from the feed\n"+
		other.SHA256+"\n")

	cfg := DefaultConfig()
	cfg.IOCFile = path
	cfg.BuiltinTestIOC = false
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.Analyze(context.Background(), message(bad, other, file("4", "eicar.txt", eicar)))
	if got := symbols(r)[KnownBad]; !slices.Equal(got, []string{"Trojan.Example", "listed in iocs.csv"}) {
		t.Errorf("matches %q, want the two listed files and not EICAR (builtin off)", got)
	}
	if r.Verdict != analyzers.VerdictMalicious {
		t.Errorf("verdict %s", r.Verdict)
	}

	errs := []struct{ name, content, path, want string }{
		{"missing file", "", filepath.Join(t.TempDir(), "nope.txt"), "nope.txt: no such file"},
		{"short hash", "# header\n" + bad.SHA256 + "\nabc123,short\n", "", `line 3: "abc123" is not a sha256`},
		{"not hex", strings.Repeat("g", 64) + "\n", "", "line 1:"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.IOCFile = tt.path
			if cfg.IOCFile == "" {
				cfg.IOCFile = writeFile(t, tt.content)
			}
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Base(cfg.IOCFile)) {
				t.Errorf("err = %v, want one naming the file and %q", err, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RiskyExtensions = []string{".ZIP"}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.Analyze(context.Background(), message(file("1", "a.exe", "MZ"), file("2", "b.zip", "PK")))
	if got := symbols(r); len(got) != 1 || !slices.Equal(got[RiskyExtension], []string{"b.zip"}) {
		t.Errorf("with risky_extensions [.ZIP]: %v", got)
	}

	cfg = DefaultConfig()
	cfg.Scores = map[string]float64{RiskyExtension: 1}
	a, _ = New(cfg)
	r, _ = a.Analyze(context.Background(), message(file("1", "a.exe", "MZ")))
	if r.Score != 1 || r.Verdict != analyzers.VerdictClean {
		t.Errorf("score %v verdict %s with ATTACHMENT_RISKY_EXT at 1", r.Score, r.Verdict)
	}

	if _, err := New(Config{Scores: map[string]float64{"NOPE": 1}}); err == nil {
		t.Error("unknown symbol accepted")
	}
	if _, err := New(Config{RiskyExtensions: []string{" "}}); err == nil {
		t.Error("empty extension accepted")
	}
}

type funcOptions func(v any) error

func (f funcOptions) Decode(v any) error { return f(v) }

func TestRegistration(t *testing.T) {
	reg, ok := analyzers.Lookup(Name)
	if !ok || !reg.Security || reg.Network {
		t.Fatalf("registration = %+v, %v", reg, ok)
	}
	a, err := analyzers.New(Name, analyzers.NoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(*Analyzer); !got.cfg.BuiltinTestIOC || !got.risky["exe"] {
		t.Errorf("defaults not applied: %+v", got.cfg)
	}
	_, err = analyzers.New(Name, funcOptions(func(v any) error {
		v.(*Config).IOCFile = "/does/not/exist.txt"
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "/does/not/exist.txt") {
		t.Errorf("err = %v, want the missing file named", err)
	}
	boom := errors.New("line 7: unknown key")
	if _, err := analyzers.New(Name, funcOptions(func(any) error { return boom })); !errors.Is(err, boom) {
		t.Errorf("decode error lost: %v", err)
	}
}

// TestSamples pins the verdicts examples/mail/README.md promises.
func TestSamples(t *testing.T) {
	want := map[string]analyzers.Verdict{
		"21-risky-invoice-pdf-exe.eml":  analyzers.VerdictSuspicious,
		"22-risky-js-attachment.eml":    analyzers.VerdictSuspicious,
		"23-eicar-test-attachment.eml":  analyzers.VerdictMalicious,
		"33-macro-docm-attachment.eml":  analyzers.VerdictSuspicious,
		"17-forwarded-quote-rfc822.eml": analyzers.VerdictClean,
	}
	files, err := filepath.Glob("../../examples/mail/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := a.Analyze(context.Background(), m)
		v, ok := want[filepath.Base(f)]
		if !ok {
			v = analyzers.VerdictClean
		}
		if r.Verdict != v {
			t.Errorf("%s: verdict %s (symbols %v), want %s", filepath.Base(f), r.Verdict, r.Symbols, v)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	m := message(analyzers.Part{Path: "1", ContentType: "text/plain"}, file("2", "invoice.pdf.exe", "MZ"), file("3", "photo.jpg", "jpeg"))
	a, _ := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		a.Analyze(context.Background(), m)
	}
}

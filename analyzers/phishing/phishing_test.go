package phishing

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

func TestUnwrap(t *testing.T) {
	tests := []struct {
		name, in, want string
		via            []string
	}{
		{"plain link", "https://example.com/a", "https://example.com/a", nil},
		{"proofpoint v1", "https://urldefense.proofpoint.com/v1/url?u=http://www.example.com/x%3Fa%3D1&k=abc", "http://www.example.com/x?a=1", []string{ViaProofpointV1}},
		{"proofpoint v2", "https://urldefense.proofpoint.com/v2/url?u=https-3A__www.ex-2Dample.com_path_a-3Fb-3D1&d=DwMFaQ&c=x", "https://www.ex-ample.com/path/a?b=1", []string{ViaProofpointV2}},
		{"proofpoint v3 with replaced characters", "https://urldefense.com/v3/__https://example.com/o/owa*2Findex.html?x=1*y__;JSM!!Fjc1LPE!abc$", "https://example.com/o/owa%2Findex.html?x=1#y", []string{ViaProofpointV3}},
		{"proofpoint v3 with a run", "https://urldefense.com/v3/__https://example.com/**Ac__;YWI!!x$", "https://example.com/abc", []string{ViaProofpointV3}},
		{"safe links", "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc&data=05", "https://example.com/a?b=c", []string{ViaSafeLinks}},
		{"safe links around proofpoint", "https://nam02.safelinks.protection.outlook.com/?url=" + escape("https://urldefense.proofpoint.com/v2/url?u=http-3A__evil.example_&d=x") + "&data=1", "http://evil.example/", []string{ViaSafeLinks, ViaProofpointV2}},
		{"v3 without replacement characters left", "https://urldefense.com/v3/__https://example.com/**Z__;JSM!!x$", "https://urldefense.com/v3/__https://example.com/**Z__;JSM!!x$", nil},
		{"safe links without url", "https://eur01.safelinks.protection.outlook.com/?data=05", "https://eur01.safelinks.protection.outlook.com/?data=05", nil},
		{"v2 that is not a URL", "https://urldefense.proofpoint.com/v2/url?u=nothing&d=x", "https://urldefense.proofpoint.com/v2/url?u=nothing&d=x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, via := Unwrap(tt.in)
			if got != tt.want || !slices.Equal(via, tt.via) {
				t.Errorf("Unwrap = %q %v, want %q %v", got, via, tt.want, tt.via)
			}
		})
	}
}

func escape(s string) string {
	r := strings.NewReplacer(":", "%3A", "/", "%2F", "?", "%3F", "=", "%3D", "&", "%26")
	return r.Replace(s)
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		in           string
		ascii, reg   string
		ip, userinfo bool
		ok           bool
	}{
		{"https://Login.Example.co.uk:8443/x", "login.example.co.uk", "example.co.uk", false, false, true},
		{"http://198.51.100.7/owa", "198.51.100.7", "198.51.100.7", true, false, true},
		{"http://3325256711/", "3325256711", "3325256711", true, false, true},
		{"http://0xC6.0x33.0x64.0x07/", "0xc6.0x33.0x64.0x07", "0xc6.0x33.0x64.0x07", true, false, true},
		{"http://[2001:db8::1]/", "2001:db8::1", "2001:db8::1", true, false, true},
		{"https://www.paypal.com@evil.example/", "evil.example", "evil.example", false, true, true},
		{"//cdn.example.org/a", "cdn.example.org", "example.org", false, false, true},
		{"https:\\\\evil.example\\path", "evil.example", "evil.example", false, false, true},
		{"https://xn--pypal-4ve.com/", "xn--pypal-4ve.com", "xn--pypal-4ve.com", false, false, true},
		{"https://pаypal.com/", "xn--pypal-4ve.com", "xn--pypal-4ve.com", false, false, true},
		{"mailto:a@b.example", "", "", false, false, false},
		{"https:///nohost", "nohost", "nohost", false, false, true}, // browsers read any run of slashes as "//"
		{"https:", "", "", false, false, false},
	}
	for _, tt := range tests {
		h, ok := parseHost(tt.in)
		if ok != tt.ok || h.ascii != tt.ascii || h.reg != tt.reg || h.ip != tt.ip || h.userinfo != tt.userinfo {
			t.Errorf("parseHost(%q) = %+v %v", tt.in, h, ok)
		}
	}
}

func TestNearMiss(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"paypal", "paypall", true},
		{"paypal", "paypa", true},
		{"paypal", "paypel", true},
		{"paypal", "payapl", true},
		{"paypal", "paypal", false},
		{"paypal", "pyapla", false},
		{"amazon", "amazing", false},
	}
	for _, tt := range tests {
		if got := nearMiss(tt.a, tt.b); got != tt.want {
			t.Errorf("nearMiss(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestShownHost(t *testing.T) {
	tests := map[string]string{
		"https://www.paypal.com/signin": "paypal.com",
		"www.bank.co.uk":                "bank.co.uk",
		"paypal.com":                    "paypal.com",
		"Sign in":                       "",
		"invoice.pdf":                   "",
		"click here: paypal.com":        "",
		"":                              "",
	}
	for in, want := range tests {
		if got := shownHost(in); got != want {
			t.Errorf("shownHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"unknown symbol", func(c *Config) { c.Scores = map[string]float64{"NOPE": 1} }, "NOPE"},
		{"brand without domains", func(c *Config) { c.ExtraBrands = []Brand{{Names: []string{"Acme"}}} }, "names and domains"},
		{"empty own domain", func(c *Config) { c.OwnDomains = []string{" "} }, "own_domains"},
		{"negative ttl", func(c *Config) { c.FirstSeenTTL = -time.Hour }, "first_seen_ttl"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.cfg(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestConfigOptions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExtraBrands = []Brand{{Names: []string{"Northwind"}, Domains: []string{"northwind.example"}}}
	cfg.OwnDomains = []string{"corp.example"}
	cfg.Scores = map[string]float64{LinkBrandInHost: 0.5}
	a := mustNew(t, cfg)
	m := parse(t, `From: Northwind Billing <billing@nw-invoices.example>
To: kim@mailbox.example
Subject: invoice
Content-Type: text/html

<a href="https://northwind.secure-pay.example/">Pay</a> <a href="https://c0rp.example/">intranet</a>
`)
	r := run(t, a, m)
	if !hasSymbol(r, DisplayNameBrand) || !hasSymbol(r, LinkLookalikeOwn) {
		t.Errorf("symbols %v, want %s and %s", r.Symbols, DisplayNameBrand, LinkLookalikeOwn)
	}
	for _, s := range r.Symbols {
		if s.Name == LinkBrandInHost && s.Score != 0.5 {
			t.Errorf("%s scored %v, want the configured 0.5", s.Name, s.Score)
		}
	}
}

func parse(t *testing.T, raw string) *analyzers.Message {
	t.Helper()
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func run(t *testing.T, a analyzers.Analyzer, m *analyzers.Message) analyzers.Result {
	t.Helper()
	r, err := analyzers.Run(t.Context(), a, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestData(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	r := analyze(t, a, "testdata/phish/p12-proofpoint-wrapped.eml")
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.LinksTotal != 2 || len(d.Links) != 2 {
		t.Fatalf("links %+v", d)
	}
	l := d.Links[0]
	if l.URL != "https://login.micros0ft-support.example/common/oauth2" || !strings.HasPrefix(l.Original, "https://urldefense.proofpoint.com/") ||
		!slices.Equal(l.Via, []string{ViaProofpointV2}) || l.Text != "https://login.microsoftonline.com/" || l.Host != "login.micros0ft-support.example" {
		t.Errorf("link %+v", l)
	}
	if d.FromDomain != "m365-notices.example" || d.FirstSeen != nil {
		t.Errorf("data %+v", d)
	}
}

// TestFirstSeen checks the sender history: new senders add weight only to
// other signs, per mailbox, and a redelivered message is still the first.
func TestFirstSeen(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	st := analyzers.NewMemoryState()
	if err := a.Attach(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	phish, err := os.ReadFile("testdata/phish/p01-link-text-mismatch.eml")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(mailbox, id string) *analyzers.Message {
		m := parse(t, string(phish))
		m.Mailbox, m.ID = mailbox, id
		return m
	}
	first := func(r analyzers.Result) bool {
		var d Data
		if err := json.Unmarshal(r.Data, &d); err != nil || d.FirstSeen == nil {
			t.Fatalf("data %s: %v", r.Data, err)
		}
		return *d.FirstSeen
	}
	r := run(t, a, msg("support", "id1"))
	if !first(r) || !hasSymbol(r, SenderFirstSeen) {
		t.Errorf("first mail: first_seen %v, symbols %v", first(r), r.Symbols)
	}
	if r := run(t, a, msg("support", "id1")); !first(r) || !hasSymbol(r, SenderFirstSeen) {
		t.Errorf("redelivered first mail is not first: %v", r.Symbols)
	}
	if r := run(t, a, msg("support", "id2")); first(r) || hasSymbol(r, SenderFirstSeen) {
		t.Errorf("second mail counted as first: %v", r.Symbols)
	}
	if r := run(t, a, msg("billing", "id3")); !first(r) {
		t.Errorf("another mailbox shares the history")
	}
	// A clean mail from a new sender gets no symbol for being new.
	clean := parse(t, "From: a@new-sender.example\nTo: kim@mailbox.example\nSubject: hi\n\nhello\n")
	clean.Mailbox = "support"
	if r := run(t, a, clean); !first(r) || len(r.Symbols) != 0 || r.Verdict != analyzers.VerdictClean {
		t.Errorf("clean new sender: %v %s", r.Symbols, r.Verdict)
	}
}

// failingState hands out a bucket whose every call fails, like a KV store
// that cannot be reached.
type failingState struct{}

func (failingState) Bucket(context.Context, string, time.Duration) (analyzers.KV, error) {
	return failingKV{}, nil
}

type failingKV struct{}

var errKV = errors.New("nats: timeout")

func (failingKV) Get(context.Context, string) ([]byte, uint64, error)    { return nil, 0, errKV }
func (failingKV) Put(context.Context, string, []byte) (uint64, error)    { return 0, errKV }
func (failingKV) Create(context.Context, string, []byte) (uint64, error) { return 0, errKV }
func (failingKV) Update(context.Context, string, []byte, uint64) (uint64, error) {
	return 0, errKV
}
func (failingKV) Delete(context.Context, string) error { return errKV }

func TestHistoryDownIsAnError(t *testing.T) {
	a := mustNew(t, DefaultConfig())
	if err := a.Attach(t.Context(), failingState{}); err != nil {
		t.Fatal(err)
	}
	m := parse(t, "From: a@b.example\nSubject: x\n\nbody\n")
	if _, err := a.Analyze(t.Context(), m); !errors.Is(err, errKV) {
		t.Fatalf("Analyze error %v, want the KV error so the pipeline retries", err)
	}
}

func TestHistoryKey(t *testing.T) {
	tests := map[[2]string]string{
		{"support", "example.com"}: "support.example.com",
		{"", "example.com"}:        "_.example.com",
		{"m", "xn--pypal-4ve.com"}: "m.xn--pypal-4ve.com",
		{"m", "a b..c."}:           "m.a_b.c",
	}
	for in, want := range tests {
		if got := historyKey(in[0], in[1]); got != want {
			t.Errorf("historyKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSamples pins the verdicts examples/mail/README.md promises: the
// phishing sample and the CEO-fraud sample are flagged, every other sample
// stays clean.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/mail/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	a := mustNew(t, DefaultConfig())
	if err := a.Attach(t.Context(), analyzers.NewMemoryState()); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		r := analyze(t, a, f)
		want := analyzers.VerdictClean
		switch name {
		case "18-phish-display-name-spoof.eml":
			want = analyzers.VerdictSuspicious
			if !hasSymbol(r, LinkTextMismatch) {
				t.Errorf("%s: no %s: %v", name, LinkTextMismatch, r.Symbols)
			}
		case "30-reply-to-other-domain.eml":
			want = analyzers.VerdictSuspicious
			if !hasSymbol(r, InternalReplyOffsite) || !hasSymbol(r, PaymentRequest) {
				t.Errorf("%s: want %s and %s: %v", name, InternalReplyOffsite, PaymentRequest, r.Symbols)
			}
		}
		if r.Verdict != want {
			t.Errorf("%s: verdict %s (score %.1f, %v), want %s", name, r.Verdict, r.Score, r.Symbols, want)
		}
	}
}

// FuzzUnwrap checks the link decoder on any input: it never panics, a
// link it does not decode comes back unchanged, and what it decodes is an
// absolute URL.
func FuzzUnwrap(f *testing.F) {
	for _, s := range []string{
		"https://urldefense.proofpoint.com/v2/url?u=https-3A__www.example.com_a&d=x",
		"https://urldefense.com/v3/__https://example.com/**Ab*__;JSMkJg!!x$",
		"https://urldefense.proofpoint.com/v1/url?u=http://a.example/&k=1",
		"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fa.example%2F&data=1",
		"http://198.51.100.7/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, via := Unwrap(s)
		if len(via) == 0 && got != s {
			t.Fatalf("Unwrap(%q) changed the link without a rewriter: %q", s, got)
		}
		if len(via) > maxUnwrap {
			t.Fatalf("followed %d rewriters", len(via))
		}
		if len(via) > 0 && !isAbsolute(got) {
			t.Fatalf("Unwrap(%q) = %q, not an absolute URL", s, got)
		}
		parseHost(got)
		shownHost(s)
	})
}

func BenchmarkAnalyze(b *testing.B) {
	files, err := filepath.Glob("testdata/*/*.eml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	var raws [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
	}
	// A message parsed afresh for each run: the analyzer keeps what it
	// derives from a message in the message, as the pipeline's analyzers
	// share it, and a message analyzed again would find it done.
	ms := make([]*analyzers.Message, b.N)
	for i := range ms {
		m, err := analyzers.Parse(raws[i%len(raws)], analyzers.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = m
	}
	a := mustNew(b, DefaultConfig())
	if err := a.Attach(context.Background(), analyzers.NewMemoryState()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Analyze(context.Background(), ms[i]); err != nil {
			b.Fatal(err)
		}
	}
}

package headers

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

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newTest(t *testing.T, cfg Config) *Analyzer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return testNow }
	return a
}

func parse(t *testing.T, raw string) *analyzers.Message {
	t.Helper()
	m, err := analyzers.Parse([]byte(raw), analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func symbolNames(r analyzers.Result) []string {
	var out []string
	for _, s := range r.Symbols {
		out = append(out, s.Name)
	}
	return out
}

const okHeader = "Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <1@shop.example>\n"

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		symbols []string
		score   float64
		verdict analyzers.Verdict
		options map[string][]string
	}{
		{
			name:    "clean",
			raw:     okHeader + "From: Shop <orders@shop.example>\nReply-To: help@support.shop.example\n\nhi\n",
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "missing date and message id",
			raw:     "From: a@shop.example\n\nhi\n",
			symbols: []string{MissingDate, MissingMessageID},
			score:   3.5,
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "unparseable date",
			raw:     "Date: yesterday-ish\nMessage-ID: <1@x>\nFrom: a@shop.example\n\nhi\n",
			symbols: []string{InvalidDate},
			score:   1.5,
			verdict: analyzers.VerdictClean,
			options: map[string][]string{InvalidDate: {"yesterday-ish"}},
		},
		{
			name:    "date in future",
			raw:     "Date: Mon, 03 Mar 2031 10:00:00 +0000\nMessage-ID: <1@x>\nFrom: a@shop.example\n\nhi\n",
			symbols: []string{DateInFuture},
			score:   4,
			verdict: analyzers.VerdictClean,
			options: map[string][]string{DateInFuture: {"2031-03-03T10:00:00Z"}},
		},
		{
			name:    "date a few hours ahead is clock skew",
			raw:     "Date: Wed, 25 Nov 2026 20:00:00 +0000\nMessage-ID: <1@x>\nFrom: a@shop.example\n\nhi\n",
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "missing from",
			raw:     okHeader + "To: ops@shop.example\n\nhi\n",
			symbols: []string{MissingFrom},
			score:   2,
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "unparseable from",
			raw:     okHeader + "From: nobody at all\n\nhi\n",
			symbols: []string{MissingFrom},
			score:   2,
			verdict: analyzers.VerdictClean,
			options: map[string][]string{MissingFrom: {"unparseable: nobody at all"}},
		},
		{
			name:    "multiple from",
			raw:     okHeader + "From: a@shop.example, b@other.example\n\nhi\n",
			symbols: []string{MultipleFrom},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
			options: map[string][]string{MultipleFrom: {"a@shop.example", "b@other.example"}},
		},
		{
			name:    "two from fields",
			raw:     okHeader + "From: a@shop.example\nFrom: b@shop.example\n\nhi\n",
			symbols: []string{MultipleFrom},
			score:   5,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "reply-to on another domain",
			raw:     okHeader + "From: CEO <ceo@shop.example>\nReply-To: ceo.office@freemail.test\n\nhi\n",
			symbols: []string{ReplyToMismatch},
			score:   3,
			verdict: analyzers.VerdictClean,
			options: map[string][]string{ReplyToMismatch: {"from=shop.example", "reply-to=freemail.test"}},
		},
		{
			name: "reply-to the mailing list the message came through",
			raw: okHeader + "From: ann@members.example\nSender: talk-bounces@lists.example.org\n" +
				"List-Id: Talk <talk.lists.example.org>\nList-Post: <mailto:talk@lists.example.org>\nReply-To: talk@lists.example.org\n\nhi\n",
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "list headers do not excuse a reply-to elsewhere",
			raw:     okHeader + "From: ceo@shop.example\nList-Post: <mailto:news@shop.example>\nReply-To: ceo.office@freemail.test\n\nhi\n",
			symbols: []string{ReplyToMismatch},
			score:   3,
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "a list's domain counts only for list mail",
			raw:     okHeader + "From: ceo@shop.example\nSender: ceo.office@freemail.test\nReply-To: ceo.office@freemail.test\n\nhi\n",
			symbols: []string{ReplyToMismatch},
			score:   3,
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "reply-to on a subdomain of the same registered domain",
			raw:     okHeader + "From: a@mail.shop.co.uk\nReply-To: b@help.shop.co.uk\n\nhi\n",
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "display name spoof",
			raw:     okHeader + "From: \"support@bank.example\" <x@bank-support.example>\n\nhi\n",
			symbols: []string{SpoofDisplayName},
			score:   6,
			verdict: analyzers.VerdictSuspicious,
			options: map[string][]string{SpoofDisplayName: {"shown=support@bank.example", "from=x@bank-support.example"}},
		},
		{
			name:    "encoded display name spoof",
			raw:     okHeader + "From: =?utf-8?q?Bank_=3Csupport=40bank.example=3E?= <x@bank-support.example>\n\nhi\n",
			symbols: []string{SpoofDisplayName},
			score:   6,
			verdict: analyzers.VerdictSuspicious,
		},
		{
			name:    "display name repeating the real address",
			raw:     okHeader + "From: \"Ann@Shop.example\" <ann@shop.example>\n\nhi\n",
			verdict: analyzers.VerdictClean,
		},
		{
			name:    "spoof with reply-to elsewhere and no message id",
			raw:     "Date: Mon, 23 Nov 2026 10:00:00 +0000\nFrom: \"support@bank.example\" <x@bank-support.example>\nReply-To: y@mailbox.test\n\nhi\n",
			symbols: []string{MissingMessageID, ReplyToMismatch, SpoofDisplayName},
			score:   11.5,
			verdict: analyzers.VerdictSuspicious,
		},
	}
	a := newTest(t, DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := analyzers.Run(context.Background(), a, parse(t, tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := symbolNames(r); !slices.Equal(got, tt.symbols) {
				t.Errorf("symbols = %v, want %v", got, tt.symbols)
			}
			if r.Score != tt.score || r.Verdict != tt.verdict || r.Status != analyzers.StatusOK {
				t.Errorf("score %v verdict %s status %s, want %v %s ok", r.Score, r.Verdict, r.Status, tt.score, tt.verdict)
			}
			for _, s := range r.Symbols {
				if want, ok := tt.options[s.Name]; ok && !slices.Equal(s.Options, want) {
					t.Errorf("%s options = %q, want %q", s.Name, s.Options, want)
				}
			}
			if r.Analyzer != Name || !json.Valid(r.Data) {
				t.Errorf("analyzer %q, data %s", r.Analyzer, r.Data)
			}
		})
	}
}

func TestData(t *testing.T) {
	a := newTest(t, DefaultConfig())
	m := parse(t, "Date: Mon, 23 Nov 2026 11:00:00 +0100\nMessage-ID: <1@shop.example>\nFrom: CEO <ceo@shop.example>\nReply-To: x@freemail.test\n\nhi\n")
	r, err := a.Analyze(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	want := Data{From: []string{"ceo@shop.example"}, FromDomain: "shop.example", ReplyTo: []string{"x@freemail.test"},
		ReplyToDomain: "freemail.test", Date: "2026-11-23T10:00:00Z", MessageID: "<1@shop.example>"}
	if !slices.Equal(d.From, want.From) || !slices.Equal(d.ReplyTo, want.ReplyTo) || d.FromDomain != want.FromDomain ||
		d.ReplyToDomain != want.ReplyToDomain || d.Date != want.Date || d.MessageID != want.MessageID {
		t.Errorf("data = %+v, want %+v", d, want)
	}
}

func TestConfig(t *testing.T) {
	m := parse(t, okHeader+"From: a@shop.example\nReply-To: b@other.example\n\nhi\n")

	cfg := DefaultConfig()
	cfg.Scores = map[string]float64{ReplyToMismatch: 5}
	r, _ := newTest(t, cfg).Analyze(context.Background(), m)
	if r.Score != 5 || r.Verdict != analyzers.VerdictSuspicious {
		t.Errorf("with REPLYTO_DOM_NEQ_FROM_DOM at 5: score %v verdict %s, want 5 suspicious", r.Score, r.Verdict)
	}

	cfg = DefaultConfig()
	cfg.Malicious = 3
	r, _ = newTest(t, cfg).Analyze(context.Background(), m)
	if r.Verdict != analyzers.VerdictMalicious {
		t.Errorf("malicious threshold 3: verdict %s", r.Verdict)
	}

	cfg = DefaultConfig()
	cfg.FutureSkew = time.Hour
	future := parse(t, "Date: Wed, 25 Nov 2026 20:00:00 +0000\nMessage-ID: <1@x>\nFrom: a@shop.example\n\nhi\n")
	r, _ = newTest(t, cfg).Analyze(context.Background(), future)
	if !slices.Equal(symbolNames(r), []string{DateInFuture}) {
		t.Errorf("future_skew 1h: symbols %v", symbolNames(r))
	}

	if _, err := New(Config{Scores: map[string]float64{"NO_SUCH": 1}}); err == nil || !strings.Contains(err.Error(), `unknown symbol "NO_SUCH"`) {
		t.Errorf("unknown symbol: err = %v", err)
	}
	if _, err := New(Config{FutureSkew: -time.Hour}); err == nil {
		t.Error("negative future_skew accepted")
	}
}

// funcOptions stands in for the config file's section.
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
	if got := a.(*Analyzer).cfg; got.Suspicious != 5 || got.FutureSkew != 24*time.Hour {
		t.Errorf("defaults not kept: %+v", got)
	}
	a, err = analyzers.New(Name, funcOptions(func(v any) error {
		v.(*Config).Suspicious = 2
		return nil
	}))
	if err != nil || a.(*Analyzer).cfg.Suspicious != 2 || a.(*Analyzer).cfg.Malicious != 15 {
		t.Errorf("decoded options not applied over defaults: %v", err)
	}
	boom := errors.New("line 3: unknown key")
	if _, err := analyzers.New(Name, funcOptions(func(any) error { return boom })); !errors.Is(err, boom) {
		t.Errorf("decode error lost: %v", err)
	}
}

// TestSamples pins the verdicts examples/mail/README.md promises.
func TestSamples(t *testing.T) {
	want := map[string][]string{
		"18-phish-display-name-spoof.eml":    {ReplyToMismatch, SpoofDisplayName},
		"20-missing-date-and-message-id.eml": {MissingDate, MissingMessageID},
		"28-date-in-future.eml":              {DateInFuture},
		"29-multiple-from-addresses.eml":     {MultipleFrom},
		"30-reply-to-other-domain.eml":       {ReplyToMismatch},
		"34-missing-from-system-alert.eml":   {MissingFrom},
	}
	files, err := filepath.Glob("../../examples/mail/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	a := newTest(t, DefaultConfig())
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
		if got := symbolNames(r); !slices.Equal(got, want[filepath.Base(f)]) {
			t.Errorf("%s: symbols %v, want %v", filepath.Base(f), got, want[filepath.Base(f)])
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	m, err := analyzers.Parse([]byte("Date: Mon, 23 Nov 2026 10:00:00 +0000\nFrom: \"support@bank.example\" <x@bank-support.example>\nReply-To: y@mailbox.test\nTo: z@shop.example\n\nhi\n"), analyzers.ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		a.Analyze(context.Background(), m)
	}
}

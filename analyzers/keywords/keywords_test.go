package keywords

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/analyzers"
)

func phrases(kw []Keyword) []string {
	var out []string
	for _, k := range kw {
		out = append(out, k.Phrase)
	}
	return out
}

func TestExtract(t *testing.T) {
	sr, _ := MethodOptions(MethodSingleRank)
	tests := []struct {
		name, lang, text string
		want             []string // must be among the top 5
		not              []string // must not appear at all
	}{
		{"english", "en", "The rain cover of the Ridgeline backpack does not fit. The rain cover is too small for the backpack, and the hip belt pocket zipper is stiff.",
			[]string{"rain cover", "ridgeline backpack"}, []string{"the", "does"}},
		{"urls and numbers are not phrases", "en", "Track the parcel at https://track.example/t/123 today, order 104233 of 2026.",
			[]string{"parcel"}, []string{"https", "104233", "2026"}},
		{"german", "de", "Die Rücksendeetikette im Paket war für Österreich. Bitte schicken Sie ein gültiges Etikett für die Rücksendung.",
			[]string{"rücksendeetikette"}, []string{"die", "bitte"}},
		{"french", "fr", "La facture indique 129 € au lieu des 109 € affichés pendant les soldes. Merci de corriger la facture.",
			[]string{"facture"}, []string{"la", "merci"}},
		{"spanish", "es", "La cremallera de la mochila se rompió. Quiero una mochila nueva o el reembolso.",
			[]string{"cremallera", "mochila nueva"}, []string{"la", "una"}},
		{"verbs and judging adjectives break phrases", "en", "Conventional couriers reduce parcel damage. The parcel damage requires refunds.",
			[]string{"parcel damage", "couriers"}, []string{"conventional couriers", "conventional", "parcel damage requires refunds", "requires"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := phrases(NewExtractor(tt.lang, sr).Extract(tt.text, nil, 5))
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("top 5 = %q, want %q among them", got, w)
				}
			}
			for _, n := range tt.not {
				if slices.Contains(got, n) {
					t.Errorf("top 5 = %q, must not contain %q", got, n)
				}
			}
		})
	}
	if kw := NewExtractor("en", sr).Extract("the and of", nil, 5); kw != nil {
		t.Errorf("only stopwords gave %v", kw)
	}
}

// TestShortWords checks that news weighs a word whose stem is shorter
// than seven letters by (letters/7)^2, and that tfidf does not.
func TestShortWords(t *testing.T) {
	text := "Bank, mortgage. Bank, mortgage."
	tests := []struct {
		method string
		want   []Keyword
	}{
		{MethodTFIDF, []Keyword{{"bank", 1}, {"mortgage", 1}}},
		{MethodNews, []Keyword{{"mortgage", 1}, {"bank", 0.327}}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			o, ok := MethodOptions(tt.method)
			if !ok {
				t.Fatalf("no options for %s", tt.method)
			}
			if got := NewExtractor("en", o).Extract(text, nil, 2); !slices.Equal(got, tt.want) {
				t.Errorf("Extract = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPick checks how each method treats phrases that repeat one ranked
// above them.
func TestPick(t *testing.T) {
	sr, _ := MethodOptions(MethodSingleRank)
	tf, _ := MethodOptions(MethodTFIDF)
	kw := func(ps ...string) []Keyword {
		var out []Keyword
		for i, p := range ps {
			out = append(out, Keyword{Phrase: p, Score: float64(len(ps) - i)})
		}
		return out
	}
	tests := []struct {
		name   string
		opts   Options
		ranked []Keyword
		max    int
		want   []string
	}{
		{"singlerank keeps a phrase inside a longer one", sr, kw("neural network training", "neural network", "data"), 3,
			[]string{"neural network training", "neural network", "data"}},
		{"singlerank stops at max", sr, kw("a b", "c", "d"), 2, []string{"a b", "c"}},
		{"tfidf leaves out a phrase around a taken one", tf, kw("obama", "barack obama", "senate", "vote"), 3,
			[]string{"obama", "senate", "vote"}},
		{"tfidf fills max with them when the text has too few phrases", tf, kw("obama", "barack obama", "senate", "obama visit"), 4,
			[]string{"obama", "senate", "barack obama", "obama visit"}},
		{"tfidf keeps a phrase inside a taken one", tf, kw("barack obama", "obama"), 2, []string{"barack obama", "obama"}},
		{"tfidf matches whole words only", tf, kw("art", "smart card", "museum"), 2, []string{"art", "smart card"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := phrases(NewExtractor("en", tt.opts).pick(tt.ranked, tt.max))
			if !slices.Equal(got, tt.want) {
				t.Errorf("pick = %q, want %q", got, tt.want)
			}
		})
	}
}

// countDF is a fixed table of document frequencies.
type countDF map[string]int

func (c countDF) Docs() int          { return c[""] }
func (c countDF) Count(s string) int { return c[s] }

func TestExtractIDF(t *testing.T) {
	sr, _ := MethodOptions(MethodSingleRank)
	x := NewExtractor("en", sr)
	text := "Order delivery problem. Order delivery again, order delivery late: the lantern glass is cracked."
	without := phrases(x.Extract(text, nil, 1))
	// In a shop's mailbox every mail speaks of orders and delivery.
	df := countDF{"": 1000, x.Stem("order"): 900, x.Stem("delivery"): 900}
	with := phrases(x.Extract(text, df, 1))
	if !strings.Contains(without[0], "delivery") || strings.Contains(with[0], "delivery") {
		t.Errorf("top phrase without DF %q, with DF %q: common words should lose", without, with)
	}
}

func TestGermanStem(t *testing.T) {
	for _, w := range [][2]string{{"bestellung", "bestellungen"}, {"paket", "pakete"}, {"größe", "größen"}} {
		if germanStem(w[0]) != germanStem(w[1]) {
			t.Errorf("%s -> %s but %s -> %s", w[0], germanStem(w[0]), w[1], germanStem(w[1]))
		}
	}
}

func sample(t *testing.T, name string) *analyzers.Message {
	t.Helper()
	raw, err := os.ReadFile("../../examples/mail/" + name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := analyzers.Parse(raw, analyzers.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func analyze(t *testing.T, a *Analyzer, m *analyzers.Message) Data {
	t.Helper()
	r, err := analyzers.Run(context.Background(), a, m)
	if err != nil || r.Status != analyzers.StatusOK || r.Verdict != analyzers.VerdictClean || len(r.Symbols) != 0 {
		t.Fatalf("result %+v, %v", r, err)
	}
	var d Data
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAnalyzeSamples(t *testing.T) {
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, lang string
		want       string
		notWant    string
	}{
		{"02-plain-refund-angry.eml", "en", "summit shell jacket", ""},
		{"35-reply-thread-quoted.eml", "en", "hip belt pocket zipper", "parcel"},
		{"12-german-latin1-qp.eml", "de", "rückerstattung", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := analyze(t, a, sample(t, tt.file))
			got := phrases(d.Keywords)
			if d.Language != tt.lang || !slices.Contains(got, tt.want) || (tt.notWant != "" && slices.Contains(got, tt.notWant)) {
				t.Errorf("language %s, keywords %q; want %s with %q", d.Language, got, tt.lang, tt.want)
			}
			if len(got) > 10 || d.Text.Chars == 0 || d.DFDocs != 0 {
				t.Errorf("data %+v", d)
			}
		})
	}
	d := analyze(t, a, &analyzers.Message{})
	if d.Keywords == nil || len(d.Keywords) != 0 || d.Text.Source != "none" {
		t.Errorf("empty message: %+v", d)
	}
}

// TestDocumentFrequencies checks that two analyzers sharing a state (two
// workers sharing a bucket) learn one table per mailbox, that counts merge
// under concurrent writers, and that old mail fades.
func TestDocumentFrequencies(t *testing.T) {
	ctx := context.Background()
	st := analyzers.NewMemoryState()
	cfg := DefaultConfig()
	cfg.Sync = time.Nanosecond // merge on every message
	cfg.MaxDocs = 10
	w1, _ := New(cfg)
	w2, _ := New(cfg)
	for _, w := range []*Analyzer{w1, w2} {
		if err := w.Attach(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	m := sample(t, "01-plain-order-question.eml")
	m.Mailbox = "support"
	for i := range 6 {
		w := w1
		if i%2 == 1 {
			w = w2
		}
		d := analyze(t, w, m)
		if i > 0 && d.DFDocs == 0 {
			t.Errorf("message %d: no document frequencies", i)
		}
	}
	kv, _ := st.Bucket(ctx, "keywords", 0)
	b, _, err := kv.Get(ctx, "df.support")
	if err != nil {
		t.Fatal(err)
	}
	var tab dfTable
	if err := json.Unmarshal(b, &tab); err != nil || tab.Docs != 6 || tab.Terms[w1.ex["en"].Stem("backpack")] != 6 {
		t.Fatalf("table docs %d backpack %d (%v)", tab.Docs, tab.Terms["backpack"], err)
	}
	for range 6 {
		analyze(t, w1, m)
	}
	b, _, _ = kv.Get(ctx, "df.support")
	_ = json.Unmarshal(b, &tab)
	if tab.Docs > 10 || tab.Docs < 5 {
		t.Errorf("after 12 messages with max_docs 10: docs = %d, want halved to at most 10", tab.Docs)
	}
	if _, _, err := kv.Get(ctx, "df.default"); !errors.Is(err, analyzers.ErrNotFound) {
		t.Errorf("another mailbox's table was written: %v", err)
	}
}

// brokenState hands out a bucket whose every operation fails.
type brokenState struct{}

func (brokenState) Bucket(context.Context, string, time.Duration) (analyzers.KV, error) {
	return brokenKV{}, nil
}

type brokenKV struct{}

var errDown = errors.New("nats: connection closed")

func (brokenKV) Get(context.Context, string) ([]byte, uint64, error)    { return nil, 0, errDown }
func (brokenKV) Put(context.Context, string, []byte) (uint64, error)    { return 0, errDown }
func (brokenKV) Create(context.Context, string, []byte) (uint64, error) { return 0, errDown }
func (brokenKV) Update(context.Context, string, []byte, uint64) (uint64, error) {
	return 0, errDown
}
func (brokenKV) Delete(context.Context, string) error { return errDown }

func TestBucketDown(t *testing.T) {
	a, _ := New(DefaultConfig())
	if err := a.Attach(context.Background(), brokenState{}); err != nil {
		t.Fatal(err)
	}
	d := analyze(t, a, sample(t, "02-plain-refund-angry.eml"))
	if len(d.Keywords) == 0 || d.DFDocs != 0 {
		t.Errorf("with the bucket down: %+v", d)
	}
}

func TestMethodsAccepted(t *testing.T) {
	for _, m := range Methods {
		c := DefaultConfig()
		c.Method = m
		if _, err := New(c); err != nil {
			t.Errorf("method %s: %v", m, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, f := range []func(*Config){
		func(c *Config) { c.Method = "yake" },
		func(c *Config) { c.Max = 0 },
		func(c *Config) { c.MaxDocs = 1 },
		func(c *Config) { c.Languages = []string{"xx"} },
	} {
		c := DefaultConfig()
		f(&c)
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	a, _ := New(DefaultConfig())
	_ = a.Attach(context.Background(), analyzers.NewMemoryState())
	m := supportMail(b)
	b.SetBytes(int64(len(m.Text)))
	for b.Loop() {
		// A new Message each time: the extraction and the language it
		// remembers would otherwise be counted once.
		m := &analyzers.Message{Text: m.Text, Header: m.Header, Mailbox: m.Mailbox}
		if _, err := a.Analyze(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// supportMail is a typical 5 KB support mail: a complaint of a few
// paragraphs above the quoted thread.
func supportMail(b *testing.B) *analyzers.Message {
	body := strings.Repeat("Hello, I ordered the Ridgeline 45L backpack three weeks ago (order BL-104233) and it still has not arrived. "+
		"The tracking page shows no update since last Monday and nobody answers the phone. I am really disappointed, "+
		"because I need the backpack for a trip next week. Please send it today or refund my money.\n\n", 12)
	body += "On Tue, 3 Nov 2026 at 10:02, Brightlane Support <support@brightlane.example> wrote:\n" + strings.Repeat("> Thank you for your order, it will ship soon.\n", 30)
	if len(body) < 5000 {
		b.Fatalf("mail is %d bytes", len(body))
	}
	return &analyzers.Message{Text: body, Header: analyzers.Header{Subject: "Where is my backpack?"}, Mailbox: "support"}
}

// TestTableSize checks a mailbox's table stays small enough to be one NATS
// message, whatever max_terms says.
func TestTableSize(t *testing.T) {
	ctx := context.Background()
	kv, _ := analyzers.NewMemoryState().Bucket(ctx, "keywords", 0)
	s := &dfStore{kv: kv, maxDocs: 1 << 30, maxTerms: 1 << 30, every: time.Hour, now: time.Now, tables: map[string]*dfEntry{}}
	pending := map[string]int{}
	for i := range 60000 {
		pending[fmt.Sprintf("stem-number-%06d", i)] = 1 + i%7
	}
	if _, err := s.merge(ctx, dfKey("big"), pending, 100); err != nil {
		t.Fatal(err)
	}
	b, _, err := kv.Get(ctx, dfKey("big"))
	if err != nil || len(b) > maxTableBytes {
		t.Fatalf("table of %d bytes (%v), want at most %d", len(b), err, maxTableBytes)
	}
	var tab dfTable
	if err := json.Unmarshal(b, &tab); err != nil || tab.Docs != 100 || tab.Terms["stem-number-000006"] != 7 {
		t.Errorf("the commonest stems should stay: docs %d, count %d (%v)", tab.Docs, tab.Terms["stem-number-000006"], err)
	}
}

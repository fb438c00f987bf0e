// Package keywords is the analyzer that names what a mail is about: up to
// N key phrases of the sender's own words, unsupervised and offline, with
// stopwords and stemming for English, German, French and Spanish. Words
// are weighted by how rare they are in the mailbox's recent mail, counted
// in a shared bucket, so "order" and "delivery" do not top every mail of a
// shop's support desk. The phrases also go into the report's artifacts.
package keywords

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/language"
	"github.com/mailsift/mailsift/analyzers/text"
)

// Name is the analyzer's name in configs and reports.
const Name = "keywords"

// Config is the analyzer's section of the config file.
type Config struct {
	// Max is how many phrases are reported.
	Max int `yaml:"max"`
	// Method is singlerank (default; whole phrases, best on short text),
	// tfidf (phrases of up to three words; best on long text) or news
	// (tfidf with short everyday words weighed down; best on news stories).
	Method string `yaml:"method"`
	// Subject reads the subject line with the body.
	Subject bool `yaml:"subject"`
	// Languages restricts language detection, as the language analyzer's
	// option of the same name.
	Languages []string `yaml:"languages"`
	// LearnDF counts each message's words into the mailbox's document
	// frequencies (bucket "keywords"), which weigh words by rarity.
	LearnDF bool `yaml:"learn_df"`
	// MaxDocs is how many messages the frequencies remember; past it,
	// older counts fade by halving.
	MaxDocs int `yaml:"max_docs"`
	// MaxTerms bounds the stems kept per mailbox; the rarest go first.
	MaxTerms int `yaml:"max_terms"`
	// Sync is how often a process merges its counts into the bucket and
	// reads the others' back.
	Sync time.Duration `yaml:"sync"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{Max: 10, Method: MethodSingleRank, Subject: true, LearnDF: true, MaxDocs: 5000, MaxTerms: 20000, Sync: 30 * time.Second}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name: Name,
		Doc:  "key phrases of the sender's own words, weighted by rarity in the mailbox's recent mail",
		New: func(opts analyzers.Options) (analyzers.Analyzer, error) {
			cfg := DefaultConfig()
			if opts != nil {
				if err := opts.Decode(&cfg); err != nil {
					return nil, err
				}
			}
			return New(cfg)
		},
	})
}

// Analyzer extracts key phrases. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	ex     map[string]*Extractor
	detect *language.Detector
	df     *dfStore
}

// New builds the analyzer. Without Attach it weighs words by the message
// alone.
func New(cfg Config) (*Analyzer, error) {
	opts, ok := MethodOptions(cfg.Method)
	if !ok {
		return nil, fmt.Errorf("method: %q is not one of %s", cfg.Method, strings.Join(Methods, ", "))
	}
	if cfg.Max < 1 || cfg.Max > 100 {
		return nil, fmt.Errorf("max: %d is not between 1 and 100", cfg.Max)
	}
	if cfg.LearnDF && (cfg.MaxDocs < 10 || cfg.MaxTerms < 100 || cfg.Sync <= 0) {
		return nil, fmt.Errorf("max_docs must be at least 10, max_terms at least 100 and sync positive")
	}
	d, err := language.NewDetector(cfg.Languages...)
	if err != nil {
		return nil, fmt.Errorf("languages: %w", err)
	}
	a := &Analyzer{cfg: cfg, ex: map[string]*Extractor{}, detect: d}
	for _, l := range Languages {
		a.ex[l] = NewExtractor(l, opts)
	}
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// Attach opens the bucket of document frequencies.
func (a *Analyzer) Attach(ctx context.Context, s analyzers.State) error {
	if !a.cfg.LearnDF {
		return nil
	}
	kv, err := s.Bucket(ctx, "keywords", 0)
	if err != nil {
		return fmt.Errorf("bucket keywords: %w", err)
	}
	a.df = &dfStore{kv: kv, maxDocs: a.cfg.MaxDocs, maxTerms: a.cfg.MaxTerms, every: a.cfg.Sync, now: time.Now, tables: map[string]*dfEntry{}}
	return nil
}

// Data is what the analyzer reports in a result's data.
type Data struct {
	Keywords []Keyword `json:"keywords"`
	Language string    `json:"language,omitempty"`
	// DFDocs is how many recent messages of the mailbox weighed the words;
	// 0 when none did.
	DFDocs int          `json:"df_docs"`
	Text   text.Summary `json:"text"`
}

// Analyze never fails for want of the frequencies: if the bucket cannot be
// read, words are weighed by the message alone and the result says so
// (df_docs 0).
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	e := text.FromMessage(m)
	body := e.Text
	if a.cfg.Subject && m.Header.Subject != "" {
		body = m.Header.Subject + ".\n" + body
	}
	det := a.detect.Message(m)
	x := a.ex[det.Language]
	if x == nil {
		x = a.ex["en"]
	}
	d := Data{Keywords: []Keyword{}, Language: det.Language, Text: e.Summary()}
	var df DF
	if a.df != nil {
		v, err := a.df.view(ctx, m.Mailbox)
		if err != nil {
			slog.Warn("keywords: document frequencies unavailable", "mailbox", m.Mailbox, "err", err)
		} else {
			df = v
			d.DFDocs = v.Docs()
		}
	}
	toks := x.tokenize(body)
	if kw := x.extract(toks, df, a.cfg.Max); kw != nil {
		d.Keywords = kw
	}
	if a.df != nil {
		if err := a.df.add(ctx, m.Mailbox, stemsOf(toks)); err != nil {
			slog.Warn("keywords: counting document frequencies", "mailbox", m.Mailbox, "err", err)
		}
	}
	r := analyzers.Result{Verdict: analyzers.VerdictClean}
	err := r.SetData(d)
	return r, err
}

package language

import (
	"context"
	"fmt"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/text"
)

// Name is the analyzer's name in configs and reports.
const Name = "language"

// Config is the analyzer's section of the config file.
type Config struct {
	// Languages restricts detection to these ISO 639-1 codes; empty means
	// every supported language.
	Languages []string `yaml:"languages"`
	// MinConfidence below which the analyzer says it cannot tell rather
	// than name a language.
	MinConfidence float64 `yaml:"min_confidence"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{MinConfidence: 0.5}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name: Name,
		Doc:  "the language of the sender's own words, offline",
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

// Analyzer reports the language of a message. It is safe for concurrent
// use.
type Analyzer struct {
	cfg Config
	d   *Detector
}

// New builds the analyzer.
func New(cfg Config) (*Analyzer, error) {
	if cfg.MinConfidence < 0 || cfg.MinConfidence > 1 {
		return nil, fmt.Errorf("min_confidence: %v is not between 0 and 1", cfg.MinConfidence)
	}
	d, err := NewDetector(cfg.Languages...)
	if err != nil {
		return nil, fmt.Errorf("languages: %w", err)
	}
	return &Analyzer{cfg: cfg, d: d}, nil
}

func (a *Analyzer) Name() string { return Name }

// Data is what the analyzer reports in a result's data.
type Data struct {
	Detection
	Text text.Summary `json:"text"`
}

// Analyze never fails: a text too short or in an unknown script gives an
// empty language with the reason.
// The detection and the text it reads are shared with the other analyzers
// of the process that ask for them (see Detector.Message).
func (a *Analyzer) Analyze(_ context.Context, m *analyzers.Message) (analyzers.Result, error) {
	d := a.judge(a.d.Message(m))
	r := analyzers.Result{Verdict: analyzers.VerdictClean}
	err := r.SetData(Data{Detection: d, Text: text.FromMessage(m).Summary()})
	return r, err
}

// Detect is the analyzer's judgement of text, min_confidence applied.
func (a *Analyzer) Detect(s string) Detection {
	return a.judge(a.d.Detect(s))
}

func (a *Analyzer) judge(d Detection) Detection {
	if d.Language != "" && d.Confidence < a.cfg.MinConfidence {
		alt := append([]Candidate{{d.Language, d.Confidence}}, d.Alternatives...)
		return Detection{Script: d.Script, Reason: ReasonClose, Alternatives: alt}
	}
	return d
}

// Package sentiment is the analyzer that reads how a sender feels: a score
// from -1 (angry) to 1 (happy), a label, and the sentences that drove it,
// so support teams see angry mail first. It reads only the sender's own
// words (analyzers/text). The backend is the offline local model (VADER's
// rules with mailsift's support vocabulary and German, French and Spanish
// lexicons) unless the config names Google Cloud Natural Language or IBM
// Watson Natural Language Understanding.
package sentiment

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/analyzers/language"
	"github.com/mailsift/mailsift/analyzers/text"
)

// Name is the analyzer's name in configs and reports.
const Name = "sentiment"

// Backends.
const (
	BackendLocal  = "local"
	BackendGoogle = "google"
	BackendWatson = "watson"
)

// Local models.
const (
	ModelLearned = "learned"
	ModelRules   = "rules"
)

// Symbols.
const (
	Negative = "SENTIMENT_NEGATIVE"
	Positive = "SENTIMENT_POSITIVE"
)

// defaultScores make angry mail visible in a report's top labels without
// moving its verdict: sentiment says nothing about safety, and a score that
// could reach the suspicious threshold would bury real warnings.
var defaultScores = map[string]float64{
	Negative: 0.5,
	Positive: 0,
}

// Config is the analyzer's section of the config file.
type Config struct {
	// Backend is local, google or watson.
	Backend string `yaml:"backend"`
	// Model is the local backend's scoring of English: learned (the
	// learned layer over the rules' readings) or rules (the rules' score
	// alone). Other languages are always scored by the rules.
	Model string `yaml:"model"`
	// Negative and Positive are the score magnitudes at which a message is
	// labelled negative (score <= -Negative) or positive (score >=
	// Positive); between them it is neutral.
	Negative float64 `yaml:"negative"`
	Positive float64 `yaml:"positive"`
	// Sentences is how many of the sentences that drove the score are
	// reported.
	Sentences int `yaml:"sentences"`
	// Languages restricts language detection (local backend), as the
	// language analyzer's option of the same name.
	Languages []string `yaml:"languages"`
	// Subject scores the subject line with the body: "REFUND NOW" says as
	// much as the body does.
	Subject bool `yaml:"subject"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
	Google GoogleConfig       `yaml:"google"`
	Watson WatsonConfig       `yaml:"watson"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		Backend:   BackendLocal,
		Model:     ModelLearned,
		Negative:  0.3,
		Positive:  0.3,
		Sentences: 3,
		Subject:   true,
		Google:    defaultGoogle(),
		Watson:    defaultWatson(),
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name: Name,
		Doc:  "how the sender feels (-1..1), offline by default, Google or Watson when configured",
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

// reading is what a backend says about a text.
type reading struct {
	Score     float64
	Magnitude *float64
	Language  string
	Sentences []Sentence
	Emotion   map[string]float64
	// Unsupported says why the backend could not score the text's
	// language; the label is then unknown.
	Unsupported string
}

// backend scores a text. A returned error is worth retrying (network,
// outage); failures that retrying cannot fix come back as a *failure.
type backend interface {
	read(ctx context.Context, text, lang string) (reading, error)
	close() error
}

// failure is a backend's answer that is final for this message: wrong
// credentials (StatusError) or a spent quota (StatusDeferred).
type failure struct {
	status analyzers.Status
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// Analyzer scores a message's sentiment. It is safe for concurrent use.
type Analyzer struct {
	cfg    Config
	scores map[string]float64
	b      backend
	local  *Local
	detect *language.Detector
}

// New builds the analyzer and its backend.
func New(cfg Config) (*Analyzer, error) {
	scores := maps.Clone(defaultScores)
	for k, v := range cfg.Scores {
		if _, ok := scores[k]; !ok {
			return nil, fmt.Errorf("scores: unknown symbol %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(defaultScores)), ", "))
		}
		scores[k] = v
	}
	if cfg.Negative < 0 || cfg.Negative > 1 || cfg.Positive < 0 || cfg.Positive > 1 {
		return nil, fmt.Errorf("negative and positive must be between 0 and 1")
	}
	d, err := language.NewDetector(cfg.Languages...)
	if err != nil {
		return nil, fmt.Errorf("languages: %w", err)
	}
	a := &Analyzer{cfg: cfg, scores: scores, detect: d}
	switch cfg.Backend {
	case BackendLocal, "":
		if cfg.Model != "" && cfg.Model != ModelLearned && cfg.Model != ModelRules {
			return nil, fmt.Errorf("model: %q is not one of learned, rules", cfg.Model)
		}
		a.local = NewLocal(LocalOptions{Additions: true, Learned: cfg.Model != ModelRules})
		if err := a.local.Err(); err != nil {
			return nil, fmt.Errorf("model %s: %w", ModelLearned, err)
		}
		a.b = localBackend{a.local}
	case BackendGoogle:
		a.b, err = newGoogle(context.Background(), cfg.Google)
	case BackendWatson:
		a.b, err = newWatson(cfg.Watson)
	default:
		return nil, fmt.Errorf("backend: %q is not one of local, google, watson", cfg.Backend)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", cfg.Backend, err)
	}
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// Close releases the backend's connections.
func (a *Analyzer) Close() error { return a.b.close() }

// Data is what the analyzer reports in a result's data.
type Data struct {
	Score     float64  `json:"score"`
	Label     string   `json:"label"`
	Backend   string   `json:"backend"`
	Language  string   `json:"language,omitempty"`
	Magnitude *float64 `json:"magnitude,omitempty"`
	// Sentences are those that drove the score: the most negative first
	// for a negative message, the most positive first for a positive one.
	Sentences []Sentence         `json:"sentences,omitempty"`
	Emotion   map[string]float64 `json:"emotion,omitempty"`
	Reason    string             `json:"reason,omitempty"`
	Text      text.Summary       `json:"text"`
}

// Analyze scores the sender's words. A cloud backend's network failure is
// returned as an error so the pipeline retries; rejected credentials and a
// spent quota are results with those statuses, never a neutral score.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	e := text.FromMessage(m)
	body := e.Text
	if a.cfg.Subject {
		if s := subjectText(m.Header.Subject); s != "" {
			body = s + "\n\n" + body
		}
	}
	backendName := a.cfg.Backend
	if backendName == "" {
		backendName = BackendLocal
	}
	d := Data{Backend: backendName, Text: e.Summary(), Label: LabelNeutral}
	if strings.TrimSpace(body) == "" {
		d.Label, d.Reason = LabelUnknown, "no text"
		return a.result(d)
	}
	lang := ""
	if a.local != nil {
		det := a.detect.Message(m)
		lang = det.Language
		d.Language = lang
		if lang == "" || !a.local.Has(lang) && det.Confidence < 0.9 && det.Script == "Latin" {
			// Too short to tell, or a guess at a language without a
			// lexicon from a few words of Latin script (log lines,
			// product codes): most mail a desk gets is in English.
			lang = "en"
			d.Language = ""
		}
	}
	rd, err := a.b.read(ctx, body, lang)
	if err != nil {
		if f, ok := err.(*failure); ok {
			return analyzers.Failed(Name, f.status, fmt.Errorf("sentiment %s: %w", backendName, f.err)), nil
		}
		return analyzers.Result{}, fmt.Errorf("sentiment %s: %w", backendName, err)
	}
	if rd.Language != "" {
		d.Language = rd.Language
	}
	if rd.Unsupported != "" {
		d.Label, d.Reason = LabelUnknown, rd.Unsupported
		return a.result(d)
	}
	d.Score = rd.Score
	d.Magnitude = rd.Magnitude
	d.Emotion = rd.Emotion
	d.Label = label(rd.Score, a.cfg.Negative, a.cfg.Positive)
	d.Sentences = drivers(rd.Sentences, d.Label, a.cfg.Sentences)
	return a.result(d)
}

func (a *Analyzer) result(d Data) (analyzers.Result, error) {
	r := analyzers.Result{Verdict: analyzers.VerdictClean}
	opt := strconv.FormatFloat(d.Score, 'f', 2, 64)
	switch d.Label {
	case LabelNegative:
		r.Add(Negative, a.scores[Negative], opt)
	case LabelPositive:
		r.Add(Positive, a.scores[Positive], opt)
	}
	err := r.SetData(d)
	return r, err
}

// subjectText is a subject without the reply and forward prefixes mail
// clients add in each language.
func subjectText(s string) string {
	for {
		t := strings.TrimSpace(s)
		i := strings.IndexByte(t, ':')
		if i <= 0 || i > 4 {
			return t
		}
		switch strings.ToLower(t[:i]) {
		case "re", "fw", "fwd", "aw", "wg", "tr", "rv", "sv", "vs", "r", "enc":
			s = t[i+1:]
		default:
			return t
		}
	}
}

// drivers picks the sentences that drove a label: the strongest in its
// direction, at most n.
func drivers(ss []Sentence, lbl string, n int) []Sentence {
	var out []Sentence
	for _, s := range ss {
		if lbl == LabelNegative && s.Score < 0 || lbl == LabelPositive && s.Score > 0 || lbl == LabelNeutral && s.Score != 0 {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Sentence) int {
		x, y := a.Score, b.Score
		if lbl == LabelPositive {
			x, y = -x, -y
		} else if lbl == LabelNeutral {
			x, y = -math.Abs(x), -math.Abs(y)
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

type localBackend struct{ l *Local }

func (b localBackend) read(_ context.Context, s, lang string) (reading, error) {
	if !b.l.Has(lang) {
		return reading{Language: lang, Unsupported: "no lexicon for language " + lang + " (local has " + strings.Join(Languages, ", ") + ")"}, nil
	}
	as := b.l.Assess(s, lang)
	return reading{Score: as.Score, Language: lang, Sentences: as.Sentences}, nil
}

func (localBackend) close() error { return nil }

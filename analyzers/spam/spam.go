// Package spam is the built-in analyzer that asks the spam engines a
// security team already runs, rspamd (its HTTP /checkv2 API) and Apache
// SpamAssassin (spamd's protocol), for their judgement of a message, and
// carries their score, action and rules into the report.
//
// An engine that cannot be reached or does not answer in time is an
// error the pipeline retries, and finally an error or timeout result:
// never, as spamc's "safe fallback" would have it, a clean one.
package spam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailsift/mailsift/analyzers"
	"github.com/mailsift/mailsift/config"
)

// Name is the analyzer's name in configs and reports.
const Name = "spam"

// Symbols.
const (
	RspamdReject   = "RSPAMD_REJECT"
	RspamdSpam     = "RSPAMD_SPAM"
	RspamdGreylist = "RSPAMD_GREYLIST"
	SASpam         = "SA_SPAM"
	SASpamHigh     = "SA_SPAM_HIGH"
)

// defaultScores follow the engines' own levels: what rspamd would reject,
// or SpamAssassin scores far past its threshold, is malicious at the
// default thresholds; what they would only mark is suspicious.
var defaultScores = map[string]float64{
	RspamdReject:   15,
	RspamdSpam:     6,
	RspamdGreylist: 2,
	SASpam:         6,
	SASpamHigh:     15,
}

// Config is the analyzer's section of the config file. At least one
// engine must be given.
type Config struct {
	Rspamd       RspamdConfig       `yaml:"rspamd"`
	SpamAssassin SpamAssassinConfig `yaml:"spamassassin"`
	// MaxSize is the largest message sent to the engines; a larger one
	// gets a skipped result, never a clean one.
	MaxSize config.ByteSize `yaml:"max_size"`
	// Rules is how many of an engine's rules, the heaviest first, are
	// named in the symbol's options (all are in data).
	Rules int `yaml:"rules"`
	// Suspicious and Malicious are the score thresholds of the verdict;
	// 0 turns a level off.
	Suspicious float64 `yaml:"suspicious"`
	Malicious  float64 `yaml:"malicious"`
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
}

// RspamdConfig points at an rspamd normal worker.
type RspamdConfig struct {
	// URL of the normal worker ("http://127.0.0.1:11333"); empty: rspamd
	// is not asked.
	URL string `yaml:"url"`
	// PasswordEnv or PasswordFile holds the password of a worker that
	// wants one (sent as the Password header).
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// SpamAssassinConfig points at a spamd.
type SpamAssassinConfig struct {
	// Address of spamd: "host:port" or "unix:///path/to/socket"; empty:
	// SpamAssassin is not asked.
	Address string `yaml:"address"`
	// User is the spamd user whose settings apply (the User header);
	// empty: spamd's default.
	User string `yaml:"user"`
	// HighScore is the SpamAssassin score at which SA_SPAM_HIGH replaces
	// SA_SPAM.
	HighScore float64 `yaml:"high_score"`
}

// DefaultConfig is the configuration of an analyzer with no options set.
func DefaultConfig() Config {
	return Config{
		MaxSize: 2 << 20, Rules: 8, Suspicious: 5, Malicious: 15,
		SpamAssassin: SpamAssassinConfig{HighScore: 15},
	}
}

func init() {
	analyzers.Register(analyzers.Registration{
		Name:     Name,
		Security: true,
		Network:  true,
		Doc:      "rspamd (/checkv2) and SpamAssassin (spamd): score, action and rules of the engines you run",
		New:      analyzers.Configured(DefaultConfig, func(c Config) (analyzers.Analyzer, error) { return New(c) }),
	})
}

// engine is one spam engine's client.
type engine interface {
	name() string
	check(ctx context.Context, raw []byte) (Verdict, error)
}

// Analyzer asks the configured engines. It is safe for concurrent use.
type Analyzer struct {
	cfg     Config
	scores  map[string]float64
	engines []engine
}

// New builds the analyzer.
func New(cfg Config) (*Analyzer, error) {
	scores, err := analyzers.ScoreTable(defaultScores, cfg.Scores)
	if err != nil {
		return nil, err
	}
	if cfg.MaxSize <= 0 || cfg.Rules < 0 {
		return nil, errors.New("max_size must be positive and rules not negative")
	}
	a := &Analyzer{cfg: cfg, scores: scores}
	if cfg.Rspamd.URL != "" {
		e, err := newRspamd(cfg.Rspamd)
		if err != nil {
			return nil, err
		}
		a.engines = append(a.engines, e)
	}
	if cfg.SpamAssassin.Address != "" {
		e, err := newSpamd(cfg.SpamAssassin)
		if err != nil {
			return nil, err
		}
		a.engines = append(a.engines, e)
	}
	if len(a.engines) == 0 {
		return nil, errors.New("no engine: give rspamd.url or spamassassin.address")
	}
	return a, nil
}

func (a *Analyzer) Name() string { return Name }

// Data is the analyzer's result data: each engine's answer.
type Data struct {
	Engines []Verdict `json:"engines"`
}

// Verdict is one engine's answer.
type Verdict struct {
	Engine string  `json:"engine"` // rspamd or spamassassin
	Score  float64 `json:"score"`
	// Required is the engine's threshold: rspamd's reject score,
	// SpamAssassin's required score.
	Required float64 `json:"required_score"`
	// Action is rspamd's action ("no action", "greylist", "add header",
	// "rewrite subject", "soft reject", "reject"); SpamAssassin has none.
	Action string `json:"action,omitempty"`
	// Spam is the engine's own yes or no: an action past greylist, or a
	// score at or past the required one.
	Spam  bool   `json:"spam"`
	Rules []Rule `json:"rules"`
	// Message is what rspamd would tell the sending server, if anything.
	Message    string `json:"message,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Rule is one rule or symbol of the engine that matched.
type Rule struct {
	Name        string   `json:"name"`
	Score       float64  `json:"score"`
	Description string   `json:"description,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// errGarbage marks an answer that is not the engine's protocol: a
// misconfiguration (another service on the port) that retrying will not
// mend.
var errGarbage = errors.New("not an answer of the engine")

// Analyze returns an error when an engine cannot be reached or does not
// answer before ctx ends; those may pass.
func (a *Analyzer) Analyze(ctx context.Context, m *analyzers.Message) (analyzers.Result, error) {
	if size := len(m.Raw); int64(size) > int64(a.cfg.MaxSize) {
		return analyzers.Failed(Name, analyzers.StatusSkipped,
			fmt.Errorf("message of %d bytes is over max_size %s; not sent to the spam engines", size, a.cfg.MaxSize)), nil
	}
	var r analyzers.Result
	var d Data
	for _, e := range a.engines {
		start := time.Now()
		v, err := e.check(ctx, m.Raw)
		if errors.Is(err, errGarbage) {
			return analyzers.Failed(Name, analyzers.StatusError, err), nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return analyzers.Result{}, fmt.Errorf("spam: %s: %w (%w)", e.name(), err, ctx.Err())
			}
			return analyzers.Result{}, fmt.Errorf("spam: %s: %w", e.name(), err)
		}
		v.DurationMS = time.Since(start).Milliseconds()
		slices.SortStableFunc(v.Rules, func(x, y Rule) int {
			switch ax, ay := abs(x.Score), abs(y.Score); {
			case ax > ay:
				return -1
			case ax < ay:
				return 1
			}
			return strings.Compare(x.Name, y.Name)
		})
		if sym := a.symbol(v); sym != "" {
			r.Add(sym, a.scores[sym], a.options(v)...)
		}
		d.Engines = append(d.Engines, v)
	}
	r.Verdict = analyzers.ScoreVerdict(r.Score, a.cfg.Suspicious, a.cfg.Malicious)
	if err := r.SetData(d); err != nil {
		return r, err
	}
	return r, nil
}

// symbol is the symbol an engine's answer earns, or "".
func (a *Analyzer) symbol(v Verdict) string {
	switch v.Engine {
	case engineRspamd:
		switch v.Action {
		case "reject":
			return RspamdReject
		case "soft reject", "rewrite subject", "add header":
			return RspamdSpam
		case "greylist":
			return RspamdGreylist
		}
	case engineSpamd:
		switch {
		case v.Spam && v.Score >= a.cfg.SpamAssassin.HighScore:
			return SASpamHigh
		case v.Spam:
			return SASpam
		}
	}
	return ""
}

// options are the engine's score and action and its heaviest rules.
func (a *Analyzer) options(v Verdict) []string {
	out := []string{fmt.Sprintf("score=%.2f/%.2f", v.Score, v.Required)}
	if v.Action != "" {
		out = append(out, "action="+v.Action)
	}
	for i, rule := range v.Rules {
		if i >= a.cfg.Rules {
			break
		}
		out = append(out, fmt.Sprintf("%s(%g)", rule.Name, rule.Score))
	}
	return out
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
